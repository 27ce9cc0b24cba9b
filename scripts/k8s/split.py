"""Splits a rendered multi-document manifest: Kubernetes resources into <dir>/core/NN-kind-name.yaml
(for kubernetes-validate), Istio resources into <dir>/istio.json. Any other API group is an error,
so nothing goes unvalidated."""
import json
import os
import sys

import yaml

CORE_GROUPS = {"", "apps", "batch", "policy", "autoscaling", "networking.k8s.io", "rbac.authorization.k8s.io"}

src, out = sys.argv[1], sys.argv[2]
os.makedirs(f"{out}/core", exist_ok=True)
istio = []
with open(src) as f:
    docs = [d for d in yaml.safe_load_all(f) if d]
for i, doc in enumerate(docs):
    api, kind, name = doc.get("apiVersion", ""), doc.get("kind", ""), doc["metadata"]["name"]
    group = api.rsplit("/", 1)[0] if "/" in api else ""
    if group.endswith(".istio.io"):
        istio.append(doc)
    elif group in CORE_GROUPS:
        with open(f"{out}/core/{i:02d}-{kind.lower()}-{name}.yaml", "w") as g:
            yaml.safe_dump(doc, g, sort_keys=False)
    else:
        sys.exit(f"{src}: {kind} {name}: API group {group!r} has no schema check here")
with open(f"{out}/istio.json", "w") as g:
    json.dump(istio, g)
print(f"{src}: {len(docs) - len(istio)} Kubernetes and {len(istio)} Istio resources")
