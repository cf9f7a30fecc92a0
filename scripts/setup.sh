#!/usr/bin/env bash
# Installs what cpbench needs, from Debian packages only, and nothing when all of
# it is already there (idempotent). Runs apt-get as root, or through sudo.
set -euo pipefail

packages=(
  cmake ninja-build g++ git pkg-config
  libopenmpi-dev openmpi-bin
  nlohmann-json3-dev libfmt-dev libcli11-dev
  libgtest-dev libbenchmark-dev libopenblas-dev
  clang-format python3 python3-matplotlib
  munge slurmctld slurmd slurm-client iproute2  # tests/launch: a real Slurm, netns hosts
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
