#!/usr/bin/env bash
# Runs a sweep config with mpirun once per world size it lists (a case runs on exactly
# its world size), resuming from each launch's journal when one exists, then merges
# the reports and writes the tables (and charts, when matplotlib is there).
#
#   scripts/launch/mpirun_sweep.sh -c bench/configs/cp_cpu_small.json -o out/sweep \
#       [-n "1 2 4"] [-H hostfile] [-r ranks-per-node] [-t threads-per-rank] \
#       [-b core|socket|numa|none] [--cpbench build/bench/cpbench] [--no-plots] [--dry-run] \
#       [-- extra mpirun arguments]
#
# Output in -o: run-p<W>.json (+ .jsonl journal) per world size W, merged.json,
# tables.md, tables.csv, longca.csv, plots/. Binding defaults to core, none on one oversubscribed
# machine (no -H/-r). docs/launchers.md has a worked example.
set -euo pipefail
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
root="$(cd "$(dirname "$0")/../.." && pwd)"
config="" out="" worlds="" hostfile="" ppn="" threads="" bind="" plots=1 dry=0
cpbench="${CPBENCH:-$root/build/bench/cpbench}"
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -c|--config) config=$2; shift 2 ;;
    -o|--out) out=$2; shift 2 ;;
    -n|--worlds) worlds=$2; shift 2 ;;
    -H|--hostfile) hostfile=$2; shift 2 ;;
    -r|--ranks-per-node) ppn=$2; shift 2 ;;
    -t|--threads) threads=$2; shift 2 ;;
    -b|--bind) bind=$2; shift 2 ;;
    --cpbench) cpbench=$2; shift 2 ;;
    --no-plots) plots=0; shift ;;
    --dry-run) dry=1; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) usage ;;
    *) echo "mpirun_sweep.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
[[ -n $config && -n $out ]] || { echo "mpirun_sweep.sh: -c CONFIG and -o OUTDIR are required" >&2; usage; }
[[ -r $config ]] || { echo "mpirun_sweep.sh: cannot read config '$config'" >&2; exit 2; }
case "${bind:-core}" in core|socket|numa|none) ;; *) echo "mpirun_sweep.sh: -b '$bind': allowed core, socket, numa, none" >&2; exit 2 ;; esac
[[ $dry == 1 || -x $cpbench ]] || { echo "mpirun_sweep.sh: no cpbench at '$cpbench' (build it, or pass --cpbench)" >&2; exit 2; }

# World sizes: -n, else the config's "world" list (default [1]).
if [[ -z $worlds ]]; then
  worlds=$(python3 -c 'import json,sys; w=json.load(open(sys.argv[1])).get("world",[1]); print(" ".join(map(str, w if isinstance(w, list) else [w])))' "$config")
fi
mpirun_bin="${MPIRUN:-mpirun}"
mpi_args=()
[[ $(id -u) == 0 ]] && mpi_args+=(--allow-run-as-root)
[[ -n $hostfile ]] && mpi_args+=(--hostfile "$hostfile")
if [[ -n $ppn ]]; then
  mapping="ppr:${ppn}:node"
  [[ -n $threads ]] && mapping+=":PE=${threads}"
  mpi_args+=(--map-by "$mapping")
elif [[ -z $hostfile ]]; then
  mpi_args+=(--oversubscribe)  # one machine: allow more ranks than cores
  # Binding to cores refuses to start with more ranks than cores, so the default here is none.
  bind="${bind:-none}"
fi
mpi_args+=(--bind-to "${bind:-core}")
export OMP_NUM_THREADS="${threads:-${OMP_NUM_THREADS:-1}}"
mpi_args+=(-x OMP_NUM_THREADS)

run() { echo "+ $*" >&2; [[ $dry == 1 ]] || "$@"; }
mkdir -p "$out"
reports=()
status=0
for w in $worlds; do
  rep="$out/run-p$w.json"
  # Exit 124: the watchdog stopped a case that ran past timeout_s after journaling it as
  # "timeout"; relaunching resumes after it. Bounded, so a broken setup cannot loop.
  for attempt in $(seq 1 "${CPB_TIMEOUT_RETRIES:-20}"); do
    resume=()
    [[ -s "$rep.jsonl" ]] && resume=(--resume "$rep.jsonl")
    set +e
    run "$mpirun_bin" "${mpi_args[@]}" "${extra[@]}" -np "$w" "$cpbench" sweep "$config" \
      --out "$rep" "${resume[@]}"
    rc=$?
    set -e
    [[ $rc == 124 ]] || break
    echo "mpirun_sweep.sh: P=$w: a case timed out (recorded); resuming (attempt $((attempt + 1)))" >&2
  done
  if [[ $dry == 0 && $rc != 0 && ! -s $rep ]]; then
    # No report: mpirun (or cpbench before its first case) failed; its message is above.
    echo "mpirun_sweep.sh: the P=$w launch failed (exit $rc) before writing $rep" \
         "(see mpirun's message above)" >&2
    status=1
  elif [[ $rc == 1 ]]; then
    echo "mpirun_sweep.sh: P=$w: some cases ended in error, timeout or a failed verification" \
         "(recorded in $rep)" >&2
    status=1
  elif [[ $rc != 0 ]]; then
    echo "mpirun_sweep.sh: the P=$w launch exited $rc; its finished cases are in $rep.jsonl" \
         "(run again to resume)" >&2
    status=1
  fi
  [[ $dry == 1 || -s $rep ]] && reports+=("$rep")
done
[[ ${#reports[@]} -gt 0 ]] || { echo "mpirun_sweep.sh: no report written" >&2; exit 1; }
run "$cpbench" report "${reports[@]}" --out "$out/merged.json" --detail > "$out/tables.md"
run "$cpbench" report "$out/merged.json" --format csv > "$out/tables.csv"
# LongCA-bench's own columns beside ours, so its charts and scripts read the run as is.
run "$cpbench" report "$out/merged.json" --format longca-csv > "$out/longca.csv"
if [[ $plots == 1 && $dry == 0 ]]; then
  "$root/scripts/plot" "$out/merged.json" --out-dir "$out/plots" >/dev/null || \
    echo "mpirun_sweep.sh: charts skipped (see the message above)" >&2
fi
[[ $dry == 1 ]] || echo "mpirun_sweep.sh: merged report $out/merged.json, tables $out/tables.md" >&2
exit $status
