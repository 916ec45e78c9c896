"""The web UI's files over HTTP: index.html names each file by its content's hash, an answer at that hash may be
kept for good, anything else is revalidated, and an edited file gets a new address at once (no restart)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from runyard.server.static_assets import IMMUTABLE, REVALIDATE, build_static_router  # noqa: E402

STATIC = Path(__file__).resolve().parents[2] / "src" / "runyard" / "server" / "static"


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "static"
    shutil.copytree(STATIC, root)
    app = FastAPI()
    app.include_router(build_static_router(root))
    return root, TestClient(app)


def _version(index: str, path: str) -> str:
    found = re.search(rf'"/static/{re.escape(path)}\?v=([0-9a-f]+)"', index)
    assert found, f"{path} is not named with its version in index.html"
    return found[1]


def test_index_names_every_file_by_its_hash_and_may_be_kept_only_with_a_revalidation(served):
    root, client = served
    answer = client.get("/")
    assert answer.status_code == 200 and answer.headers["cache-control"] == REVALIDATE
    index = answer.text
    assert "runyard:importmap" not in index and '<script type="importmap">' in index
    for path in ("js/main.js", "js/api.js", "vendor/uPlot.iife.min.js", "app.css"):
        _version(index, path)
    # the page's own policy allows its import map, by the digest of its text, and no other inline script
    policy = answer.headers["content-security-policy"]
    assert re.search(r"script-src 'self' 'sha256-[A-Za-z0-9+/]+=*';", policy), policy
    again = client.get("/", headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304 and not again.content


def test_a_file_at_its_hash_is_kept_for_good_and_any_other_address_is_revalidated(served):
    root, client = served
    version = _version(client.get("/").text, "js/api.js")
    kept = client.get(f"/static/js/api.js?v={version}")
    assert kept.status_code == 200 and kept.headers["cache-control"] == IMMUTABLE
    assert kept.headers["content-type"].startswith("text/javascript") and b"export" in kept.content
    for other in ("/static/js/api.js", "/static/js/api.js?v=0123456789abcdef"):
        assert client.get(other).headers["cache-control"] == REVALIDATE
    assert client.get("/static/js/api.js", headers={"If-None-Match": kept.headers["etag"]}).status_code == 304
    for missing in ("/static/js/nope.js", "/static/../index.html", "/static/%2E%2E/%2E%2E/etc/passwd"):
        assert client.get(missing).status_code == 404, missing


def test_an_edited_file_gets_a_new_address_and_index_names_it(served):
    root, client = served
    before = client.get("/").text
    old = _version(before, "js/api.js")
    (root / "js" / "api.js").write_text((root / "js" / "api.js").read_text() + "\n// edited\n")
    after = client.get("/").text
    new = _version(after, "js/api.js")
    assert new != old and _version(after, "js/main.js") == _version(before, "js/main.js")
    assert client.get(f"/static/js/api.js?v={new}").text.endswith("// edited\n")
    assert client.get(f"/static/js/api.js?v={old}").headers["cache-control"] == REVALIDATE  # never kept for good
