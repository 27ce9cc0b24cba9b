#!/usr/bin/env python3
"""What fires on benign text: runs `llmfw scan` over a JSONL of records with shape/lang and counts,
per shape/lang group, the records that are positive (require_approval/block) and, per rule id,
how often each rule is among a positive's findings.

usage: fires.py BENIGN.jsonl AS(prompt|tool_result) [--shapes a,b] [--examples N]
"""
import collections, json, os, subprocess, sys, tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))

def main():
    src, how = sys.argv[1], sys.argv[2]
    shapes = None
    ex = 0
    args = sys.argv[3:]
    while args:
        a = args.pop(0)
        if a == "--shapes":
            shapes = set(args.pop(0).split(","))
        elif a == "--examples":
            ex = int(args.pop(0))
    recs = {}
    with open(src, encoding="utf-8") as f, tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as t:
        for line in f:
            r = json.loads(line)
            if shapes and r["shape"] not in shapes:
                continue
            recs[r["id"]] = r
            t.write(json.dumps({"id": r["id"], "text": r["text"]}, ensure_ascii=False) + "\n")
    out = subprocess.run([os.path.join(ROOT, "target/release/llmfw"), "scan", "--config",
                          os.path.join(ROOT, "tests/eval/policy.json"), "--input", t.name,
                          "--as", how, "--output", "-"], capture_output=True, text=True, check=True)
    os.unlink(t.name)
    n = collections.Counter(); pos = collections.Counter(); rules = collections.Counter()
    exs = collections.defaultdict(list)
    for line in out.stdout.splitlines():
        s = json.loads(line)
        r = recs[s["id"]]
        g = f'{r["shape"]}/{r["lang"]}'
        n[g] += 1; n[r["shape"]] += 1
        if s["action"] in ("require_approval", "block"):
            pos[g] += 1; pos[r["shape"]] += 1
            for fd in s["findings"]:
                rules[(fd["rule_id"], r["shape"], r["lang"])] += 1
                if len(exs[fd["rule_id"]]) < ex:
                    exs[fd["rule_id"]].append(r["text"][:300])
    print("| group | n | positive % |")
    for g in sorted(n):
        if "/" not in g or pos[g]:
            print(f"| {g} | {n[g]} | {100*pos[g]/n[g]:.2f} |")
    print("\nrule, shape, lang: count")
    for k, c in rules.most_common(60):
        print(k, c)
    for k, v in exs.items():
        print("\n##", k)
        for e in v:
            print("  -", e.replace("\n", " ")[:300])

main()
