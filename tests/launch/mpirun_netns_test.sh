#!/usr/bin/env bash
# scripts/launch/mpirun_sweep.sh across two hosts: network namespaces joined by a veth
# pair (netns_hosts.sh), mpirun over TCP on that link, its rsh agent entering the far
# namespace (netns_rsh.sh). Checks that the 2-rank launch really spanned both hosts,
# that the reports validate, and that nothing is left running. The namespaces and
# everything in them are removed by the EXIT trap. Exit 77 (ctest: skipped) with the
# reason when the machine does not allow namespaces.
#
#   mpirun_netns_test.sh CPBENCH CONFIG WORK
set -uo pipefail
cpbench=$(realpath "$1") config=$(realpath "$2") work=$3
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$here/netns_hosts.sh"
reason=$(netns_skip_reason)
[[ -z $reason ]] || { echo "SKIP: $reason"; exit 77; }
command -v mpirun >/dev/null || { echo "SKIP: no mpirun"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
trap netns_down EXIT
trap "exit 143" TERM INT HUP

rm -rf "$work" && mkdir -p "$work"
netns_up "m$$" || fail "could not create the two namespace hosts"
netns_hostfile "$work/hosts" 2
start=$SECONDS
# shellcheck disable=SC2046  # netns_mpirun_args is a word list on purpose
timeout 120 "${NETNS_IN_A[@]}" "$root/scripts/launch/mpirun_sweep.sh" -c "$config" -o "$work/out" \
  -H "$work/hosts" -r 1 -n "1 2" --cpbench "$cpbench" --no-plots -- $(netns_mpirun_args) \
  >"$work/launch.log" 2>&1
rc=$?
echo "mpirun_sweep.sh exited $rc after $((SECONDS - start)) s"
[[ $rc == 0 ]] || { tail -n 30 "$work/launch.log" >&2; fail "the launcher exited $rc"; }
"$cpbench" validate "$work/out/run-p1.json" "$work/out/run-p2.json" || fail "a report does not validate"
python3 - "$work/out" "$NETNS_A" "$NETNS_B" <<'PY' || fail "report content"
import json, sys
out, a, b = sys.argv[1:]
r = json.load(open(f"{out}/run-p2.json"))
hosts = {h["hostname"]: h["ranks"] for h in r["provenance"]["hosts"]}
assert hosts == {a: [0], b: [1]}, f"the 2-rank launch ran on {hosts}, not one rank on each host"
assert all(c["status"] == "ok" for c in r["cases"]), [c["status"] for c in r["cases"]]
m = json.load(open(f"{out}/merged.json"))
assert len(m["cases"]) == 3, len(m["cases"])
print(f"2-rank launch on hosts {sorted(hosts)}; merged {len(m['cases'])} cases")
PY
grep -q -- "--hostfile $work/hosts --map-by ppr:1:node --bind-to core" "$work/launch.log" \
  || fail "mpirun was not given the hostfile and mapping"
left=$(netns_leftovers)
[[ -z $left ]] || fail "processes left in the namespaces: $left"
echo "PASS: mpirun_sweep.sh over two network-namespace hosts"
