#!/usr/bin/env bash
# Fetches, on a machine with Debian's package network, the .debs that the
# offline GPU machine lacks (fmt, nlohmann-json, GoogleTest, CLI11, Google
# Benchmark, Open MPI) into .debs/ (gitignored). scripts/gpu/run.sh unpacks them into a
# prefix there; the device tool carries the folder: carry [".debs"].
# Only what `apt-get download` fetches: no install, no root needed.
set -euo pipefail
cd "$(dirname "$0")/../.."

# Runtime libraries beside the -dev packages whose CMake configs point at them.
packages=(
  libfmt-dev libfmt9
  nlohmann-json3-dev
  libgtest-dev
  libcli11-dev
  libbenchmark-dev libbenchmark1debian
  # Open MPI for multi-rank runs sharing the GPU (scripts/gpu/verify_cp.sh); the
  # image has none. Its runtime closure minus what every Linux image has.
  openmpi-bin openmpi-common libopenmpi-dev libopenmpi3 libpmix2 libpmix-dev
  libhwloc15 libhwloc-dev libhwloc-plugins libevent-2.1-7 libevent-core-2.1-7
  libevent-pthreads-2.1-7 libevent-extra-2.1-7 libevent-openssl-2.1-7 libfabric1
  libibverbs1 ibverbs-providers librdmacm1 libucx0 libnl-3-200 libnl-route-3-200
  libpsm2-2 libpsm-infinipath1 libnuma1 libltdl7 libmunge2 libpciaccess0 libxnvctrl0
)

mkdir -p .debs
cd .debs
rm -f ./*.deb
apt-get download "${packages[@]}"
ls -l ./*.deb
du -sh .
