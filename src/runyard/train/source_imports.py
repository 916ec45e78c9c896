"""Whether a source folder's Python files import a module: read, never run (a regular expression over each file's
import lines, so a folder of thousands of files is scanned in milliseconds)."""

from __future__ import annotations

import os
import re
from pathlib import Path

SKIPPED_FOLDERS = frozenset({".git", ".venv", "venv", "__pycache__", "node_modules", ".runyard", "outputs", "logs"})
MAX_FILES = 5000


def imports_module(source: str | os.PathLike[str], module: str) -> bool:
    name = re.escape(module)  # `from m import`, `import m`, `import torch, m as x`
    pattern = re.compile(rf"^\s*(?:from\s+{name}\b|import\s+[^#\n]*(?<![\w.]){name}\b)", re.MULTILINE)
    seen = 0
    for root, folders, files in os.walk(source):
        folders[:] = [f for f in folders if f not in SKIPPED_FOLDERS]
        for name in files:
            if not name.endswith(".py"):
                continue
            seen += 1
            if seen > MAX_FILES:
                return False
            try:
                if pattern.search(Path(root, name).read_text(errors="replace")):
                    return True
            except OSError:
                continue
    return False
