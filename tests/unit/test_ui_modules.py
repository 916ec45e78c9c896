"""The web UI's modules as files: index.html preloads every one (a module it misses still works, but is fetched
only when an import is read, one after another), each is imported (statically, or when its view is first shown)
from main.js's tree, lines stay readable."""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "src" / "runyard" / "server" / "static"
MODULES = sorted(p.name for p in (STATIC / "js").glob("*.js"))


def test_index_preloads_every_module() -> None:
    index = (STATIC / "index.html").read_text()
    preloaded = sorted(re.findall(r'<link rel="modulepreload" href="/static/js/([\w-]+\.js)">', index))
    assert preloaded == MODULES


def test_every_module_is_reached_from_main() -> None:
    seen, todo = set(), ["main.js"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        text = (STATIC / "js" / name).read_text()
        todo += re.findall(r'from "\./([\w-]+\.js)"', text) + re.findall(r'import\("\./([\w-]+\.js)"\)', text)
    assert sorted(seen) == MODULES


def test_no_line_over_120_characters() -> None:
    long = [f"{name}:{i}" for name in MODULES
            for i, line in enumerate((STATIC / "js" / name).read_text().splitlines(), 1) if len(line) > 120]
    assert not long
