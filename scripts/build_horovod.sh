#!/usr/bin/env bash
# Builds Horovod 0.28.1 for the venv's torch from the PyPI sdist, with MPI and Gloo, and caches the
# wheel (HOROVOD_WHEEL_CACHE, default ~/.cache/runyard/wheels) so later set-ups skip the ~4 minute build.
# As published it fails against torch 2.x (C++14 vs torch's C++17): we set CMAKE_CXX_STANDARD 17.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.28.1
cache=${HOROVOD_WHEEL_CACHE:-$HOME/.cache/runyard/wheels}
torch_version=$(.venv/bin/python -c 'import torch; print(torch.__version__.split("+")[0])')
tag="torch${torch_version}"
mkdir -p "$cache/$tag"
if ls "$cache/$tag"/horovod-$VERSION-*.whl >/dev/null 2>&1; then
  .venv/bin/pip install --quiet --no-deps "$cache/$tag"/horovod-$VERSION-*.whl
  .venv/bin/pip install --quiet cloudpickle psutil pyyaml packaging
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/pip install --quiet cloudpickle psutil pyyaml packaging cmake
.venv/bin/pip download --quiet --no-deps --no-binary :all: "horovod==$VERSION" -d "$work"
tar -xzf "$work"/horovod-$VERSION.tar.gz -C "$work"
src="$work/horovod-$VERSION"
sed -i 's/set(CMAKE_CXX_STANDARD 14)/set(CMAKE_CXX_STANDARD 17)/' "$src/CMakeLists.txt" "$src/horovod/torch/CMakeLists.txt"
grep -q 'CMAKE_CXX_STANDARD 17' "$src/horovod/torch/CMakeLists.txt" || \
  sed -i '1i set(CMAKE_CXX_STANDARD 17)' "$src/horovod/torch/CMakeLists.txt"
echo "[horovod] building $VERSION for torch $torch_version (a few minutes)"
MAKEFLAGS=-j2 HOROVOD_WITH_PYTORCH=1 HOROVOD_WITH_MPI=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_TENSORFLOW=1 \
  HOROVOD_WITHOUT_MXNET=1 .venv/bin/pip wheel --no-build-isolation --no-deps -w "$cache/$tag" "$src" >"$work/build.log" 2>&1 \
  || { tail -40 "$work/build.log"; exit 1; }
.venv/bin/pip install --quiet --no-deps "$cache/$tag"/horovod-$VERSION-*.whl
echo "[horovod] installed: $(.venv/bin/python -c 'import horovod; print(horovod.__version__)')"
