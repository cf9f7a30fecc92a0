#!/usr/bin/env bash
# Configures and builds with the default preset (build/). CUDA targets compile
# when nvcc is found (/usr/local/cuda/bin/nvcc), also on machines with no GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset default >/dev/null
cmake --build --preset default -j "$(nproc)"
