#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for runyard's tests and for trying the team server: initdb in a folder,
# the server on 127.0.0.1 and a free port, a database `runyard` owned by the user who runs this.
#   bash scripts/postgres_cluster.sh up DIR [PORT]   # prints the store URI: postgresql://...@127.0.0.1:PORT/runyard
#   bash scripts/postgres_cluster.sh down DIR
# Needs Debian's postgresql (scripts/setup.sh installs it). As root, the server runs as the `postgres` user
# (PostgreSQL refuses root) and trusts loopback connections: a test cluster, never a production one.
set -euo pipefail
cmd=${1:?up or down}
dir=${2:?a folder for the cluster}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[ -x "$bin/initdb" ] || { echo "postgres_cluster.sh: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
  up)
    port=${3:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"  # its parent folders must let postgres through (/tmp does)
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_owner "$bin/initdb" -D "$dir/data" -U runyard -A trust --no-sync -E UTF8 >"$dir/initdb.log"
    fi
    if as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then  # already up: its address again
      echo "postgresql://runyard@127.0.0.1:$(cat "$dir/port")/runyard"
      exit 0
    fi
    echo "$port" > "$dir/port"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" >/dev/null
    as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U runyard -d postgres -qAtc \
      "SELECT 1 FROM pg_database WHERE datname='runyard'" | grep -q 1 || \
      as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U runyard runyard
    echo "postgresql://runyard@127.0.0.1:$port/runyard"
    ;;
  down)
    [ -f "$dir/data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null || true
    ;;
  *) echo "usage: postgres_cluster.sh up|down DIR [PORT]" >&2; exit 2 ;;
esac
