#!/usr/bin/env bash
# One command for a GPU machine (docs/gpu.md): unpack the carried .debs (fmt,
# nlohmann-json, GoogleTest, CLI11, Google Benchmark; see fetch_debs.sh) into a
# prefix, configure with the "gpu" preset (MPI only if the machine has it), build,
# run the GPU tests and the unit tests, the cuda_flash benchmark and the PyTorch
# anchors on the same shapes and masks, and write everything to $OUT (or ./out).
# Works offline. Every step runs even when an earlier one failed (a failed build
# still leaves the tests that did build); the exit status says whether all passed.
#
# Knobs (environment): CPB_GPU_QUICK=1 small shapes (a check, not the figures);
# CPB_GPU_SEQS, CPB_GPU_MASKS, CPB_GPU_ITERS override the benchmark axes;
# CPB_GPU_STEPS=deps,configure,build,test,bench,torch picks steps; CPB_PREFIX,
# CPB_BUILD_DIR, CPB_CMAKE_ARGS, CPB_GPU_TARGETS (build only these), NCCL_ROOT
# as their names say.
set -uo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
out=${OUT:-$repo/out}
prefix=${CPB_PREFIX:-$repo/.gpu-prefix}
build=${CPB_BUILD_DIR:-$repo/build-gpu}
work=$build/gpu-run  # journals and intermediates; only finished files go to $out
steps=${CPB_GPU_STEPS:-deps,configure,build,test,bench,torch}
mkdir -p "$out" "$work"
log=$out/run.log
exec 3>&1 4>&2 > >(tee -a "$log") 2>&1
tee_pid=$!

quick=${CPB_GPU_QUICK:-0}
if [ "$quick" = 1 ]; then
  seqs=${CPB_GPU_SEQS:-4096}
  iters=${CPB_GPU_ITERS:-5}
  heads=16 kv_heads=2
else
  seqs=${CPB_GPU_SEQS:-16384,32768}
  iters=${CPB_GPU_ITERS:-10}
  heads=64 kv_heads=8
fi
# The issue's masks: full, causal, sliding window 4K, documents (Pile lengths).
masks=${CPB_GPU_MASKS:-full,causal,sliding_window,document}
window=4096
[ "$quick" = 1 ] && window=1024

# shellcheck source=scripts/gpu/step.sh
source "$repo/scripts/gpu/step.sh"
has_step() { [[ ",$steps," == *",$1,"* ]]; }

# ---------------------------------------------------------------- environment
echo "cpbench GPU run: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown) dirty: $(git status --porcelain --untracked-files=no 2>/dev/null | wc -l) files"
echo "out: $out  build: $build  prefix: $prefix  quick: $quick"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv 2>&1 || echo "nvidia-smi: not available"
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
nvcc --version 2>&1 | tail -1
cmake --version | head -1
ninja --version 2>/dev/null | sed 's/^/ninja /'
${CXX:-c++} --version 2>&1 | head -1
grep -m1 PRETTY_NAME /etc/os-release 2>/dev/null
ldd --version 2>&1 | head -1
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.is_available())' 2>&1 | tail -1
command -v mpirun >/dev/null && mpirun --version 2>&1 | head -1 || echo "MPI: no mpirun (single-rank kernels and NCCL world of one)"
ls /usr/lib/x86_64-linux-gnu/libmpi* /usr/local/lib/libmpi* 2>/dev/null | head -3
python3 -c 'import mpi4py; print("mpi4py", mpi4py.__version__, mpi4py.get_config())' 2>&1 | tail -1

# NCCL: the one inside PyTorch's wheels (nvidia-nccl-*), else the CUDA toolkit's.
find_nccl() {
  local d
  d=$(python3 - <<'EOF' 2>/dev/null
import glob, os, site, sys
roots = []
try:
    import nvidia.nccl as m
    roots += list(m.__path__)
except Exception:
    pass
for sp in site.getsitepackages() + [site.getusersitepackages()]:
    roots += glob.glob(os.path.join(sp, "nvidia", "nccl")) + glob.glob(os.path.join(sp, "nvidia", "cu*"))
for r in roots:
    if glob.glob(os.path.join(r, "lib", "libnccl.so*")) and os.path.exists(os.path.join(r, "include", "nccl.h")):
        print(r); sys.exit(0)
EOF
)
  if [ -n "$d" ]; then echo "$d"; return; fi
  for d in /usr/local/cuda /usr; do
    if compgen -G "$d/lib*/libnccl.so*" >/dev/null || compgen -G "$d/lib/x86_64-linux-gnu/libnccl.so*" >/dev/null; then
      echo "$d"
      return
    fi
  done
}
if [ -z "${NCCL_ROOT:-}" ]; then
  NCCL_ROOT=$(find_nccl)
fi
export NCCL_ROOT
echo "NCCL_ROOT: ${NCCL_ROOT:-not found (the nccl communicator will not be built)}"
if [ -n "${NCCL_ROOT:-}" ]; then
  export LD_LIBRARY_PATH=$NCCL_ROOT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  # The wheels ship libnccl.so.2 only; give the linker its unversioned name too.
  if [ ! -e "$NCCL_ROOT/lib/libnccl.so" ] && [ -e "$NCCL_ROOT/lib/libnccl.so.2" ]; then
    mkdir -p "$prefix/nccl/lib"
    ln -sf "$NCCL_ROOT/lib/libnccl.so.2" "$prefix/nccl/lib/libnccl.so"
    ln -sf "$NCCL_ROOT/lib/libnccl.so.2" "$prefix/nccl/lib/libnccl.so.2"
    ln -sfn "$NCCL_ROOT/include" "$prefix/nccl/include"
    NCCL_ROOT=$prefix/nccl
  fi
fi

# ---------------------------------------------------------------- dependencies
unpack_debs() {
  shopt -s nullglob
  local debs=("$repo"/.debs/*.deb)
  if [ ${#debs[@]} = 0 ]; then
    echo "no .debs/ (run scripts/gpu/fetch_debs.sh where apt works, carry .debs): using system packages"
    return 0
  fi
  mkdir -p "$prefix"
  local f
  for f in "${debs[@]}"; do
    echo "unpack $(basename "$f")"
    if command -v dpkg-deb >/dev/null; then
      dpkg-deb -x "$f" "$prefix" || return 1
    else  # a .deb is an ar archive holding data.tar.*
      local tmp
      tmp=$(mktemp -d)
      (cd "$tmp" && ar x "$f") || return 1
      tar -xf "$tmp"/data.tar.* -C "$prefix" || return 1
      rm -rf "$tmp"
    fi
  done
}
has_step deps && step deps unpack_debs

export CMAKE_PREFIX_PATH="$prefix/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# ---------------------------------------------------------------- configure + build
configure() {
  # shellcheck disable=SC2086
  cmake --preset gpu -B "$build" -DCMAKE_PREFIX_PATH="$CMAKE_PREFIX_PATH" \
    ${NCCL_ROOT:+-DNCCL_ROOT="$NCCL_ROOT"} ${CPB_CMAKE_ARGS:-}
}
has_step configure && step configure configure
# -k 0: build every target that can be built, so one broken file costs only its tests.
build_targets=()
for t in ${CPB_GPU_TARGETS:-}; do build_targets+=(--target "$t"); done
has_step build && step build cmake --build "$build" "${build_targets[@]}" -j "$(nproc)" -- -k 0

# ---------------------------------------------------------------- tests
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
run_tests() {
  local label=$1 xml=$2
  shift 2
  ctest --test-dir "$build" --output-on-failure --timeout 600 --output-junit "$xml" "$@"
}
if has_step test; then
  step gpu_tests run_tests gpu "$out/ctest_gpu.xml" -L '^gpu$' --no-tests=error
  # Unit tests beside them (style needs clang-format, absent on the GPU image).
  step unit_tests run_tests unit "$work/ctest_unit.xml" -LE '^(gpu|style|mpi)$' -j "$(nproc)"
fi

# ---------------------------------------------------------------- benchmark
cpbench=$build/bench/cpbench
bench_common=(--mask "$masks" --seq "$seqs" --heads "$heads" --kv-heads "$kv_heads"
  --head-dim 128 --dtype bf16 --warmup 3 --iters "$iters" --comm self)
[[ ",$masks," == *sliding_window,* ]] && bench_common+=(--window "$window")
[[ ",$masks," == *document,* ]] && bench_common+=(--doclen pile)
bench_pass() {
  local pass=$1
  if ! "$cpbench" list --json 2>/dev/null | grep -q '"cuda_flash"'; then
    echo "cuda_flash is not registered in this build: no kernel benchmark"
    return 1
  fi
  "$cpbench" run --kernel cuda_flash --pass "$pass" "${bench_common[@]}" \
    --out "$work/cpbench_gpu_$pass.json" &&
    cp "$work/cpbench_gpu_$pass.json" "$out/"
}
# The kernel's own driver (tests/kernels_cuda): the same shapes timed without the
# harness, so the figures exist even where cpbench's device path is incomplete.
kernel_bench() {
  local bin=$build/tests/kernels_cuda/cuda_flash_device
  [ -x "$bin" ] || { echo "no $bin in this build"; return 1; }
  "$bin" bench --seqs "$seqs" --reps "$iters" | tee "$out/cuda_flash_device_bench.txt"
}
if has_step bench; then
  step bench_fwd bench_pass fwd
  step bench_bwd bench_pass bwd
  step kernel_bench kernel_bench
fi

# ---------------------------------------------------------------- PyTorch anchors
torch_anchors() {
  local args=(--slices-tool "$build/tests/gpu_comm/export_mask_slices" --heads "$heads"
    --kv-heads "$kv_heads" --head-dim 128 --dtype bf16 --warmup 3 --iters "$iters"
    --pass fwd --pass bwd --out "$out/torch_baseline.json")
  local m s
  for m in ${masks//,/ }; do
    case $m in
      sliding_window | causal_sliding_window) args+=(--mask "{\"kind\":\"$m\",\"window\":$window}") ;;
      document | causal_document) args+=(--mask "{\"kind\":\"$m\",\"doclen\":\"pile\"}") ;;
      *) args+=(--mask "{\"kind\":\"$m\"}") ;;
    esac
  done
  for s in ${seqs//,/ }; do args+=(--seq "$s"); done
  # A small verified case first: proves the mask conversion on the GPU.
  PYTHONUNBUFFERED=1 python3 scripts/torch_baseline.py --verify --seq 1024 --heads 8 --kv-heads 2 \
    --head-dim 128 --mask causal --mask '{"kind":"document","doclen":"pile"}' \
    --slices-tool "$build/tests/gpu_comm/export_mask_slices" --iters 3 \
    --out "$work/torch_verify.json" || return 1
  PYTHONUNBUFFERED=1 python3 scripts/torch_baseline.py "${args[@]}"
}
has_step torch && step torch_anchors torch_anchors

# ---------------------------------------------------------------- summary
{
  echo "# cpbench GPU run $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "- commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "- device: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)"
  echo "- shapes: seqs $seqs, Hq $heads, Hkv $kv_heads, D 128, bf16, masks $masks (window $window)"
  echo
  for line in "${summary[@]}"; do echo "- $line"; done
} >"$out/summary.md"
echo
cat "$out/summary.md"
# Let tee drain before exiting: the summary is the last thing a caller reads.
exec 1>&3 2>&4 3>&- 4>&-
wait "$tee_pid" 2>/dev/null || true
exit $failed
