"""Checks what the schemas cannot: the rendered overlay does what docs/deploy.md says.
Usage: check_rendered.py RENDERED.yaml OVERLAY_DIR"""
import json
import re
import sys

import yaml

rendered, overlay = sys.argv[1], sys.argv[2]
docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
by = {}
for d in docs:
    by.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
errors = []


def check(cond, msg):
    if not cond:
        errors.append(msg)


def one(kind, name):
    obj = by.get(kind, {}).get(name)
    check(obj is not None, f"no {kind} {name}")
    return obj or {}


ns = one("Namespace", "llmfw")["metadata"]["name"] if by.get("Namespace") else "?"
for d in docs:
    if d["kind"] != "Namespace":
        check(d["metadata"].get("namespace") == ns, f"{d['kind']} {d['metadata']['name']} not in {ns}")

# The state service.
dep = one("Deployment", "llmfw-state")
pod = dep.get("spec", {}).get("template", {}).get("spec", {})
c = (pod.get("containers") or [{}])[0]
check(c.get("readinessProbe", {}).get("httpGet") == {"path": "/readyz", "port": "http-admin"}, "readiness on /readyz")
check(c.get("livenessProbe", {}).get("httpGet") == {"path": "/healthz", "port": "http-admin"}, "liveness on /healthz")
check({"name": "http-admin", "containerPort": 9090, "protocol": "TCP"} in c.get("ports", []), "admin port 9090")
check(pod.get("securityContext", {}).get("runAsNonRoot") is True, "runAsNonRoot")
check(c.get("securityContext", {}).get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem")
check(c.get("resources", {}).get("requests") and c.get("resources", {}).get("limits"), "resources")
check(len(pod.get("topologySpreadConstraints", [])) >= 1, "topology spread")
check("--no-migrate" in c.get("args", []), "serve --no-migrate (the Job migrates)")
env = {e["name"]: e for e in c.get("env", [])}
check(env.get("LLMFW_DATABASE_URL", {}).get("valueFrom", {}).get("secretKeyRef", {}).get("name", "").startswith("llmfw-state-db"),
      "database URL from the llmfw-state-db Secret")
cms = [v["configMap"]["name"] for v in pod.get("volumes", []) if "configMap" in v]
check(len(cms) == 1 and cms[0] in by.get("ConfigMap", {}), f"config volume names a rendered ConfigMap: {cms}")
if cms and cms[0] in by.get("ConfigMap", {}):
    json.loads(by["ConfigMap"][cms[0]]["data"]["state-config.json"])
svc = one("Service", "llmfw-state")
check({"name": "grpc", "port": 50051, "targetPort": "grpc", "appProtocol": "grpc"} in svc.get("spec", {}).get("ports", []),
      "Service port grpc 50051")
one("PodDisruptionBudget", "llmfw-state")
hpa = one("HorizontalPodAutoscaler", "llmfw-state")
check(hpa.get("spec", {}).get("scaleTargetRef", {}).get("name") == "llmfw-state", "HPA targets the Deployment")
job = one("Job", "llmfw-state-migrate")
jc = job.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [{}])[0]
check(jc.get("args") == ["migrate"] and jc.get("image") == c.get("image"), "migration Job runs `migrate` with the service image")
np = one("NetworkPolicy", "llmfw-state")
grpc_rule = [r for r in np.get("spec", {}).get("ingress", []) if {"port": 50051, "protocol": "TCP"} in r.get("ports", [])]
check(len(grpc_rule) == 1 and grpc_rule[0].get("from"), "gRPC ingress only from selected (mesh) namespaces")
dbc = one("NetworkPolicy", "llmfw-db-clients")
pg_rule = [r for r in dbc.get("spec", {}).get("egress", []) if {"port": 5432, "protocol": "TCP"} in r.get("ports", [])]
check(len(pg_rule) == 1 and pg_rule[0].get("to"), "PostgreSQL egress narrowed to a destination")

# Istio.
env_file = dict(l.split("=", 1) for l in open(f"{overlay}/wasm-module.env").read().splitlines()
                if l and not l.startswith("#"))
wp = one("WasmPlugin", "llmfw").get("spec", {})
plugin = json.load(open("envoy/examples/openai-sidecar/plugin.json"))
plugin["state_service"]["cluster"] = f"outbound|50051||llmfw-state.{ns}.svc.cluster.local"
check(wp.get("pluginConfig") == plugin, "WasmPlugin pluginConfig = the openai-sidecar example's plugin.json (+ Istio cluster)")
check(wp.get("url") == env_file.get("url") and wp.get("sha256") == env_file.get("sha256"), "WasmPlugin url/sha256 from wasm-module.env")
check(re.fullmatch(r"[0-9a-f]{64}", wp.get("sha256", "")) is not None, "sha256 is 64 hex digits")
check(wp.get("failStrategy") == "FAIL_CLOSE" and wp.get("phase"), "failStrategy and phase set")
dr = one("DestinationRule", "llmfw-state").get("spec", {})
check(dr.get("host") == f"llmfw-state.{ns}.svc.cluster.local", "DestinationRule host is the Service")
check("consistentHash" in dr.get("trafficPolicy", {}).get("loadBalancer", {}), "DestinationRule hashes consistently")
check("llmfw-wasm-module" not in str(list(by.get("ConfigMap", {}))), "local-config ConfigMap not rendered")

# The database.
if overlay.endswith("dev"):
    sts = one("StatefulSet", "llmfw-postgres")
    check(sts.get("spec", {}).get("volumeClaimTemplates"), "PostgreSQL keeps its data on a PVC")
    pnp = one("NetworkPolicy", "llmfw-postgres").get("spec", {})
    check(pnp.get("ingress") == [{"ports": [{"port": 5432, "protocol": "TCP"}],
                                  "from": [{"podSelector": {"matchLabels": {"llmfw.io/db-client": "true"}}}]}],
          "only the database clients reach PostgreSQL")
else:
    check("StatefulSet" not in by, "prod runs no database")
    check(not any(n.startswith("llmfw-state-db") for n in by.get("Secret", {})), "prod renders no database Secret")

for e in errors:
    print(f"{rendered}: {e}", file=sys.stderr)
print(f"{rendered}: {len(docs)} resources, {'OK' if not errors else f'{len(errors)} problem(s)'}")
sys.exit(1 if errors else 0)
