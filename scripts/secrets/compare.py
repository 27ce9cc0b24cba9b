#!/usr/bin/env python3
"""Runs our secret detector beside two maintained open scanners used as oracles (detect-secrets,
secretlint; scripts/secrets/ensure-oracles.sh installs them under target/secrets-oracle) on the
same texts, and prints per family: n, and the share each one flags.

A record counts as flagged by ours when `llmfw scan --as tool_args` reports a finding of family
`secret` (any severity, whatever the action); by an oracle when it reports any finding.

    scripts/secrets/ensure-oracles.sh && cargo build -p llmfw
    python3 scripts/secrets/compare.py                       # the three default inputs
    python3 scripts/secrets/compare.py FILE.jsonl ...        # others

Inputs are JSONL with "id" and "text"; the family is "family", else "category"; a record is a
secret when its "label" is "secret" or "malicious". Read only for scoring, never by a detector.
"""

import collections
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(ROOT, "..", "shared", "data", "corpora")
DEFAULT = [
    os.path.join(ROOT, "filter/core/testdata/secrets/generated.jsonl"),
    os.path.join(DATA, "secrets/secrets.jsonl"),
    os.path.join(DATA, "benign_high_entropy/strings.jsonl"),
]
ORACLE = os.path.join(ROOT, "target/secrets-oracle")


def run(cmd, records):
    feed = "".join(json.dumps({"id": r["id"], "text": r.get("text") or ""}) + "\n" for r in records)
    out = subprocess.run(cmd, input=feed, capture_output=True, text=True, check=True, cwd=ROOT)
    return {o["id"]: o for o in map(json.loads, filter(str.strip, out.stdout.splitlines()))}


def ours(records):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for r in records:
            f.write(json.dumps({"id": r["id"], "text": r.get("text") or ""}) + "\n")
        path = f.name
    try:
        out = subprocess.run(
            [os.path.join(ROOT, "target/debug/llmfw"), "scan", "--as", "tool_args", "--tool",
             "http_post", "--arg", "body", "--input", path],
            capture_output=True, text=True, check=True, cwd=ROOT)
    finally:
        os.unlink(path)
    got = {}
    for line in filter(str.strip, out.stdout.splitlines()):
        o = json.loads(line)
        rules = sorted({f["rule_id"] for f in o.get("findings", []) if f.get("family") == "secret"})
        got[o["id"]] = {"flagged": bool(rules), "rules": rules}
    return got


def main(paths):
    scanners = {
        "llmfw": ours,
        "detect-secrets": lambda rs: run([os.path.join(ORACLE, "venv/bin/python"),
                                          "scripts/secrets/detect-secrets-oracle.py"], rs),
        "secretlint": lambda rs: run(["node", "scripts/secrets/secretlint-oracle.mjs"], rs),
    }
    summary = {}
    for path in paths:
        records = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
        records = [r for r in records if "id" in r]
        results = {name: fn(records) for name, fn in scanners.items()}
        groups = collections.defaultdict(list)
        for r in records:
            secret = r.get("label") in ("secret", "malicious")
            family = r.get("family") or r.get("category") or "all"
            groups[(family, "secret" if secret else "benign")].append(r["id"])
        name = os.path.relpath(path, os.path.join(ROOT, ".."))
        print(f"\n{name}\n")
        print("| family | kind | n | " + " | ".join(f"{s} %" for s in scanners) + " |")
        print("|---|---|---:|" + "---:|" * len(scanners))
        for (family, kind), ids in sorted(groups.items()):
            rates = [100.0 * sum(results[s][i]["flagged"] for i in ids) / len(ids) for s in scanners]
            summary[f"{name}:{family}:{kind}"] = dict(zip(scanners, rates), n=len(ids))
            print(f"| {family} | {kind} | {len(ids)} | " + " | ".join(f"{x:.1f}" for x in rates) + " |")
        missed = [i for ids in (v for (f, k), v in groups.items() if k == "secret") for i in ids
                  if not results["llmfw"][i]["flagged"] and
                  (results["detect-secrets"][i]["flagged"] or results["secretlint"][i]["flagged"])]
        flagged_benign = [i for (f, k), ids in groups.items() if k == "benign" for i in ids
                          if results["llmfw"][i]["flagged"]]
        print(f"\nsecrets an oracle finds and llmfw misses: {len(missed)} {missed[:20]}")
        print(f"benign records llmfw flags: {len(flagged_benign)} {flagged_benign[:20]}")
    os.makedirs(ORACLE, exist_ok=True)
    with open(os.path.join(ORACLE, "report.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:] or DEFAULT)
