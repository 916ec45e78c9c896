#!/usr/bin/env bash
# The tests' base image, without any registry: a minimal Debian (bookworm, with python3 and pip) made by mmdebstrap from
# the Debian mirror, imported into Podman storage under a temp dir (nothing of the machine's own Podman is used).
#   bash scripts/container_image.sh DIR   # prints: storage_conf=DIR/storage.conf image=localhost/runyard-test-debian:bookworm
# Podman and runyard then use that storage when CONTAINERS_STORAGE_CONF=DIR/storage.conf is set. The rootfs tarball
# is kept in $RUNYARD_IMAGE_CACHE (default ~/.cache/runyard/images) so a second session skips mmdebstrap.
set -euo pipefail
dir=${1:?usage: container_image.sh DIR}
image=localhost/runyard-test-debian:bookworm
cache=${RUNYARD_IMAGE_CACHE:-$HOME/.cache/runyard/images}
mkdir -p "$dir/graph" "$dir/run" "$cache"
cat > "$dir/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$dir/graph"
runroot = "$dir/run"
CONF
export CONTAINERS_STORAGE_CONF="$dir/storage.conf"
tarball="$cache/debian-bookworm-python3-pip.tar"
if [ ! -s "$tarball" ]; then
  # a marker file says "this is the image" to the tests; python3 runs the scripts (runyard itself is mounted in),
  # pip installs a run's packages into an image built on top
  mmdebstrap --quiet --format=tar --variant=minbase --include=python3,python3-pip \
    --customize-hook='echo runyard-test-image > "$1/etc/runyard-image"' \
    bookworm "$tarball.part" http://deb.debian.org/debian >"$dir/mmdebstrap.log" 2>&1 \
    || { cat "$dir/mmdebstrap.log" >&2; exit 1; }
  mv "$tarball.part" "$tarball"
fi
opts=(--cgroup-manager=cgroupfs --events-backend=file)
podman "${opts[@]}" import --quiet "$tarball" "$image" >/dev/null
echo "storage_conf=$dir/storage.conf image=$image"
