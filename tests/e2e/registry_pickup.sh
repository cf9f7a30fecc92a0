#!/usr/bin/env bash
# A CP method linked into cpbench from tests/ (tests/parallel/test_only_method.cc:
# test_echo, axes ulysses + ring) reaches every user-facing path through the
# registry alone, with no line of bench/ or reports/ naming it: `list` shows it,
# `run --dry-run` ids carry its declared layout tag, a sweep with no degrees
# enumerates its sweep_layouts and a degree rule picks one, keys it does not read
# are refused naming the methods that do, a real 2-rank run verifies against the
# reference, and merged reports label its cases by its layout.
# usage: registry_pickup.sh CPBENCH WORKDIR MPIRUN [MPIRUN ARGS...]
set -u
cli=$1 work=$2
shift 2
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
expect_out() {  # expect_out REGEX OUTPUT WHAT
  grep -Eq -- "$1" <<<"$2" || fail "$3: no line matches '$1' in:"$'\n'"$2"
}
rm -rf "$work" && mkdir -p "$work" || fail "cannot make $work"
small=(--seq 128 --heads 4 --head-dim 16 --warmup 0 --iters 1)

out=$("$cli" list) || fail "list exited $?"
expect_out '^CP methods: .*\btest_echo\b' "$out" list

out=$("$cli" run --method test_echo "${small[@]}" --degrees u2r2 --dry-run) || fail "run --dry-run"
expect_out '^test_echo/cpu_flash/causal/S128/H4-4/D16/fp32/fwd\+bwd/P1-u2r2/contiguous$' "$out" \
  "run --dry-run"

sweep() {  # sweep NAME EXTRA_JSON: a world-4 sweep config of test_echo
  printf '{"method":["test_echo"],"mask":["causal"],"seqlen":[128],"heads":[4],"head_dim":[16],"world":[4]%s}\n' \
    "$2" >"$work/$1.json"
}
sweep layouts ''
out=$("$cli" sweep "$work/layouts.json" --dry-run) || fail "sweep --dry-run exited $?"
for l in u1r4 u2r2 u4r1; do expect_out "^ *[0-9]/3 test_echo P=4 $l contiguous " "$out" "sweep_layouts"; done
sweep rule ',"degrees":[{"ulysses":"min(world, 2)"}]'
out=$("$cli" sweep "$work/rule.json" --dry-run) || fail "sweep with a degree rule exited $?"
expect_out '^ *1/1 test_echo P=4 u2r2 contiguous ' "$out" "degree rule"
sweep inner ',"degrees":[{"ulysses":2,"inner_ring":2}]'
out=$("$cli" sweep "$work/inner.json" --dry-run 2>&1)
[[ $? == 2 ]] || fail "inner_ring for test_echo (which does not read it) should be exit 2: $out"
expect_out "inner_ring.*no method.*reads it" "$out" "inner_ring refused"

# A real run on 2 ranks, verified, and its report merged twice (duplicate label).
out=$("$@" -np 2 "$cli" run --method test_echo "${small[@]}" --verify --out "$work/run.json" 2>&1) ||
  fail "2-rank run exited $?: $out"
expect_out '^ok +test_echo/.*/P2-u1r2/contiguous: .*verify PASS' "$out" "2-rank run"
"$cli" validate "$work/run.json" >/dev/null || fail "report does not validate"
cp "$work/run.json" "$work/again.json"
out=$("$cli" report "$work/run.json" "$work/again.json" --format md 2>&1) || fail "report exited $?"
expect_out "duplicate case 'test_echo P=2 u1r2 contiguous cpu_flash causal S=128" "$out" "merge label"
expect_out '^\| test_echo / contiguous \| causal \| 128 \|' "$out" "table row"
echo "registry_pickup: ok"
