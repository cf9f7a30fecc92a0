# Sourced by the launcher and fault tests: two "hosts" on one machine, network
# namespaces $NETNS_A and $NETNS_B joined by a veth pair (10.231.X.1 and .2/24), each
# with its own loopback. netns_up creates them and sets NETNS_IN_A, the command prefix
# that runs a command in host A under A's hostname; netns_down removes them and kills
# what runs there (call it from an EXIT trap); netns_mpirun_args are the
# mpirun arguments that launch over TCP on that link with netns_rsh.sh as the rsh agent.
# netns_skip_reason prints why this machine cannot, or nothing.

netns_skip_reason() {
  [[ $(id -u) == 0 ]] || { echo "network namespaces need root (this is uid $(id -u))"; return; }
  command -v ip >/dev/null || { echo "no 'ip' (Debian package iproute2)"; return; }
  command -v unshare >/dev/null || { echo "no 'unshare' (util-linux)"; return; }
  local probe="cpbprobe$$"
  if ! ip netns add "$probe" 2>/dev/null; then
    echo "'ip netns add' is not allowed here (a container without CAP_SYS_ADMIN?)"
    return
  fi
  if ! ip netns exec "$probe" unshare --uts true 2>/dev/null; then
    ip netns del "$probe" 2>/dev/null
    echo "'unshare --uts' is not allowed here"
    return
  fi
  ip link add "${probe:0:10}x" type veth peer name "${probe:0:10}y" 2>/dev/null || {
    ip netns del "$probe" 2>/dev/null
    echo "cannot create a veth pair here"
    return
  }
  ip link del "${probe:0:10}x" 2>/dev/null
  ip netns del "$probe" 2>/dev/null
}

# Every process left in either namespace is killed, then the namespaces go.
netns_down() {
  local ns pid
  for ns in "${NETNS_A:-}" "${NETNS_B:-}"; do
    [[ -n $ns ]] && ip netns list 2>/dev/null | grep -qw "$ns" || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
  done
  for ns in "${NETNS_A:-}" "${NETNS_B:-}"; do
    [[ -n $ns ]] && ip netns del "$ns" 2>/dev/null
  done
  return 0
}

# Processes still alive in either namespace (one per line: pid and command).
netns_leftovers() {
  local ns pid
  for ns in "${NETNS_A:-}" "${NETNS_B:-}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      echo "$pid $ns $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
    done
  done
}

netns_up() {
  local id=$1  # a short tag unique to this test run
  NETNS_A="cpbA$id" NETNS_B="cpbB$id"
  NETNS_VETH_A="cpv${id}a" NETNS_VETH_B="cpv${id}b"
  NETNS_NET="10.231.$(( $$ % 250 + 1 ))"
  ip netns add "$NETNS_A" && ip netns add "$NETNS_B" || return 1
  ip link add "$NETNS_VETH_A" netns "$NETNS_A" type veth peer name "$NETNS_VETH_B" \
    netns "$NETNS_B" || return 1
  ip -n "$NETNS_A" addr add "$NETNS_NET.1/24" dev "$NETNS_VETH_A"
  ip -n "$NETNS_B" addr add "$NETNS_NET.2/24" dev "$NETNS_VETH_B"
  local ns
  for ns in "$NETNS_A" "$NETNS_B"; do ip -n "$ns" link set lo up; done
  ip -n "$NETNS_A" link set "$NETNS_VETH_A" up
  ip -n "$NETNS_B" link set "$NETNS_VETH_B" up
  NETNS_IN_A=(ip netns exec "$NETNS_A" unshare --uts -- sh -c 'hostname "$0" && exec "$@"'
              "$NETNS_A")
}

# The link between the hosts: down (a partition) or up.
netns_link() { ip -n "$NETNS_A" link set "$NETNS_VETH_A" "$1"; }

# A hostfile with one slot per host, and the mpirun arguments for the two hosts.
netns_hostfile() { printf '%s slots=%s\n%s slots=%s\n' "$NETNS_A" "$2" "$NETNS_B" "$2" >"$1"; }
netns_mpirun_args() {
  local here
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  echo --mca plm_rsh_agent "$here/netns_rsh.sh" --mca oob_tcp_if_include "$NETNS_NET.0/24" \
    --mca btl_tcp_if_include "$NETNS_NET.0/24" --mca btl tcp,self,vader
}
