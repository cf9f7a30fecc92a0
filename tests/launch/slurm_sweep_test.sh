#!/usr/bin/env bash
# scripts/launch/slurm_sweep.sbatch under a real Slurm: a private munged, slurmctld and
# slurmd on loopback (one node, every file under WORK), one `sbatch` of the
# template with a two-world-size config, then checks of what it wrote. Every daemon
# is started here and stopped by the EXIT trap, also when a check fails.
# Exit 77 (ctest: skipped) with the reason when the machine does not allow it.
#
#   slurm_sweep_test.sh CPBENCH CONFIG WORK
set -uo pipefail
cpbench=$(realpath "$1") config=$(realpath "$2") work=$3
root="$(cd "$(dirname "$0")/../.." && pwd)"
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; for f in "$work"/*.log "$work"/out/job.out; do
  [[ -f $f ]] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done; exit 1; }

[[ $(id -u) == 0 ]] || skip "slurmd must run as root (this is uid $(id -u))"
for b in munged slurmctld slurmd sbatch sinfo scancel srun; do
  command -v "$b" >/dev/null || skip "no '$b' (Debian packages munge slurmctld slurmd slurm-client; scripts/setup.sh installs them)"
done
plugdir=$(dirname "$(find /usr/lib -name 'mpi_pmix*.so' -path '*slurm*' 2>/dev/null | head -n1)")
[[ $plugdir != . ]] || skip "Slurm has no mpi_pmix plugin (srun --mpi=pmix)"

rm -rf "$work" && mkdir -p "$work"/{state,spool,out} && chmod 700 "$work"
work=$(realpath "$work")
pids=()
cleanup() {
  [[ -n ${SLURM_CONF:-} ]] && scancel --quiet --full cpbtest-sweep 2>/dev/null
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  # slurmstepd of an unfinished step are children of nobody we started: by their conf.
  for p in $(pgrep -f "slurmstepd.*" 2>/dev/null); do
    grep -qs "$work" "/proc/$p/environ" && kill -9 "$p" 2>/dev/null
  done
  return 0
}
trap cleanup EXIT
trap "exit 143" TERM INT HUP

# munge: a fresh key and socket, not the machine's.
dd if=/dev/urandom of="$work/munge.key" bs=1024 count=1 status=none && chmod 400 "$work/munge.key"
munged -F --force --socket="$work/munge.sock" --key-file="$work/munge.key" \
  --pid-file="$work/munged.pid" --log-file="$work/munged.log" --seed-file="$work/munged.seed" \
  2>"$work/munged.out" &
pids+=($!)
for _ in $(seq 50); do [[ -S $work/munge.sock ]] && break; sleep 0.1; done
[[ -S $work/munge.sock ]] || fail "munged did not start"

# Free TCP ports for slurmctld and slurmd (loopback only).
read -r cport dport < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
# Not nproc: it follows OMP_NUM_THREADS (1 under ctest). At least 2, for the 2-rank launch.
cpus=$(getconf _NPROCESSORS_ONLN)
(( cpus >= 2 )) || cpus=2
export SLURM_CONF="$work/slurm.conf"
cat > "$SLURM_CONF" <<CONF
ClusterName=cpbtest
SlurmctldHost=$(hostname -s)(127.0.0.1)
MailProg=/bin/true
MessageTimeout=5
SlurmctldPort=$cport
SlurmdPort=$dport
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge.sock
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
PluginDir=$plugdir
PlugStackConfig=$work/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
# The node is what this file says (not what slurmd detects under a restricted CPU set),
# and job ids start at random so a concurrent test cluster cannot share PMIx temp dirs.
SlurmdParameters=config_overrides
FirstJobId=$(( RANDOM % 50000 + 1000 ))
SlurmdTimeout=30
InactiveLimit=0
KillWait=2
NodeName=cpbnode NodeAddr=127.0.0.1 NodeHostname=$(hostname) CPUs=$cpus State=UNKNOWN
PartitionName=cpbtest Nodes=cpbnode Default=YES MaxTime=10 State=UP OverSubscribe=YES
CONF
: > "$work/plugstack.conf"
slurmctld -D -i -f "$SLURM_CONF" >"$work/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N cpbnode -f "$SLURM_CONF" >"$work/slurmd.out" 2>&1 &
pids+=($!)
up=0
for _ in $(seq 60); do
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || fail "a daemon exited (pid $p)"; done
  state=$(timeout 5 sinfo -h -n cpbnode -o %T 2>/dev/null)
  [[ $state == idle* ]] && { up=1; break; }
  sleep 0.2
done
[[ $up == 1 ]] || fail "the node did not come up (sinfo: '${state:-no answer}')"

# The template as a user submits it, flags overriding its #SBATCH defaults.
start=$SECONDS
cd "$root" || fail "no $root"
CPBENCH="$cpbench" OMPI_MCA_rmaps_base_oversubscribe=1 \
  timeout 30 sbatch --parsable --overcommit --job-name=cpbtest-sweep --nodes=1 --ntasks=2 \
  --ntasks-per-node=2 --cpus-per-task=1 --time=2 --output="$work/out/job.out" \
  scripts/launch/slurm_sweep.sbatch "$config" "$work/out" >"$work/sbatch.log" 2>&1 \
  || fail "sbatch refused the job"
jobid=$(tail -n1 "$work/sbatch.log")
# Polled here, twice a second: `sbatch --wait` backs off to 32 s between its polls.
state=""
for _ in $(seq 180); do
  info=$(timeout 5 scontrol -o show job "$jobid" 2>/dev/null)
  state=$(sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' <<<"$info")
  case $state in PENDING|RUNNING|CONFIGURING|COMPLETING|"") sleep 0.5 ;; *) break ;; esac
done
exitcode=$(sed -n 's/.* ExitCode=\([0-9:]*\).*/\1/p' <<<"$info")
echo "job $jobid: $state, exit $exitcode after $((SECONDS - start)) s"
[[ $state == COMPLETED && $exitcode == 0:0 ]] || fail "the job ended $state with exit code $exitcode"
for f in run-p1.json run-p2.json run-p1.json.jsonl merged.json tables.md tables.csv; do
  [[ -s $work/out/$f ]] || fail "the job wrote no $f"
done
"$cpbench" validate "$work/out/run-p1.json" "$work/out/run-p2.json" \
  || fail "a report does not validate"
# srun ran the ranks: the 2-rank report was made by 2 ranks of one MPI world.
python3 - "$work/out" <<'PY' || fail "report content"
import json, sys
out = sys.argv[1]
for w in (1, 2):
    r = json.load(open(f"{out}/run-p{w}.json"))
    assert r["config"]["world_size"] == w, r["config"]["world_size"]
    assert r["cases"] and all(c["status"] == "ok" for c in r["cases"]), [c["status"] for c in r["cases"]]
m = json.load(open(f"{out}/merged.json"))
assert m["schema"] == "cpbench-merged-report" and len(m["cases"]) == 3, (m["schema"], len(m["cases"]))
print(f"merged: {len(m['cases'])} cases, all ok")
PY
grep -q "slurm_sweep: world 2 on 1 node" "$work/out/job.out" || fail "job log lacks the world-2 launch"
echo "PASS: slurm_sweep.sbatch under slurmctld+slurmd (munge) on loopback"
