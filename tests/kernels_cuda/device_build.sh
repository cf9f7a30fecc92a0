#!/usr/bin/env bash
# Builds the cuda_flash device driver (and nothing else) with nvcc + g++ alone,
# for GPU machines without CMake packages for fmt/json/gtest: fmt is used
# header-only and nlohmann/json is header-only, both from $CPB_EXTRA_INCLUDE
# (default build-cudaflash/carry/include, copied from /usr/include here).
# Usage: tests/kernels_cuda/device_build.sh OUTDIR [ARCH_FLAGS]   -> OUTDIR/cuda_flash_device
set -euo pipefail
out=${1:?output dir}
arch=${2:-"-gencode=arch=compute_90a,code=sm_90a"}
root=$(cd "$(dirname "$0")/../.." && pwd)
inc=${CPB_EXTRA_INCLUDE:-$root/build-cudaflash/carry/include}
cuda=${CUDA_HOME:-/usr/local/cuda}
mkdir -p "$out/obj"
cd "$root"
cxx_flags=(-std=c++20 -O2 -fopenmp -I. -I"$inc" -I"$cuda/include" -DFMT_HEADER_ONLY
           "-DCPB_DATA_DIR=\"$root/data\"")
cc_srcs=(common/dtype.cc common/cuda_runtime.cc masks/mask.cc masks/block_map.cc
         masks/mask_spec.cc masks/generators.cc masks/doclen.cc kernels/lse_merge.cc kernels/check_args.cc
         kernels/cpu_reference.cc kernels/cuda/cuda_flash.cc tests/kernels_cuda/flash_case.cc
         tests/kernels_cuda/flash_device_main.cc)
cu_srcs=(kernels/cuda/flash_fwd.cu kernels/cuda/flash_bwd.cu tests/kernels_cuda/device_fill.cu)
pids=()
for f in "${cc_srcs[@]}"; do
  g++ "${cxx_flags[@]}" -c "$f" -o "$out/obj/$(echo "$f" | tr / _).o" & pids+=($!)
done
for f in "${cu_srcs[@]}"; do
  nvcc -std=c++17 -O3 -I. $arch -Xptxas -v -c "$f" -o "$out/obj/$(echo "$f" | tr / _).o" \
    2> "$out/ptxas_$(basename "$f").log" & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
nvcc $arch -o "$out/cuda_flash_device" "$out"/obj/*.o -Xcompiler -fopenmp -lgomp
echo "built $out/cuda_flash_device"
