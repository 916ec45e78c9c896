"""What recording a dataset's digest costs a run: a 1 GB folder hashed the first time (read once) and then
from the cache (size + mtime unchanged), side by side with coreutils' sha256sum over the same files and a
plain read. The digest is computed on a thread while the run goes on, so it delays no rank's start;
this is the work it adds.

    .venv/bin/python bench/data_digests.py [--gb 1] [--files 1000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=1.0)
    parser.add_argument("--files", type=int, default=1000)
    args = parser.parse_args()
    from runyard.provenance import DigestCache, content_digest

    tmp = Path(tempfile.mkdtemp(prefix="runyard-digestbench-"))
    try:
        data = tmp / "data"
        data.mkdir()
        size = int(args.gb * 2**30 / args.files)
        block = os.urandom(1 << 20)
        for i in range(args.files):
            with open(data / f"part-{i:05d}.bin", "wb") as f:
                left = size
                while left > 0:
                    f.write(block[: min(left, len(block))])
                    left -= len(block)
                f.write(i.to_bytes(8, "little"))  # every file differs
        names = sorted(str(p) for p in data.iterdir())

        def timed(fn) -> float:
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0

        read = timed(lambda: [Path(n).read_bytes() and None for n in names])
        coreutils = timed(lambda: subprocess.run(["sha256sum", *names], stdout=subprocess.DEVNULL, check=True))
        cache = DigestCache(tmp / "digests.db")
        first = timed(lambda: content_digest(data, cache))
        hashed_first = cache.hashed_bytes
        cached = timed(lambda: content_digest(data, cache))
        print(f"{args.files} files, {args.gb:g} GB (page cache warm for all; os.cpu_count()={os.cpu_count()})")
        print(f"{'':38} {'seconds':>9} {'vs sha256sum':>13}")
        print(f"{'plain read':38} {read:9.2f} {read / coreutils:12.2f}x")
        print(f"{'sha256sum (coreutils)':38} {coreutils:9.2f} {1:12.2f}x")
        print(f"{'runyard digest, first time':38} {first:9.2f} {first / coreutils:12.2f}x   ({hashed_first / 2**30:.2f} GB read)")
        print(f"{'runyard digest, cached (unchanged)':38} {cached:9.3f} {cached / coreutils:12.3f}x   "
              f"({(cache.hashed_bytes - hashed_first) / 2**30:.2f} GB read)")
        cache.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
