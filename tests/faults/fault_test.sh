#!/usr/bin/env bash
# One fault-injection scenario (ctest label `faults`, docs/reliability.md "Ranks and faults"):
#
#   fault_test.sh SCENARIO CPBENCH WORK SEED
#
# kill_rank / stop_rank: SIGKILL / SIGSTOP one rank (chosen by SEED) of a 2-rank sweep at
#   a SEED-chosen moment; torn_journal: cut a finished journal at SEED-chosen byte
#   offsets; disk_full: a sweep whose output folder is a 12 KiB tmpfs (RLIMIT_FSIZE on
#   each rank where mounting is not allowed); abort_grace: a case stalls while mpirun is
#   stopped, so MPI_Abort cannot reach it; partition: the link between two
#   network-namespace hosts goes down mid-case.
# Each asserts the exit status, the time to exit, that no process is left, and (but
# abort_grace/partition) that a resume brings every case exactly once, finished ones
# unchanged, into a report that validates. Exit 77 (skipped) with the reason where
# the machine does not allow the scenario.
set -uo pipefail
scenario=$1 cpbench=$(realpath "$2") work=$3 seed=$4
here="$(cd "$(dirname "$0")" && pwd)"
config="$here/faults.json"
cases=12  # cases of faults.json at world 2
RANDOM=$seed
rm -rf "$work" && mkdir -p "$work" && work=$(realpath "$work")
out="$work/r.json"
mpi=(mpirun --oversubscribe --bind-to none)
[[ $(id -u) == 0 ]] && mpi+=(--allow-run-as-root)

fail() { echo "FAIL [$scenario seed $seed]: $*" >&2; [[ -f $work/log ]] && tail -n 25 "$work/log" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }
# Processes of this run: mpirun and every rank name the sweep and its output here.
ours() { pgrep -f -- "sweep $config --out $work" ; }
kill_ours() { local p; for p in $(ours); do kill -9 "$p" 2>/dev/null; done; }
cleanup_extra=:
trap 'kill_ours; $cleanup_extra' EXIT
trap "exit 143" TERM INT HUP

# Starts the sweep in the background: $job is mpirun's pid, its output in $work/log.
start_sweep() {
  t0=$(now)
  "${mpi[@]}" "$@" -np 2 "$cpbench" sweep "$config" --out "$out" >>"$work/log" 2>&1 &
  job=$!
}
# Waits up to $1 s for $job; sets rc and secs (time since start_sweep). Fails on timeout.
wait_job() {
  local limit=$1 i
  for ((i = 0; i < limit * 10; i++)); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$job" 2>/dev/null && fail "mpirun still running ${limit} s after the fault"
  wait "$job"; rc=$?
  secs=$(elapsed "$t0")
}
# Journal lines that are finished cases.
done_cases() { count_cases "$out.jsonl"; }
count_cases() { local n; n=$(grep -c '"status"' "$1" 2>/dev/null); echo "${n:-0}"; }
# Waits until the journal holds at least $1 finished cases.
wait_cases() {
  local i
  for ((i = 0; i < 1500; i++)); do
    (( $(done_cases) >= $1 )) && return 0
    kill -0 "$job" 2>/dev/null || fail "the sweep ended before $1 case(s) were journaled"
    sleep 0.01
  done
  fail "no $1 finished case(s) in the journal after 15 s"
}
# The rank processes (children of mpirun running cpbench), and the pid of rank $1.
rank_pids() { pgrep -f -- "$cpbench sweep $config --out $out" | grep -vx "$job"; }
pid_of_rank() {
  local p
  for p in $(rank_pids); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1" && echo "$p"
  done
}
no_process_left() {
  local i
  for ((i = 0; i < 50; i++)); do [[ -z $(ours) ]] && return 0; sleep 0.1; done
  fail "processes left: $(ours | xargs -r ps -o pid=,stat=,args= -p)"
}
# Resume with the same command: every case once, finished ones unchanged, exit 0 (1 when
# the watchdog's "timeout" record of the stalled case is kept: allowed up to $1).
resume_and_check() {
  local max_timeouts=${1:-0}
  cp "$out.jsonl" "$work/before.jsonl" 2>/dev/null || : >"$work/before.jsonl"
  local resume=()
  [[ -s $out.jsonl ]] && resume=(--resume "$out.jsonl")
  local t=$(now)
  timeout 120 "${mpi[@]}" -np 2 "$cpbench" sweep "$config" --out "$out" "${resume[@]}" \
    >"$work/resume.log" 2>&1
  local r=$?
  [[ -s $out ]] || { tail -n 20 "$work/resume.log" >&2; fail "the resume exited $r, no report"; }
  "$cpbench" validate "$out" >/dev/null || fail "the resumed report does not validate"
  local res
  res=$(python3 "$here/check_resume.py" "$out" "$cases" "$work/before.jsonl" "$max_timeouts") \
    || fail "resume content: $res"
  echo "${res%$'\n'*}"
  local want=0
  [[ ${res##*$'\n'} == 0 ]] || want=1
  [[ $r == "$want" ]] || { tail -n 20 "$work/resume.log" >&2; fail "the resume exited $r, expected $want"; }
  echo "resume: exit $r in $(elapsed "$t") s, report validates"
}
report() { echo "PASS [$scenario seed $seed]: $*"; }

case $scenario in
  kill_rank|stop_rank)
    # After 1 to 6 finished cases (6 or more still to run) and 0-90 ms more.
    victim=$((RANDOM % 2)) after=$((1 + RANDOM % (cases / 2)))
    sig=KILL; [[ $scenario == stop_rank ]] && sig=STOP
    start_sweep
    wait_cases "$after"
    sleep "0.0$((RANDOM % 10))"
    victim_pid=$(pid_of_rank "$victim")
    [[ -n $victim_pid ]] || fail "no rank $victim found"
    tf=$(now)
    kill -s "$sig" "$victim_pid"
    journaled=$(done_cases)
    if [[ $sig == KILL ]]; then
      wait_job 15
      [[ $rc != 0 && $rc != 124 ]] || fail "mpirun exited $rc after a rank was killed"
      limit=10
    else
      # The others wait in a collective until the watchdog (timeout_s 4, +2 s for rank 0
      # to journal, +grace), then mpirun's abort ends the stopped rank too.
      wait_job 30
      [[ $rc == 124 ]] || fail "mpirun exited $rc after a rank was stopped (expected 124, the watchdog)"
      limit=20
    fi
    took=$(elapsed "$tf")
    python3 -c "import sys; sys.exit(float(sys.argv[1]) > float(sys.argv[2]))" "$took" "$limit" \
      || fail "exit took $took s after the fault (limit $limit s)"
    no_process_left
    echo "rank $victim SIG$sig after $journaled case(s): mpirun exit $rc, $took s after the signal"
    resume_and_check "$([[ $sig == STOP ]] && echo 1 || echo 0)"
    report "rank $victim SIG$sig: exit $rc in $took s, nothing left, resume complete"
    ;;
  torn_journal)
    start_sweep
    wait_job 120
    [[ $rc == 0 ]] || fail "the clean sweep exited $rc"
    cp "$out.jsonl" "$work/full.jsonl"
    size=$(stat -c %s "$work/full.jsonl")
    for k in 1 2 3; do
      cut=$(( RANDOM * 32768 % size + RANDOM % size ))
      cut=$(( cut % size ))
      head -c "$cut" "$work/full.jsonl" >"$out.jsonl"
      echo "cut the journal at byte $cut of $size"
      if [[ $(head -n1 "$out.jsonl") != *'"journal"'* ]] || ! head -n1 "$out.jsonl" | python3 -c 'import json,sys; json.loads(sys.stdin.readline())' 2>/dev/null; then
        # The header itself is torn: not a journal any more; resume must refuse it
        # (exit 2, naming it), and the user starts over.
        timeout 60 "${mpi[@]}" -np 2 "$cpbench" sweep "$config" --out "$out" --resume "$out.jsonl" \
          >"$work/resume.log" 2>&1
        r=$?
        [[ $r == 2 ]] || fail "resume of a journal cut inside its header exited $r (expected 2)"
        grep -q "$out.jsonl" "$work/resume.log" || fail "the refusal does not name the journal"
        echo "header torn: resume refused with exit 2"
        rm -f "$out.jsonl"
      fi
      resume_and_check
      no_process_left
    done
    report "3 tears, each resumed to all $cases cases once"
    ;;
  disk_full)
    mkdir -p "$work/small"
    # CPB_FAULTS_NO_MOUNT=1 takes the RLIMIT_FSIZE path where mounting would work.
    if [[ $(id -u) == 0 && -z ${CPB_FAULTS_NO_MOUNT:-} ]] && mount -t tmpfs -o size=12k cpbfull "$work/small" 2>/dev/null; then
      cleanup_extra="umount -l $work/small"
      how="12 KiB tmpfs"
      run_out="$work/small/r.json"
      launch=("$cpbench")
    else
      how="RLIMIT_FSIZE 12 KiB on each rank"
      run_out="$work/small/r.json"
      launch=(sh -c 'ulimit -f 12 && exec "$0" "$@"' "$cpbench")
    fi
    t0=$(now)
    timeout 60 "${mpi[@]}" -np 2 "${launch[@]}" sweep "$config" --out "$run_out" >"$work/log" 2>&1
    rc=$?
    secs=$(elapsed "$t0")
    [[ $rc == 3 ]] || fail "a full disk exited $rc (expected 3, a write failure)"
    grep -q "cpbench: write failed: .*$run_out" "$work/log" || fail "no 'write failed' message naming the file"
    no_process_left
    kept=$(count_cases "$run_out.jsonl")
    echo "$how: exit 3 in $secs s with $kept case(s) journaled"
    # The space comes back (the journal moves to a roomy disk) and the sweep resumes.
    cp "$run_out.jsonl" "$out.jsonl"
    # `run` with the watchdog off (--timeout 0): before, rank 1 waited forever for a rank
    # 0 that had left on the write failure; now the failure is agreed at once.
    rm -f "$work/small/"*
    t1=$(now)
    timeout 60 "${mpi[@]}" -np 2 "${launch[@]}" run --method ring_p2p --seq 128,192,256,320,384,448 \
      --heads 2 --head-dim 16 --warmup 0 --iters 3 --timeout 0 --out "$work/small/run.json" \
      >"$work/run.log" 2>&1
    r=$?
    [[ $r == 3 ]] || { tail -n 20 "$work/run.log" >&2; fail "run --timeout 0 on a full disk exited $r (expected 3; 124 from timeout(1) is a hang)"; }
    grep -q "cpbench: write failed: .*run.json" "$work/run.log" || fail "run: no 'write failed' message"
    echo "run --timeout 0 on the full disk: exit 3 in $(elapsed "$t1") s"
    resume_and_check
    report "$how: exit 3 in $secs s, $kept case(s) kept, resume complete"
    ;;
  abort_grace)
    # mpirun (the ranks' launcher and PMIx server) is stopped, so MPI_Abort cannot reach
    # it; rank 1 is stopped too, so rank 0 stalls in a collective. Rank 0's watchdog
    # fires (timeout_s 4) and its abort must end it within the grace (5 s) anyway; rank 1,
    # continued, finds its case past the deadline and does the same.
    start_sweep
    wait_cases 1
    r0=$(pid_of_rank 0) r1=$(pid_of_rank 1)
    [[ -n $r0 && -n $r1 ]] || fail "ranks not found (rank 0: '$r0', rank 1: '$r1')"
    kill -STOP "$job" "$r1"
    tf=$(now)
    gone() { ! kill -0 "$1" 2>/dev/null || [[ $(ps -o stat= -p "$1") == Z* ]]; }
    for ((i = 0; i < 200; i++)); do gone "$r0" && break; sleep 0.1; done
    gone "$r0" || { kill -CONT "$job" "$r1"; fail "rank 0 still alive 20 s after its launcher stopped"; }
    t_r0=$(elapsed "$tf")
    kill -CONT "$r1"
    tc=$(now)
    for ((i = 0; i < 200; i++)); do gone "$r1" && break; sleep 0.1; done
    gone "$r1" || { kill -CONT "$job"; fail "rank 1 still alive 20 s after it was continued"; }
    t_r1=$(elapsed "$tc")
    kill -CONT "$job"
    wait_job 15
    grep -q "MPI_Abort did not end this rank within 5 s" "$work/log" \
      || fail "no rank says it ended itself after the grace"
    no_process_left
    report "launcher stopped: rank 0 ended itself $t_r0 s after the stall began (watchdog 4 s + grace 5 s), rank 1 $t_r1 s after it was continued; mpirun then exited $rc"
    ;;
  partition)
    # Two hosts (tests/launch/netns_hosts.sh), one rank each; the link goes down while
    # a case runs. Every rank must end itself (watchdog 4 s, +2 s on rank 1, + the 5 s
    # abort grace); mpirun (Open MPI 4.1) cannot reach the far daemon and only returns
    # once the link is back, which is measured and documented, not fixed here.
    source "$here/../launch/netns_hosts.sh"
    reason=$(netns_skip_reason)
    [[ -z $reason ]] || skip "$reason"
    cleanup_extra=netns_down
    netns_up "f$$" || fail "could not create the two namespace hosts"
    netns_hostfile "$work/hosts" 1
    # shellcheck disable=SC2207
    mpi=("${NETNS_IN_A[@]}" mpirun --allow-run-as-root --hostfile "$work/hosts" --map-by ppr:1:node
         $(netns_mpirun_args))
    start_sweep
    wait_cases 1
    pids=($(rank_pids))
    (( ${#pids[@]} == 2 )) || fail "expected 2 ranks, found ${#pids[@]}"
    netns_link down
    tf=$(now)
    alive() { local p n=0; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && ((n++)); done; echo $n; }
    for ((i = 0; i < 250; i++)); do (( $(alive) == 0 )) && break; sleep 0.1; done
    (( $(alive) == 0 )) || { netns_link up; fail "ranks alive 25 s after the partition: $(alive)"; }
    t_ranks=$(elapsed "$tf")
    python3 -c "import sys; sys.exit(float(sys.argv[1]) > 16)" "$t_ranks" \
      || fail "the ranks took $t_ranks s to end (limit 16 s: watchdog 4 + 2 + grace 5 + 5)"
    sleep 2
    launcher="returned"
    kill -0 "$job" 2>/dev/null && launcher="still running $(elapsed "$tf") s after the partition"
    netns_link up
    tu=$(now)
    wait_job 30
    t_back=$(elapsed "$tu")
    [[ $rc == 124 ]] || fail "mpirun exited $rc after the partition (expected 124, the watchdog)"
    for ((i = 0; i < 50; i++)); do [[ -z $(netns_leftovers) ]] && break; sleep 0.1; done
    [[ -z $(netns_leftovers) ]] || fail "left in the namespaces: $(netns_leftovers)"
    no_process_left
    echo "partition: both ranks ended $t_ranks s after the link went down; mpirun $launcher;" \
      "link up: mpirun exited $rc $t_back s later"
    resume_and_check 1
    report "ranks ended in $t_ranks s, mpirun $launcher, exit $rc $t_back s after the link came back, resume complete"
    ;;
  *) fail "unknown scenario '$scenario'" ;;
esac
