#!/usr/bin/env bash
# The whole test suite. pytest's "no tests collected" (exit 5) counts as a failure here.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
# the layer contract in pyproject.toml: no module imports a layer above its own
.venv/bin/lint-imports || { echo "scripts/test.sh: the import layers are broken (see above)" >&2; exit 1; }
# the suite waits on real processes and clusters far more than it computes: three workers keep two cores busy.
# A file runs whole on one worker (its module fixtures, a Slurm or Ray cluster, start once); the slowest files go
# first (tests/conftest.py). RUNYARD_TEST_WORKERS=0 runs everything in this one process.
.venv/bin/python -m pytest -p no:cacheprovider --durations=25 -n "${RUNYARD_TEST_WORKERS:-3}" --dist loadfile "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "scripts/test.sh: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit "$rc"
