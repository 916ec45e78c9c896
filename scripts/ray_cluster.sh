#!/usr/bin/env bash
# A real two-node Ray cluster on this machine, for runyard's tests and for trying the Ray target:
# a head node and a worker node (two raylets sharing this host), each with $RUNYARD_RAY_CPUS CPUs.
#   bash scripts/ray_cluster.sh up      # prints: address=127.0.0.1:PORT
#   bash scripts/ray_cluster.sh worker  # one more worker node (e.g. a node that comes back after a loss)
#   bash scripts/ray_cluster.sh down
# Its processes live under their own temp dir ($RUNYARD_RAY_DIR), and `down` stops only those: a Ray
# cluster of yours on this machine is left alone (`ray stop` would stop every Ray process here).
# Needs `pip install 'runyard[ray]'` (scripts/setup.sh installs it into .venv).
# The worker is a separate network host (scripts/hosts.sh: its own address, hostname and /tmp), the head is this
# host at the hosts' bridge address; RUNYARD_RAY_HOSTS=local puts both on 127.0.0.1 (where namespaces cannot be
# made). The worker shares the cluster's dir and the folders in $RUNYARD_HOSTS_SHARED with this host.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ray_bin=${RUNYARD_RAY_BIN:-$here/.venv/bin/ray}
port=${RUNYARD_RAY_PORT:-26379}
cpus=${RUNYARD_RAY_CPUS:-2}
dir=${RUNYARD_RAY_DIR:-/tmp/runyard-ray-$port}  # short: Ray's unix sockets live under it
export RAY_USAGE_STATS_ENABLED=0
# small object stores: runyard moves no data through Ray, and CI machines have little /dev/shm
common=(--num-cpus="$cpus" --object-store-memory=80000000 --disable-usage-stats)
mode=${RUNYARD_RAY_HOSTS:-netns}
prefix="ryr$(( port % 10000 ))"
head_addr=127.0.0.1
worker_addr=127.0.0.1
if [ "$mode" != local ] && ip netns list 2>/dev/null | grep -q "^${prefix}1\b"; then
  head_addr=$(ip -4 -o addr show "${prefix}br" | awk '{print $4}' | cut -d/ -f1)
  worker_addr=$(ip -n "${prefix}1" -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)
fi

# the worker node: on its own host (namespace 1), or here
start_worker() {
  if [ "$mode" = local ]; then
    "$ray_bin" start --address="$head_addr:$port" --node-ip-address="$worker_addr" "${common[@]}" \
      >>"$dir/start.log" 2>&1 || { cat "$dir/start.log" >&2; exit 1; }
  else
    # what `up` was told to share, kept for a worker started again later (a node that comes back)
    [ -f "$dir/hosts_shared" ] || echo "$dir:${RUNYARD_HOSTS_SHARED:-}" > "$dir/hosts_shared"
    RUNYARD_HOSTS_SHARED=$(cat "$dir/hosts_shared") bash "$here/scripts/hosts.sh" run "$prefix" 1 worker1 \
      "$ray_bin" start --address="$head_addr:$port" --node-ip-address="$worker_addr" --temp-dir="$dir" "${common[@]}" \
      >>"$dir/start.log" 2>&1 || { cat "$dir/start.log" >&2; exit 1; }
  fi
}

# this cluster's processes: those naming its dir, and their descendants (Ray's agents rename themselves
# to "ray::DashboardAgent" and the like, so only their parents tell whose they are)
ours() {
  local pids children
  pids=$(pgrep -f -- "$dir" || true)
  # and what names only its address: the Ray Client proxy the head starts outlives `ray start` under init
  pids="$pids $(pgrep -f -- "-(-gcs)?-address=[0-9.]+:${port}( |$)" || true)"
  children=$pids
  while [ -n "$children" ]; do
    children=$(for p in $children; do pgrep -P "$p" || true; done)
    pids="$pids $children"
  done
  echo $pids
}

down() {
  local pids
  pids=$(ours)
  [ -n "$pids" ] || return 0
  kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 50); do
    alive=""
    for p in $pids; do  # a zombie (stat Z) is already dead, waiting for a parent to reap it
      case "$(ps -o stat= -p "$p" 2>/dev/null)" in ""|Z*) ;; *) alive="$alive $p" ;; esac
    done
    [ -n "$alive" ] || return 0
    sleep 0.1
  done
  kill -KILL $alive 2>/dev/null || true
}

down_all() {
  down
  [ "$mode" = local ] || bash "$here/scripts/hosts.sh" down "$prefix"
}

case "${1:-}" in
  up)
    down_all
    mkdir -p "$dir"
    rm -f "$dir/hosts_shared"
    if [ "$mode" != local ]; then
      made=$(bash "$here/scripts/hosts.sh" up "$prefix" 1)
      head_addr=$(echo "$made" | sed -n 's/.*bridge=\([^ ]*\).*/\1/p')
      worker_addr=$(echo "$made" | sed -n 's/.*hosts=\([^ ,]*\).*/\1/p')
    fi
    # Ray's start-up chatter goes to a log; shown only when a start fails
    "$ray_bin" start --head --port="$port" --node-ip-address="$head_addr" --temp-dir="$dir" \
      --include-dashboard=false "${common[@]}" >"$dir/start.log" 2>&1 || { cat "$dir/start.log" >&2; exit 1; }
    start_worker
    echo "address=$head_addr:$port"
    ;;
  worker)
    start_worker
    ;;
  down)
    down_all
    ;;
  *)
    echo "usage: $0 up|worker|down" >&2
    exit 2
    ;;
esac
