"""The environment lock names, for each distribution, the one Python imports (the first on the path), and an
install that is not from a wheel (editable, a source tree's .egg-info) the same way in both of its forms."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from runyard.provenance import _LOCK_SCRIPT, NOT_FROM_A_WHEEL


def _lock(*path: Path) -> dict[str, list[str]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, path))}
    out = subprocess.run([sys.executable, "-c", _LOCK_SCRIPT], env=env, capture_output=True, text=True, check=True)
    packages = json.loads(out.stdout)["packages"]
    return {p[0]: p[1:] for p in packages if p[0].lower().startswith("mypkg")}


def _metadata(folder: Path, name: str, version: str) -> None:
    folder.mkdir(parents=True)
    (folder / ("PKG-INFO" if folder.suffix == ".egg-info" else "METADATA")).write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def test_one_entry_per_name_whichever_form_comes_first(tmp_path):
    site, src = tmp_path / "site", tmp_path / "src"
    _metadata(site / "mypkg-1.0.dist-info", "mypkg", "1.0")
    (site / "mypkg-1.0.dist-info" / "RECORD").write_text("mypkg/__init__.py,,\n")
    (site / "mypkg-1.0.dist-info" / "direct_url.json").write_text(
        json.dumps({"url": "file:///x", "dir_info": {"editable": True}}))
    _metadata(src / "mypkg.egg-info", "mypkg", "1.0")  # the same project's source tree: no RECORD
    site_first, src_first = _lock(site, src), _lock(src, site)
    assert site_first == src_first == {"mypkg": ["1.0", NOT_FROM_A_WHEEL]}


def test_a_wheel_install_is_named_by_its_record_and_the_first_on_the_path_wins(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _metadata(a / "mypkg_tools-2.0.dist-info", "mypkg-tools", "2.0")
    (a / "mypkg_tools-2.0.dist-info" / "RECORD").write_text("mypkg_tools/__init__.py,sha256=abc,10\n")
    _metadata(b / "mypkg_tools-1.0.dist-info", "mypkg_tools", "1.0")
    (b / "mypkg_tools-1.0.dist-info" / "RECORD").write_text("mypkg_tools/__init__.py,sha256=def,10\n")
    (version, digest), = _lock(a, b).values()
    assert version == "2.0" and len(digest) == 64
    assert list(_lock(b, a).values())[0][0] == "1.0"
