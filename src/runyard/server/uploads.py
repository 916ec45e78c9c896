"""Request bodies written to disk as they arrive (the guard bounds their size while they are read), so
an upload never sits whole in the server's memory, and a reader never sees half a file."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from fastapi import Request


async def receive_to(request: Request, target: Path) -> str:
    """Write the body to `target` (atomically: a hidden partial file, then a rename); its sha256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name[:100]}.", suffix=".incoming")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in request.stream():
                digest.update(chunk)
                f.write(chunk)
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return digest.hexdigest()
