#!/usr/bin/env bash
# Installs everything runyard's tests need into ./.venv (the demo's set-up, scripts/setup_demo.sh, first),
# then Open MPI, Slurm and Chromium from Debian and Horovod. Safe to run again: it does nothing when the
# installed set-up matches these scripts and pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=.venv/.setup-stamp
want=$(cat scripts/setup.sh scripts/setup_demo.sh scripts/build_horovod.sh pyproject.toml | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/python ]; then
  exit 0
fi

bash scripts/setup_demo.sh  # the venv, torch and runyard
echo "[setup] installing the test extra (server, Ray, Optuna, Playwright, moto, Hypothesis, ...)"
.venv/bin/pip install --quiet --disable-pip-version-check -e ".[test]"

# System packages from Debian (needs root, as on CI and the dev machines here):
# Open MPI for distributed_backend='mpi', Slurm + munge for the Slurm target's test cluster, PostgreSQL,
# Chromium for the web UI's browser tests (driven by Playwright; never `playwright install`).
apt_updated=""
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "[setup] warning: not root, cannot install $*; install them to run every test" >&2
    return 0
  fi
  if [ -z "$apt_updated" ]; then apt-get update -qq; apt_updated=1; fi
  echo "[setup] installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
command -v mpirun >/dev/null 2>&1 || apt_install openmpi-bin libopenmpi-dev
command -v slurmctld >/dev/null 2>&1 || apt_install slurm-wlm munge
command -v chromium >/dev/null 2>&1 || apt_install chromium
# PostgreSQL for the team server's store tests (a throwaway cluster per test session: scripts/postgres_cluster.sh)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_install postgresql
# Podman (with runc: crun refuses cgroup v1 hybrid layouts) for runs in containers; mmdebstrap makes the tests'
# base image from the Debian mirror (no container registry needed): scripts/container_image.sh
{ command -v podman && command -v runc && command -v mmdebstrap && command -v catatonit; } >/dev/null 2>&1 \
  || apt_install podman runc catatonit mmdebstrap
# Horovod built for this torch (cached wheel after the first build)
if command -v mpirun >/dev/null 2>&1; then
  bash scripts/build_horovod.sh
fi
echo "$want" > "$stamp"
echo "[setup] done: $(.venv/bin/python -c 'import torch, runyard; print("torch", torch.__version__, "runyard", runyard.__version__)')"
