#!/usr/bin/env bash
# The demo job: trains the digits classifier as a tracked run on the workspace ./.runyard.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_demo.sh
exec .venv/bin/python examples/digits/run_demo.py "$@"
