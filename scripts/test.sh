#!/usr/bin/env bash
# The README's test command (and .ci/run's): install what is missing, build, run
# every test (unit, real-mpirun, end-to-end, style). GPU tests skip without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
# One OpenMP thread per rank: MPI tests oversubscribe the cores already.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
# One test at a time unless CPB_TEST_JOBS says otherwise: the MPI tests oversubscribe
# the cores by themselves, and the watchdog, fault and perf tests time their runs. (It
# was `-j $(nproc)`, which meant -j 1 anyway: nproc obeys OMP_NUM_THREADS.) ~4 min.
ctest --preset default -j "${CPB_TEST_JOBS:-1}" "$@"
