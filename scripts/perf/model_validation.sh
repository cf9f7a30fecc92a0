#!/usr/bin/env bash
# The model's validation grid (docs/perf/model.md, issue 9): for each world size,
# calibrate the CPU kernel and the MPI links under the same oversubscription as the
# measured ranks, measure 5 methods x {full, causal, causal_document} x S, predict
# the same cases with `cpbench model`, and keep every file. scripts/perf/
# model_errors.py turns the pairs into the error and ordering figures.
#
#   model_validation.sh CPBENCH OUT [P ...]      P: 2, 4, 8 or "4x2hosts" (default all)
#   environment: SEQS (default 4096,8192,16384), MAX_SEQ, CAL_HEADS, PHASES (below)
#
# "Same oversubscription": the kernel is calibrated by P concurrent single-rank
# `calibrate --kernel` processes on the same cores (mpirun -np P launching them
# side by side), so each sees the share of a core a measured rank sees; the model
# reads the element-wise median of their P profiles (scripts/perf/median_profile.py).
# The links are calibrated by `calibrate --comm` with the same P ranks and placement
# as the measured run. 4x2hosts runs 2 ranks on each of
# two network-namespace hosts (tests/launch/netns_hosts.sh), mpirun over TCP.
# Needs a quiet machine: anything else running is measured too.
set -euo pipefail
cpbench=$(realpath "$1") out=$2
shift 2
worlds=("$@")
[[ ${#worlds[@]} -gt 0 ]] || worlds=(2 4 8 4x2hosts)
root="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$out"
out=$(realpath "$out")

SEQS=${SEQS:-4096,8192,16384}
# The kernel table must reach the largest call (Ulysses at P = 2: S_k = 16K): past its
# end the rate is held flat, and this CPU kernel slows by ~20% from 8K to 16K (cache).
# Heads only multiply the work of a call, so 4 heads give the same per-head rates.
MAX_SEQ=${MAX_SEQ:-16384}
CAL_HEADS=${CAL_HEADS:-4}
# Which phases to run: kernel (calibration), comm (calibration), measure, predict.
PHASES=${PHASES:-kernel comm measure predict}
has() { [[ " $PHASES " == *" $1 "* ]]; }
case_opts=(--kernel cpu_flash --method ulysses,ring_p2p,ring_allgather,usp,loongtrain
           --sharding zigzag --mask full,causal,causal_document --seq "$SEQS" --heads 8
           --head-dim 64 --dtype fp32)
mpi=(mpirun --oversubscribe -x OMP_NUM_THREADS=1)
[[ $(id -u) != 0 ]] || mpi+=(--allow-run-as-root)
export OMP_NUM_THREADS=1

log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$out/log.txt"; }

calibrate_kernel() {  # P TAG: P concurrent kernel calibrations, their median
  local p=$1 tag=$2
  has kernel || return 0
  log "calibrate --kernel, $p concurrent processes ($tag)"
  "${mpi[@]}" -np "$p" sh -c "exec '$cpbench' calibrate --kernel cpu_flash --heads $CAL_HEADS \
    --head-dim 64 --dtype fp32 --max-seq $MAX_SEQ --reps 3 \
    --out $out/kernel_$tag.rank\$OMPI_COMM_WORLD_RANK.json" 2>"$out/kernel_$tag.log"
  python3 "$root/scripts/perf/median_profile.py" "$out/kernel_$tag.json" \
    "$out"/kernel_"$tag".rank*.json
}

measure_and_predict() {  # P TAG MPIRUN-EXTRA...
  local p=$1 tag=$2
  shift 2
  if has comm; then
    log "calibrate --comm, $p ranks ($tag)"
    "${mpi[@]}" -np "$p" "$@" "$cpbench" calibrate --comm --reps 5 \
      --out "$out/comm_$tag.json" 2>"$out/comm_$tag.log"
  fi
  if has measure; then
    log "measure, $p ranks ($tag)"
    "${mpi[@]}" -np "$p" "$@" "$cpbench" run "${case_opts[@]}" --warmup 1 --iters 3 \
      --out "$out/measured_$tag.json" >"$out/measured_$tag.log" 2>&1
  fi
  has predict || return 0
  log "predict ($tag)"
  "$cpbench" model --world "$p" --topology "$out/comm_$tag.json" \
    --kernel-profile "$out/kernel_$tag.json" "${case_opts[@]}" \
    --out "$out/predicted_$tag.json" >"$out/predicted_$tag.log" 2>&1
}

for w in "${worlds[@]}"; do
  case $w in
    2 | 4 | 8)
      calibrate_kernel "$w" "p$w"
      measure_and_predict "$w" "p$w"
      ;;
    4x2hosts)
      source "$root/tests/launch/netns_hosts.sh"
      reason=$(netns_skip_reason)
      [[ -z $reason ]] || { log "skip 4x2hosts: $reason"; continue; }
      trap netns_down EXIT
      netns_up "v$$"
      netns_hostfile "$out/hosts_4x2" 2
      [[ -f $out/kernel_p4.json ]] || calibrate_kernel 4 p4
      [[ -f $out/kernel_p4.json ]] || { log "4x2hosts needs kernel_p4.json"; exit 1; }
      cp "$out/kernel_p4.json" "$out/kernel_4x2hosts.json"
      # shellcheck disable=SC2046  # netns_mpirun_args is a word list on purpose
      mpi=("${NETNS_IN_A[@]}" "${mpi[@]}")
      measure_and_predict 4 4x2hosts --hostfile "$out/hosts_4x2" --map-by ppr:2:node \
        $(netns_mpirun_args)
      netns_down
      trap - EXIT
      ;;
    *) echo "model_validation.sh: unknown world '$w' (2, 4, 8 or 4x2hosts)" >&2; exit 2 ;;
  esac
done
log "done"
