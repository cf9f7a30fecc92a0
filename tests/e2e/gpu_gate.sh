#!/bin/sh
# gpu_gate.sh with|without CMD...: runs CMD only where a GPU is (with) or is not
# (without) visible, else exits 77, which ctest reports as skipped (SKIP_RETURN_CODE).
# Some answers differ by machine: `--comm nccl` is an error without a GPU and a
# world of one with it. Visible = an NVIDIA device node or `nvidia-smi -L` lists one.
want="$1"; shift
have=without
if [ -e /dev/nvidia0 ] || nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then have=with; fi
if [ -n "${CUDA_VISIBLE_DEVICES+x}" ] && [ -z "$CUDA_VISIBLE_DEVICES" ]; then have=without; fi
if [ "$have" != "$want" ]; then
  echo "skip: this check runs $want a GPU, and this machine is $have one"
  exit 77
fi
exec "$@"
