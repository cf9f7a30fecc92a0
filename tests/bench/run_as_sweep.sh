#!/usr/bin/env bash
# run_as_sweep.sh CPBENCH WORKDIR [MPIRUN...]: `cpbench run` is a sweep of one config and
# runs through the sweep's runner (issue 10), so it gains what that runner does.
# (1) The journal of a run killed after its first case resumes: that case is kept, not
#     re-run, the others run, the report holds each case once in plan order.
# (2) --resume under other flags is exit 2 naming what differs; --allow-new-cases adds.
# (3) --repeat N pools N repetitions into one case, as a sweep does; the stopping rule;
#     --mask-samples summarises seeds of a random mask.
# (4) Bad combinations are exit 2 with one line on stderr.
# (5) With MPIRUN: the same resume on 2 ranks.
set -uo pipefail
cpb=$1 work=$2
shift 2
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
export OMP_NUM_THREADS=1
fail() {
  echo "FAIL: $*"
  for f in out err; do [ -f $f ] && { echo "--- $f:"; head -c 3000 $f; }; done
  exit 1
}
# expect RC REGEX CMD...: exit status RC within 60 s, stdout+stderr matching REGEX.
expect() {
  local want=$1 regex=$2
  shift 2
  timeout 60 "$@" >out 2>err
  local rc=$?
  [ "$rc" -eq "$want" ] || fail "exit $rc, expected $want: $*"
  [ -z "$regex" ] || cat out err | grep -Eq -- "$regex" || fail "output does not match /$regex/: $*"
  if [ "$want" -eq 2 ]; then
    [ "$(grep -c '^cpbench' err)" -eq 1 ] || fail "expected one cpbench line on stderr: $*"
  fi
}
tiny=(--heads 2 --head-dim 16 --warmup 0 --iters 2)
three=(--mask full,causal,sliding_window --window 16 --seq 64 "${tiny[@]}")

# (1) Three cases; keep the header and the first case, as a run killed after it leaves.
expect 0 "^report: r.json \(journal r.json.jsonl\)" "$cpb" run "${three[@]}" --out r.json
[ "$(grep -c '' r.json.jsonl)" -eq 4 ] || fail "journal of 3 cases has $(grep -c '' r.json.jsonl) lines"
head -n 2 r.json.jsonl >k.jsonl
expect 0 "3 case\(s\) on 1 rank\(s\) .*, 1 already done \(resume\)" \
  "$cpb" run "${three[@]}" --out k.json --resume k.jsonl
[ "$(grep -c '^ok ' out)" -eq 2 ] || fail "resume ran $(grep -c '^ok ' out) cases, expected the 2 left"
"$cpb" validate k.json >/dev/null || fail "resumed report does not validate"
python3 - <<'PY' || fail "resumed report: cases not kept, missing or out of order"
import json
journal = [json.loads(l) for l in open("r.json.jsonl") if l.strip()]
report = json.load(open("k.json"))
ids = [c["id"] for c in report["cases"]]
assert ids == [c["id"] for c in journal[1:]], ids            # plan order, each once
assert report["cases"][0] == journal[1], "the finished case was re-run"
assert report["summary"]["cases"] == 3 and report["config"]["repeat"] == 1
PY
# Header, case, second header, the two cases run now.
[ "$(grep -c '' k.jsonl)" -eq 5 ] || fail "resumed journal has $(grep -c '' k.jsonl) lines, expected 5"
expect 0 "3 already done" "$cpb" run "${three[@]}" --out k.json --resume k.jsonl
grep -q '^ok ' out && fail "a resume of a finished run ran a case again"

# (2) Other flags: exit 2 naming the difference; added cases only with --allow-new-cases.
expect 2 "run.iterations: 2 -> 3" "$cpb" run --mask full,causal,sliding_window --window 16 \
  --seq 64 --heads 2 --head-dim 16 --warmup 0 --iters 3 --out x.json --resume k.jsonl
more=(--mask full,causal,sliding_window --window 16 --seq 64,128 "${tiny[@]}")
expect 2 "sweep.seqlen" "$cpb" run "${more[@]}" --out x.json --resume k.jsonl
expect 0 "6 case\(s\) .*3 already done" "$cpb" run "${more[@]}" --out more.json --resume k.jsonl \
  --allow-new-cases
[ "$(grep -c '^ok ' out)" -eq 3 ] || fail "--allow-new-cases ran $(grep -c '^ok ' out), expected 3"

# (3) --repeat 3: one case, three repetitions pooled (2 iterations each).
expect 0 "" "$cpb" run --mask causal --seq 64 "${tiny[@]}" --repeat 3 --out rep.json
"$cpb" validate rep.json >/dev/null || fail "repeated report does not validate"
python3 - <<'PY' || fail "--repeat 3 did not pool three repetitions"
import json
r = json.load(open("rep.json"))
(c,) = r["cases"]
st = c["metrics"]["step_seconds"]
assert c["params"]["repeat"] == 3 and len(c["metrics"]["repetitions"]) == 3, c["params"]
assert st["iterations"] == 6 and len(st["samples"]) == 6 and st["samples_kind"] == "iteration"
assert r["config"]["repeat"] == 3
PY
# The stopping rule: a CV no timing reaches runs to the --max-repeat cap.
expect 0 "" "$cpb" run --mask causal --seq 64 "${tiny[@]}" --max-cv 1e-12 --max-repeat 3 \
  --out rule.json
python3 -c 'import json; c = json.load(open("rule.json"))["cases"][0]
assert len(c["metrics"]["repetitions"]) == 3, c["params"]' || fail "--max-repeat 3 did not cap"
# Mask samples: two seeds of a random mask, two cases and their summary.
expect 0 "" "$cpb" run --mask causal_document --seq 128 "${tiny[@]}" --mask-samples 2 \
  --out samples.json
python3 -c 'import json; r = json.load(open("samples.json")); (g,) = r["mask_samples"]
assert len(r["cases"]) == 2 and g["samples"] == 2 and g["seeds"] == [0, 1], g' ||
  fail "--mask-samples 2 did not give two seeds and one summary"

# (4) Bad combinations.
expect 2 "--resume requires --out" "$cpb" run "${three[@]}" --resume k.jsonl
expect 2 "--allow-new-cases requires --resume" "$cpb" run "${three[@]}" --out y.json \
  --allow-new-cases
expect 2 "--journal requires --out" "$cpb" run "${three[@]}" --journal y.jsonl
expect 2 "--repeat" "$cpb" run "${three[@]}" --repeat 0
expect 2 "--max-repeat 2 must be >= --repeat 3" "$cpb" run "${three[@]}" --repeat 3 --max-repeat 2
expect 2 "--max-cv -1" "$cpb" run "${three[@]}" --max-cv -1
expect 2 "--mask-samples 2 is given, but no mask" "$cpb" run "${three[@]}" --mask-samples 2
expect 2 "missing.jsonl" "$cpb" run "${three[@]}" --out y.json --resume missing.jsonl
expect 2 "same file as the journal" "$cpb" run "${three[@]}" --out j.json --journal j.json
expect 2 "same file as the (--resume )?journal" "$cpb" run "${three[@]}" --out k.jsonl \
  --resume k.jsonl
expect 2 "is not a cpbench journal" "$cpb" run "${three[@]}" --out y.json --resume r.json
[ -e y.json ] && fail "a refused run wrote its report"

# (5) Under mpirun: two ranks resume the same way.
if [ $# -gt 0 ]; then
  ring=(--method ring_p2p --mask full,causal --seq 64 "${tiny[@]}")
  expect 0 "" "$@" -np 2 "$cpb" run "${ring[@]}" --out m.json
  head -n 2 m.json.jsonl >mk.jsonl
  expect 0 "2 case\(s\) on 2 rank\(s\) .*1 already done" "$@" -np 2 "$cpb" run "${ring[@]}" \
    --out mk.json --resume mk.jsonl
  [ "$(grep -c '^ok ' out)" -eq 1 ] || fail "2-rank resume ran $(grep -c '^ok ' out), expected 1"
  "$cpb" validate mk.json >/dev/null || fail "2-rank resumed report does not validate"
fi
echo "ok: run resumed, refused other flags, added cases, pooled --repeat, refused bad combinations"
