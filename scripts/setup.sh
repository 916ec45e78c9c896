#!/usr/bin/env bash
# Installs everything runyard's demo and tests need into ./.venv. Safe to run again: it does
# nothing when the installed set-up matches this file and pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
stamp=.venv/.setup-stamp
want=$(cat scripts/setup.sh scripts/build_horovod.sh pyproject.toml | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/python ]; then
  exit 0
fi

echo "[setup] creating .venv with $PY"
"$PY" -m venv .venv
# torch first and pinned: this machine has the 2.13.0 CPU wheel on disk; an unpinned torch
# would pull a multi-GB CUDA build.
.venv/bin/pip install --quiet --disable-pip-version-check "torch==2.13.0"
.venv/bin/pip install --quiet --disable-pip-version-check -e ".[test]"

# Open MPI for distributed_backend='mpi' (Debian's package; needs root, as on CI and dev machines here)
if ! command -v mpirun >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "[setup] installing Open MPI (openmpi-bin)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openmpi-bin libopenmpi-dev >/dev/null
  else
    echo "[setup] warning: mpirun not found and not root: install openmpi-bin for distributed_backend='mpi'" >&2
  fi
fi
# Slurm and munge for the Slurm target's tests (scripts/slurm_cluster.sh starts a two-node cluster)
if ! command -v slurmctld >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "[setup] installing Slurm (slurm-wlm, munge)"
  [ -n "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock)" ] || apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi
# Debian's Chromium for the web UI's browser tests (driven by Playwright; never `playwright install`)
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "[setup] installing Chromium"
  [ -n "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock)" ] || apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# Horovod built for this torch (cached wheel after the first build)
if command -v mpirun >/dev/null 2>&1; then
  bash scripts/build_horovod.sh
fi
echo "$want" > "$stamp"
echo "[setup] done: $(.venv/bin/python -c 'import torch, runyard; print("torch", torch.__version__, "runyard", runyard.__version__)')"
