#!/usr/bin/env bash
# mpi_disk_full.sh CPBENCH WORKDIR MPIRUN... : a full disk under mpirun (a file-size
# limit on the cpbench processes only: mpirun's own PMIx store fails under one). Rank 0
# cannot append its journal line: every rank stops within seconds with exit 3 and one
# message (no rank waits in the next collective), the journal ends on a whole line, and
# a resume without the limit finishes with every case once.
set -uo pipefail
cpb=$1 work=$2
shift 2
d="$work/mpi_disk_full"
rm -rf "$d" && mkdir -p "$d" && cd "$d" || exit 1
fail() { echo "FAIL: $*"; cat log 2>/dev/null | tail -20; exit 1; }
cat >cfg.json <<'JSON'
{"name": "full", "method": ["ring_p2p"], "mask": ["causal", "full"], "seqlen": [64, 128],
 "heads": [2], "head_dim": [16], "world": [2], "iterations": 2, "warmup": 0}
JSON
start=$(date +%s)
timeout -s KILL 60 "$@" sh -c "trap '' XFSZ; ulimit -f 4; exec '$cpb' sweep cfg.json --out r.json" \
  >log 2>&1
rc=$?
took=$(($(date +%s) - start))
[ "$rc" -eq 3 ] || fail "exit $rc, expected 3"
[ "$took" -le 30 ] || fail "took ${took}s to stop"
[ "$(grep -c '^cpbench: write failed' log)" -eq 1 ] || fail "expected one write-failure line"
[ "$(tail -c 1 r.json.jsonl | od -An -c | tr -d ' ')" = '\n' ] || fail "journal ends in a torn line"
"$@" "$cpb" sweep cfg.json --out r.json --resume r.json.jsonl >log 2>&1 || fail "resume failed"
"$cpb" validate r.json >log 2>&1 || fail "resumed report does not validate"
n=$(grep -o '"id": "[^"]*"' r.json | sort -u | wc -l)
[ "$n" -eq 4 ] || fail "resumed report has $n distinct cases, expected 4"
echo "ok: disk full under mpirun: exit 3 in ${took}s, whole lines, resume finished 4 cases"
