#!/usr/bin/env bash
# Fetches, on a machine with Debian's package network, the .debs that the
# offline GPU machine lacks (fmt, nlohmann-json, GoogleTest, CLI11, Google
# Benchmark) into .debs/ (gitignored). scripts/gpu/run.sh unpacks them into a
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
)

mkdir -p .debs
cd .debs
rm -f ./*.deb
apt-get download "${packages[@]}"
ls -l ./*.deb
du -sh .
