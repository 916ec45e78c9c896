#!/usr/bin/env bash
# A real two-node Ray cluster on this machine, for runyard's tests and for trying the Ray target:
# a head node and a worker node (two raylets sharing this host), each with $RUNYARD_RAY_CPUS CPUs.
#   bash scripts/ray_cluster.sh up      # prints: address=127.0.0.1:PORT
#   bash scripts/ray_cluster.sh down
# Needs `pip install 'runyard[ray]'` (scripts/setup.sh installs it into .venv).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ray_bin=${RUNYARD_RAY_BIN:-$here/.venv/bin/ray}
port=${RUNYARD_RAY_PORT:-26379}
cpus=${RUNYARD_RAY_CPUS:-2}
export RAY_USAGE_STATS_ENABLED=0
# small object stores: runyard moves no data through Ray, and CI machines have little /dev/shm
common=(--num-cpus="$cpus" --object-store-memory=80000000 --node-ip-address=127.0.0.1 --disable-usage-stats)

case "${1:-}" in
  up)
    "$ray_bin" stop --force >/dev/null 2>&1 || true
    "$ray_bin" start --head --port="$port" --include-dashboard=false "${common[@]}" >/dev/null
    "$ray_bin" start --address="127.0.0.1:$port" "${common[@]}" >/dev/null
    echo "address=127.0.0.1:$port"
    ;;
  down)
    "$ray_bin" stop --force >/dev/null 2>&1 || true
    ;;
  *)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
