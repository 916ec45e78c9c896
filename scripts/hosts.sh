#!/usr/bin/env bash
# Separate network hosts on this machine, for the test clusters: each host is a network namespace with its own
# address (eth0 on a bridge), loopback, hostname (a UTS namespace) and /tmp (a mount namespace), sharing only the
# folders a cluster shares. Only these hosts' own addresses are used (10.X.0.0/24, X picked from the prefix).
#   bash scripts/hosts.sh up PREFIX N          # prints: bridge=ADDR subnet=CIDR hosts=ADDR1,ADDR2,...
#   bash scripts/hosts.sh run PREFIX I NAME CMD...   # CMD as host I (1..N), hostname NAME, its own /tmp; the
#                                                    # folders in $RUNYARD_HOSTS_SHARED (colon-separated) are shared,
#                                                    # and always this checkout (its .venv: what every node runs,
#                                                    # as a cluster's shared home), even when it lies under /tmp
#   bash scripts/hosts.sh down PREFIX          # every process, namespace and link it made
# Needs root (ip netns, unshare).
set -euo pipefail
checkout=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-}
prefix=${2:-}
[ -n "$prefix" ] || { echo "usage: $0 up|run|down PREFIX ..." >&2; exit 2; }
octet=$(( $(printf '%s' "$prefix" | cksum | cut -d' ' -f1) % 200 + 20 ))
bridge="${prefix}br"

ns_of() { echo "${prefix}$1"; }

up() {
  local n=$1 i ns
  down_links
  ip link add "$bridge" type bridge
  ip addr add "10.$octet.0.1/24" dev "$bridge"
  ip link set "$bridge" up
  local hosts=""
  for i in $(seq 1 "$n"); do
    ns=$(ns_of "$i")
    ip netns add "$ns"
    ip link add "${prefix}v$i" type veth peer name "${prefix}p$i"
    ip link set "${prefix}v$i" master "$bridge" up
    ip link set "${prefix}p$i" netns "$ns"
    ip -n "$ns" link set "${prefix}p$i" name eth0   # one interface name on every host, as on real clusters
    ip -n "$ns" addr add "10.$octet.0.$((i + 1))/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" route add default via "10.$octet.0.1"
    hosts="$hosts${hosts:+,}10.$octet.0.$((i + 1))"
  done
  echo "bridge=10.$octet.0.1 subnet=10.$octet.0.0/24 hosts=$hosts"
}

run() {
  local i=$1 name=$2
  shift 2
  local ns
  ns=$(ns_of "$i")
  # a mount namespace of its own: a private /tmp, then the shared folders bound back into it
  # nsenter, not `ip netns exec`: that remounts /sys, which hides the cgroup file system slurmd needs
  RUNYARD_HOSTS_SHARED="$checkout:${RUNYARD_HOSTS_SHARED:-}" \
    nsenter --net="/run/netns/$ns" -- unshare --uts --mount --propagation private -- /bin/bash -c '
    set -e
    hostname "$1"; shift
    mkdir -p /run/runyard-hosts-shared
    IFS=: read -r -a given <<< "${RUNYARD_HOSTS_SHARED:-}"
    shared=()
    for path in "${given[@]}"; do
      [ -n "$path" ] && [ -e "$path" ] || continue
      k=${#shared[@]}
      mkdir -p "/run/runyard-hosts-shared/$k"; mount --bind "$path" "/run/runyard-hosts-shared/$k"
      shared+=("$path")
    done
    mount -t tmpfs -o mode=1777 tmpfs /tmp
    for k in "${!shared[@]}"; do
      mkdir -p "${shared[$k]}"; mount --bind "/run/runyard-hosts-shared/$k" "${shared[$k]}"
    done
    exec "$@"' runyard-host "$name" "$@"
}

down_links() {
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${prefix}[0-9]+$" || true); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null || true; done
  done
  sleep 0.3
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${prefix}[0-9]+$" || true); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  # a namespace still held by a process that is going away keeps its veth: delete the host ends too
  for link in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E "^${prefix}v[0-9]+$" || true); do
    ip link del "$link" 2>/dev/null || true
  done
  ip link del "$bridge" 2>/dev/null || true
}

case "$cmd" in
  up) up "${3:?how many hosts}" ;;
  run) shift 2; run "$@" ;;
  down) down_links ;;
  *) echo "usage: $0 up|run|down PREFIX ..." >&2; exit 2 ;;
esac
