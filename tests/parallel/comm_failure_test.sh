#!/bin/sh
# Runs a failing job under mpirun and checks that it stopped: non-zero exit, within
# max_seconds, with `expect` (a grep -E pattern) in its output.
# usage: comm_failure_test.sh <max_seconds> <expect> <mpirun> [mpirun flags...] -- <job> [args...]
max_seconds=$1; expect=$2; shift 2
start=$(date +%s)
out=$(timeout $((max_seconds + 30)) "$@" 2>&1)
rc=$?
elapsed=$(( $(date +%s) - start ))
printf '%s\n' "$out"
echo "exit code $rc after ${elapsed} s"
[ "$rc" -ne 0 ] || { echo "FAIL: the job exited 0"; exit 1; }
[ "$rc" -ne 124 ] || [ "$elapsed" -lt "$max_seconds" ] || { echo "FAIL: killed by timeout"; exit 1; }
[ "$elapsed" -le "$max_seconds" ] || { echo "FAIL: took ${elapsed} s > ${max_seconds} s"; exit 1; }
printf '%s\n' "$out" | grep -Eq -- "$expect" || { echo "FAIL: no line matching: $expect"; exit 1; }
echo "PASS"
