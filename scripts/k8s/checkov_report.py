"""Summarises checkov's JSON report: every failed check is printed and fails the run; skipped
checks are listed with the reason written in the resource's checkov.io/skip annotation."""
import json
import sys

data = json.load(open(sys.argv[1]))
reports = data if isinstance(data, list) else [data]
failed, skipped, passed = [], [], 0
for report in reports:
    results = report.get("results", {})
    passed += report.get("summary", {}).get("passed", 0)
    failed += results.get("failed_checks", [])
    skipped += results.get("skipped_checks", [])
for c in skipped:
    reason = (c.get("check_result") or {}).get("suppress_comment", "")
    print(f"skipped {c['check_id']} {c['resource']}: {reason}")
for c in failed:
    print(f"FAILED  {c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}")
print(f"checkov: {passed} passed, {len(failed)} failed, {len(skipped)} skipped")
sys.exit(1 if failed or passed == 0 else 0)
