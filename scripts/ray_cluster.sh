#!/usr/bin/env bash
# A real two-node Ray cluster on this machine, for runyard's tests and for trying the Ray target:
# a head node and a worker node (two raylets sharing this host), each with $RUNYARD_RAY_CPUS CPUs.
#   bash scripts/ray_cluster.sh up      # prints: address=127.0.0.1:PORT
#   bash scripts/ray_cluster.sh worker  # one more worker node (e.g. a node that comes back after a loss)
#   bash scripts/ray_cluster.sh down
# Its processes live under their own temp dir ($RUNYARD_RAY_DIR), and `down` stops only those: a Ray
# cluster of yours on this machine is left alone (`ray stop` would stop every Ray process here).
# Needs `pip install 'runyard[ray]'` (scripts/setup.sh installs it into .venv).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ray_bin=${RUNYARD_RAY_BIN:-$here/.venv/bin/ray}
port=${RUNYARD_RAY_PORT:-26379}
cpus=${RUNYARD_RAY_CPUS:-2}
dir=${RUNYARD_RAY_DIR:-/tmp/runyard-ray-$port}  # short: Ray's unix sockets live under it
export RAY_USAGE_STATS_ENABLED=0
# small object stores: runyard moves no data through Ray, and CI machines have little /dev/shm
common=(--num-cpus="$cpus" --object-store-memory=80000000 --node-ip-address=127.0.0.1 --disable-usage-stats)

# this cluster's processes: those naming its dir, and their descendants (Ray's agents rename themselves
# to "ray::DashboardAgent" and the like, so only their parents tell whose they are)
ours() {
  local pids children
  pids=$(pgrep -f -- "$dir" || true)
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

case "${1:-}" in
  up)
    down
    mkdir -p "$dir"
    # Ray's start-up chatter goes to a log; shown only when a start fails
    "$ray_bin" start --head --port="$port" --temp-dir="$dir" --include-dashboard=false "${common[@]}" \
      >"$dir/start.log" 2>&1 || { cat "$dir/start.log" >&2; exit 1; }
    "$ray_bin" start --address="127.0.0.1:$port" "${common[@]}" >>"$dir/start.log" 2>&1 \
      || { cat "$dir/start.log" >&2; exit 1; }
    echo "address=127.0.0.1:$port"
    ;;
  worker)
    "$ray_bin" start --address="127.0.0.1:$port" "${common[@]}" >>"$dir/start.log" 2>&1 \
      || { cat "$dir/start.log" >&2; exit 1; }
    ;;
  down)
    down
    ;;
  *)
    echo "usage: $0 up|worker|down" >&2
    exit 2
    ;;
esac
