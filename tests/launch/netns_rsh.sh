#!/usr/bin/env bash
# mpirun's rsh agent for two "hosts" made of network namespaces (netns_hosts.sh):
# `netns_rsh.sh HOST command...` runs the command, as ssh would (one shell string), in
# the namespace named HOST with its own UTS namespace whose hostname is HOST, so the
# far orted and its ranks see the far network and report the far host's name.
set -euo pipefail
host=$1
shift
[[ $host =~ ^[A-Za-z0-9_-]+$ ]] || { echo "netns_rsh.sh: bad host '$host'" >&2; exit 255; }
exec ip netns exec "$host" unshare --uts -- sh -c "hostname $host && exec sh -c \"\$0\"" "$*"
