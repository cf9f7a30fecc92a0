#!/usr/bin/env bash
# files_reliability.sh CPBENCH WORKDIR: issue 11's file half with the real binary
# (docs/reliability.md, "Files"). (1) A torn journal is resumed, twice, and stays
# readable; every finished case is in the report exactly once. (2) --resume under
# another configuration is exit 2 naming what differs; --allow-new-cases adds cases.
# (5) FIFO, /dev/zero, 1e400, non-object journal lines: exit 2 within seconds; a
# non-UTF-8 path and a 5000-character --out are exit 2. (9) An output that is an
# input is refused. (10) A full disk (a file-size limit, and a 64 KiB tmpfs when root
# may mount) is exit 3 with whole journal lines, and a resume finishes the sweep.
set -uo pipefail
cpb=$1 work=$2
d="$work/files_reliability"
rm -rf "$d" && mkdir -p "$d" && cd "$d" || exit 1
export OMP_NUM_THREADS=1
fail() { echo "FAIL: $*"; [ -f err ] && { echo "--- stderr:"; head -c 2000 err; }; exit 1; }
# expect RC REGEX CMD...: exit status RC within 20 s, stderr matching REGEX; for exit 2
# and 3 stderr holds exactly one cpbench line.
expect() {
  local want=$1 regex=$2
  shift 2
  timeout 20 "$@" >out 2>err
  local rc=$?
  [ "$rc" -eq "$want" ] || fail "exit $rc, expected $want: $*"
  [ -z "$regex" ] || grep -Eq -- "$regex" err || fail "stderr does not match /$regex/: $*"
  if [ "$want" -eq 2 ] || [ "$want" -eq 3 ]; then
    [ "$(grep -c '^cpbench' err)" -eq 1 ] || fail "expected one cpbench line on stderr: $*"
  fi
}
# cases_once REPORT N: the report validates and holds N distinct case ids.
cases_once() {
  "$cpb" validate "$1" >/dev/null 2>err || fail "$1 does not validate"
  local n distinct
  n=$(grep -o '"id": "[^"]*"' "$1" | wc -l)
  distinct=$(grep -o '"id": "[^"]*"' "$1" | sort -u | wc -l)
  [ "$n" -eq "$2" ] && [ "$distinct" -eq "$2" ] || fail "$1: $n case ids ($distinct distinct), expected $2"
}

cat >cfg.json <<'JSON'
{"name": "files", "method": ["none"], "mask": ["causal", "full"], "seqlen": [64, 128],
 "heads": [2], "head_dim": [16], "world": [1], "iterations": 2, "warmup": 0}
JSON
expect 0 "4 case\(s\)" "$cpb" sweep cfg.json --out r.json
cases_once r.json 4

# (1) Torn journal: header + 2 cases + a torn line. Resume appends after cutting it.
head -n 3 r.json.jsonl >t.jsonl
printf '{"id":"none/cpu_flash/full/S128","sta' >>t.jsonl
expect 0 "cut a torn last line" "$cpb" sweep cfg.json --out t.json --resume t.jsonl --journal t.jsonl
cases_once t.json 4
expect 0 "" "$cpb" report t.jsonl
expect 0 "4 already done" "$cpb" sweep cfg.json --out t.json --resume t.jsonl --journal t.jsonl
cases_once t.json 4

# (2) Another configuration: exit 2 naming the difference; --allow-new-cases adds cases.
sed 's/"iterations": 2/"iterations": 3/' cfg.json >iters.json
expect 2 "run.iterations: 2 -> 3" "$cpb" sweep iters.json --out x.json --resume t.jsonl
sed 's/"name": "files"/"name": "other"/' cfg.json >named.json
expect 2 "sweep.name" "$cpb" sweep named.json --out x.json --resume t.jsonl
sed 's/"seqlen": \[64, 128\]/"seqlen": [64, 128, 192]/' cfg.json >more.json
expect 2 "sweep.seqlen" "$cpb" sweep more.json --out x.json --resume t.jsonl
expect 0 "4 already done" "$cpb" sweep more.json --out more_out.json --resume t.jsonl --allow-new-cases
cases_once more_out.json 6
expect 2 "run.iterations" "$cpb" sweep iters.json --out x.json --resume t.jsonl --allow-new-cases

# (5) Files that never end or are not files: exit 2 at once.
mkfifo fifo
expect 2 "fifo' is not a regular file" "$cpb" sweep fifo --out x.json
expect 2 "fifo' is not a regular file" "$cpb" report fifo
expect 2 "fifo' is not a regular file" "$cpb" validate fifo
expect 2 "fifo' is not a regular file" "$cpb" compare fifo r.json
expect 2 "fifo' is not a regular file" "$cpb" sweep cfg.json --out x.json --resume fifo
expect 2 "/dev/zero' is not a regular file" "$cpb" sweep /dev/zero --out x.json
expect 2 "/dev/zero' is not a regular file" "$cpb" report /dev/zero
expect 2 "/dev/zero' is not a regular file" "$cpb" sweep cfg.json --out x.json --resume /dev/zero
expect 2 "not a regular file" "$cpb" report r.json --out /dev/null
# 1e400 in every kind of input file.
sed 's/"iterations": 2/"iterations": 1e400/' cfg.json >big_cfg.json
expect 2 "big_cfg.json.*1e400" "$cpb" sweep big_cfg.json --out x.json
printf '{"name": "h", "bins": [{"lo": 1, "hi": 100, "p": 1e400}]}\n' >big_hist.json
expect 2 "big_hist.json.*1e400" "$cpb" run --mask document --doclen ./big_hist.json --seq 256 \
  --heads 2 --head-dim 16 --iters 1
sed '0,/"median": [0-9.e-]*/s//"median": 1e400/' r.json >big_report.json
expect 2 "big_report.json.*1e400" "$cpb" report big_report.json
expect 2 "big_report.json.*1e400" "$cpb" validate big_report.json
{ head -n 1 r.json.jsonl; sed -n 2p r.json.jsonl | sed 's/"median":[0-9.e-]*/"median":1e400/'; } >big.jsonl
expect 2 "big.jsonl' line 2" "$cpb" report big.jsonl
# Journal lines that are JSON but not objects.
{ head -n 1 r.json.jsonl; echo '[1, 2]'; sed -n 2p r.json.jsonl; } >array.jsonl
expect 2 "array.jsonl' line 2: not a JSON object" "$cpb" report array.jsonl
expect 2 "array.jsonl' line 2: not a JSON object" "$cpb" sweep cfg.json --out x.json --resume array.jsonl
# Paths: invalid UTF-8 is refused up front (bench/cli_checks.h: the report records
# arguments as JSON), 5000 characters is bad input; neither crashes.
bad=$(printf 'r\377\376.json')
expect 2 "not valid UTF-8" "$cpb" sweep cfg.json --out "$bad"
long=$(head -c 5000 /dev/zero | tr '\0' a).json
expect 2 "cannot write output" "$cpb" sweep cfg.json --out "$long"

# (9) An output that is an input.
cp r.json g.json
cp g.json g.orig
expect 2 "is the same file as the input" "$cpb" report g.json --out g.json
cmp -s g.json g.orig || fail "report --out over its input changed it"
expect 2 "is the same file as the journal" "$cpb" sweep cfg.json --journal j.json --out j.json
expect 2 "is the same file as the (--resume )?journal" "$cpb" sweep cfg.json --out t.jsonl --resume t.jsonl

# (10) A full disk, as a file-size limit (unprivileged; SIGXFSZ ignored as cpbench does).
# 4 KiB holds the header and about one case: the journal append fails mid-sweep.
mkdir full && cp cfg.json full/
(cd full && trap '' XFSZ && ulimit -f 4 && timeout 60 "$cpb" sweep cfg.json --out r.json) >out 2>err
rc=$?
[ "$rc" -eq 3 ] || fail "full disk (ulimit -f): exit $rc, expected 3"
grep -q "write failed: .*cannot append to journal" err || fail "no write-failure message"
[ "$(tail -c 1 full/r.json.jsonl | od -An -c | tr -d ' ')" = '\n' ] || fail "journal ends in a torn line"
expect 0 "" "$cpb" report full/r.json.jsonl
(cd full && expect 0 "already done" "$cpb" sweep cfg.json --out r.json --resume r.json.jsonl) || exit 1
cases_once full/r.json 4
# The report itself does not fit: exit 3, the journal is complete, report rebuilds it.
mkdir full2 && cp cfg.json full2/
(cd full2 && trap '' XFSZ && ulimit -f 12 && timeout 60 "$cpb" sweep cfg.json --out r.json) >out 2>err
rc=$?
[ "$rc" -eq 3 ] || fail "report write on a full disk: exit $rc, expected 3"
grep -q "cpbench report r.json.jsonl --out r.json" err || fail "no hint how to rebuild the report"
expect 0 "" "$cpb" report full2/r.json.jsonl --out full2/rebuilt.json
# A real small filesystem when root may mount one; skipped with the reason otherwise.
mnt="$d/tmpfs"
mkdir -p "$mnt"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=64k cpb_files_test "$mnt" 2>mount_err; then
  cp cfg.json "$mnt/"
  dd if=/dev/zero of="$mnt/filler" bs=1k count=56 2>/dev/null
  (cd "$mnt" && timeout 60 "$cpb" sweep cfg.json --out r.json) >out 2>err
  rc=$?
  ok=1
  [ "$rc" -eq 3 ] || ok=0
  [ ! -s "$mnt/r.json.jsonl" ] || [ "$(tail -c 1 "$mnt/r.json.jsonl" | od -An -c | tr -d ' ')" = '\n' ] || ok=0
  umount "$mnt"
  [ "$ok" -eq 1 ] || fail "tmpfs full: exit $rc (expected 3) or a torn journal"
  echo "tmpfs: disk full is exit 3 with whole journal lines"
else
  echo "SKIP tmpfs part: cannot mount a tmpfs here ($(head -c 200 mount_err 2>/dev/null || echo not root))"
fi
echo "ok: torn resume, config identity, bad files, outputs that are inputs, full disk"
