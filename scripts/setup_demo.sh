#!/usr/bin/env bash
# What the demo needs, nothing more: ./.venv with torch (pinned) and runyard with its `examples` extra.
# Safe to run again: it does nothing when the installed set-up matches this file and pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
stamp=.venv/.demo-stamp
want=$(cat scripts/setup_demo.sh pyproject.toml | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/python ]; then
  exit 0
fi

echo "[setup] creating .venv with $PY"
"$PY" -m venv .venv
# torch first and pinned: this machine has the 2.13.0 CPU wheel on disk; an unpinned torch
# would pull a multi-GB CUDA build.
echo "[setup] installing torch 2.13.0"
.venv/bin/pip install --quiet --disable-pip-version-check "torch==2.13.0"
echo "[setup] installing runyard (with the examples extra: scikit-learn for the digits data)"
.venv/bin/pip install --quiet --disable-pip-version-check -e ".[examples]"
echo "$want" > "$stamp"
echo "[setup] demo ready: $(.venv/bin/python -c 'import torch, runyard; print("torch", torch.__version__, "runyard", runyard.__version__)')"
