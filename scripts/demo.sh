#!/usr/bin/env bash
# The README's demo command: install what is missing, build, then run a real
# 4-rank CPU sweep with mpirun (3 CP methods x 3 masks x 2 lengths, verified
# against the single-rank oracle), validate the report and draw its charts.
# Output: out/demo/report.json (+ .jsonl journal), out/demo/tables.md, out/demo/charts/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh

out=out/demo
mkdir -p "$out"
rm -f "$out/report.json" "$out/report.json.jsonl"
mpi_flags=(--oversubscribe)
[ "$(id -u)" = 0 ] && mpi_flags+=(--allow-run-as-root)
ranks=4
# Ranks share the machine's cores: one OpenMP thread each.
export OMP_NUM_THREADS=1

echo "demo: mpirun -np $ranks cpbench run (ulysses, ring_p2p, ring_allgather x full, causal, causal_document x 512, 1024)"
mpirun "${mpi_flags[@]}" -np "$ranks" build/bench/cpbench run \
  --kernel cpu_flash --method ulysses,ring_p2p,ring_allgather \
  --mask full,causal,causal_document --seq 512,1024 \
  --heads 8 --kv-heads 4 --head-dim 64 --dtype fp32 --pass fwd+bwd \
  --sharding zigzag --warmup 1 --iters 3 --verify --timeout 300 \
  --out "$out/report.json"

build/bench/cpbench validate "$out/report.json"
build/bench/cpbench report "$out/report.json" --format md > "$out/tables.md"
cat "$out/tables.md"
scripts/plot "$out/report.json" --out "$out/charts"
echo "demo: report $out/report.json, tables $out/tables.md, charts in $out/charts/"
