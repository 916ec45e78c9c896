"""A progress bar (rich) for files moving to or from a datastore: files and bytes done, speed. Drawn only on
a terminal; elsewhere (a log file, CI) the one summary line the caller prints is all there is."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Transfer:
    def __init__(self, progress: Any = None, task: Any = None, files: int = 0) -> None:
        self._progress, self._task, self._files, self.done = progress, task, files, 0

    def advance(self, size: int) -> None:
        self.done += 1
        if self._progress is not None:
            self._progress.update(self._task, advance=size, description=f"{self._verb} {self.done}/{self._files} files")

    _verb = ""


@contextmanager
def transfer(verb: str, files: int, total_bytes: int | None, enabled: bool, console: Any = None
             ) -> Iterator[Transfer]:
    """`with transfer('uploading', n, total, show_progress) as t: ... t.advance(size)` per file; a total of None
    (downloads, whose sizes are known once fetched) draws the bytes done without a bar's end."""
    if not enabled or (console is None and not sys.stderr.isatty()) or not files:
        yield Transfer()
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=console or Console(stderr=True), transient=True) as progress:
        task = progress.add_task(f"{verb} 0/{files} files", total=total_bytes)
        t = Transfer(progress, task, files)
        t._verb = verb
        yield t
