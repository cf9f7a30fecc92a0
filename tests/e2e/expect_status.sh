#!/bin/sh
# expect_status.sh CPBENCH REPORT CODE STATUS CMD...: runs CMD (a cpbench run writing
# REPORT) and passes iff it exits with CODE, the report validates, and its summary
# counts at least one case of STATUS (e.g. oom: the case is recorded, not a crash).
cpbench="$1"; report="$2"; code="$3"; status="$4"; shift 4
rm -f "$report" "$report.jsonl"
"$@"
rc=$?
[ "$rc" -eq "$code" ] || { echo "FAIL: exit status $rc, expected $code"; exit 1; }
"$cpbench" validate "$report" || { echo "FAIL: $report does not validate"; exit 1; }
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d['summary'].get(sys.argv[2],0)>0 else 1)" \
  "$report" "$status" || { echo "FAIL: no case with status $status in $report"; exit 1; }
echo "ok: exit $rc, status $status recorded"
