#!/usr/bin/env bash
# CP on GPUs in one device call (issue: one CP engine over host and CUDA): on one
# H100/H200, build (scripts/gpu/run.sh's deps/configure/build steps, with Open MPI
# unpacked from the carried .debs), then
#   1. the CUDA execution's unit tests and the case runner's CUDA tests;
#   2. every CP method x {causal, causal_document, causal_sliding_window} x
#      {zigzag, balanced}, fwd+bwd, bf16, GQA, verified against cpu_reference,
#      at P = 1, 2, 4 ranks sharing the GPU over staged MPI (cp_device_mpi_test);
#   3. the NCCL world of one (nccl_communicator_test and a ring_p2p run over it);
#   4. one timed overlap case: ring_p2p at S = 64K on P = 2 ranks sharing the GPU
#      against the single-rank cuda_flash time for the same mask (whole area);
# and writes one summary ($OUT/verify_cp.md) plus the reports. Every step runs
# even when an earlier one failed; the exit status says whether all passed.
# Knobs: CPB_VERIFY_SEQ (overlap case S, default 65536), CPB_SKIP_BUILD=1.
set -uo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
out=${OUT:-$repo/out}
prefix=${CPB_PREFIX:-$repo/.gpu-prefix}
build=${CPB_BUILD_DIR:-$repo/build-gpu}
seq=${CPB_VERIFY_SEQ:-65536}
mkdir -p "$out"
log=$out/verify_cp.log
exec > >(tee -a "$log") 2>&1

# shellcheck source=scripts/gpu/step.sh
source "$repo/scripts/gpu/step.sh"

# Open MPI from the carried .debs (scripts/gpu/fetch_debs.sh) is unpacked into the
# prefix by run.sh's deps step; OPAL_PREFIX relocates it (binaries, wrappers, MCA
# components) from /usr to there. A system MPI, where the image has one, wins.
use_prefix_mpi() {
  if command -v mpirun >/dev/null; then
    MPIRUN=$(command -v mpirun)
    return
  fi
  local bin=$prefix/usr/bin/mpirun.openmpi
  if [ -x "$bin" ]; then
    export OPAL_PREFIX=$prefix/usr
    export PATH=$prefix/usr/bin:$PATH
    export LD_LIBRARY_PATH=$prefix/usr/lib/x86_64-linux-gnu/openmpi/lib:$prefix/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    MPIRUN=$bin
    CPB_CMAKE_ARGS="${CPB_CMAKE_ARGS:-} -DMPI_CXX_COMPILER=$prefix/usr/bin/mpicxx.openmpi"
    export CPB_CMAKE_ARGS
  else
    MPIRUN=
  fi
}

# ---------------------------------------------------------------- build
targets="cpbench cuda_execution_test case_runner_cuda_test cp_device_mpi_test nccl_communicator_test"
if [ "${CPB_SKIP_BUILD:-0}" != 1 ]; then
  # deps first (unpacks Open MPI too), then configure + build only what this needs.
  OUT=$out/build CPB_GPU_STEPS=deps scripts/gpu/run.sh >/dev/null 2>&1
  use_prefix_mpi
  step build env OUT="$out/build" CPB_GPU_STEPS=deps,configure,build CPB_GPU_TARGETS="$targets" \
    scripts/gpu/run.sh
else
  use_prefix_mpi
fi
export CMAKE_PREFIX_PATH="$prefix/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
[ -n "${NCCL_ROOT:-}" ] && export LD_LIBRARY_PATH=$NCCL_ROOT/lib:$LD_LIBRARY_PATH
for d in "$prefix"/nccl/lib "$(python3 -c 'import nvidia.nccl as m; print(m.__path__[0])' 2>/dev/null)/lib"; do
  [ -d "$d" ] && export LD_LIBRARY_PATH=$d:$LD_LIBRARY_PATH
done
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
cpbench=$build/bench/cpbench
mpi_flags=(--oversubscribe --bind-to none)
[ "$(id -u)" = 0 ] && mpi_flags+=(--allow-run-as-root)
echo "MPI: ${MPIRUN:-none} $(${MPIRUN:-true} --version 2>/dev/null | head -1)"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null

# ---------------------------------------------------------------- 1. unit tests
step execution_tests "$build/tests/gpu_comm/cuda_execution_test"
step case_runner_cuda "$build/tests/bench/case_runner_cuda_test"

# ---------------------------------------------------------------- 2. P = 1, 2, 4
for np in 1 2 4; do
  if [ -z "$MPIRUN" ]; then
    summary+=("cp_device P=$np: NOT RUN (no MPI: carry .debs from scripts/gpu/fetch_debs.sh)")
    failed=1
    continue
  fi
  step "cp_device_P$np" timeout 300 "$MPIRUN" "${mpi_flags[@]}" -np "$np" \
    "$build/tests/bench/cp_device_mpi_test" --gtest_output="xml:$out/cp_device_P$np.xml"
done

# ---------------------------------------------------------------- 3. NCCL world of one
if [ -x "$build/tests/gpu_comm/nccl_communicator_test" ]; then
  step nccl_world_of_one "$build/tests/gpu_comm/nccl_communicator_test"
  step nccl_ring_run "$cpbench" run --comm nccl --kernel cuda_flash --method ring_p2p \
    --mask causal_document --seq 4096 --heads 16 --kv-heads 2 --head-dim 128 --dtype bf16 \
    --iters 3 --verify --out "$out/nccl_world_of_one.json"
else
  summary+=("nccl: NOT RUN (no NCCL found at configure time)")
  failed=1
fi

# ---------------------------------------------------------------- 4. overlap case
common=(--kernel cuda_flash --mask causal --seq "$seq" --heads 32 --kv-heads 8 --head-dim 128
  --dtype bf16 --pass fwd+bwd --warmup 3 --iters 10)
step single_rank "$cpbench" run "${common[@]}" --comm self --out "$out/overlap_single.json"
if [ -n "$MPIRUN" ]; then
  step ring_p2_shared "$MPIRUN" "${mpi_flags[@]}" -np 2 "$cpbench" run "${common[@]}" \
    --method ring_p2p --sharding zigzag --out "$out/overlap_ring_p2.json"
fi
overlap_line() {
  python3 - "$out/overlap_single.json" "$out/overlap_ring_p2.json" <<'EOF'
import json, sys
def case(p):
    return json.load(open(p))["cases"][0]
one, two = case(sys.argv[1]), case(sys.argv[2])
t1 = one["metrics"]["step_seconds"]["median"]
t2 = two["metrics"]["step_seconds"]["median"]
m = two["metrics"]
print(f"overlap: single-rank cuda_flash {t1*1e3:.2f} ms; ring_p2p P=2 on one GPU {t2*1e3:.2f} ms "
      f"= {t2/t1:.3f}x the single rank, {t2/(2*t1):.3f}x of 2x (criterion <= 1.10); "
      f"compute {m['compute_seconds']*1e3:.2f} ms, exposed comm {m['exposed_comm_seconds']*1e3:.2f} ms, "
      f"overlap efficiency {m['overlap_efficiency']:.3f}, transport {two['params'].get('device_transport')}")
EOF
}
if [ -f "$out/overlap_single.json" ] && [ -f "$out/overlap_ring_p2.json" ]; then
  summary+=("$(overlap_line 2>&1)")
fi

# ---------------------------------------------------------------- summary
{
  echo "# cpbench verify_cp $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "- commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "- device: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)"
  echo "- command: scripts/gpu/verify_cp.sh"
  echo
  for line in "${summary[@]}"; do echo "- $line"; done
} >"$out/verify_cp.md"
echo
cat "$out/verify_cp.md"
exit $failed
