"""Oracle runner (not part of the project): reads JSONL records {"id","text"} on stdin and prints
{"id","flagged","rules"} per record, from Yelp's detect-secrets with its default plugins and
filters, as `detect-secrets scan` would report the text saved as a file (input.txt). Run with the
interpreter of target/secrets-oracle/venv (scripts/secrets/ensure-oracles.sh)."""

import json
import os
import sys
import tempfile

from detect_secrets import SecretsCollection
from detect_secrets.settings import default_settings

with default_settings(), tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "input.txt")
    for line in sys.stdin:
        if not line.strip():
            continue
        rec = json.loads(line)
        with open(path, "w", encoding="utf-8") as f:
            f.write((rec.get("text") or "") + "\n")
        found = SecretsCollection(root=tmp)
        found.scan_file("input.txt")
        rules = sorted({s.type for _, s in found})
        print(json.dumps({"id": rec["id"], "flagged": bool(rules), "rules": rules}))
