"""Fixtures the browser tests share."""

from __future__ import annotations

import pytest


@pytest.fixture
def ui(workspace, tmp_path):
    """(base URL, page): the test's workspace served by `runyard server` on loopback, and a Chromium page."""
    from tests.web import served_page

    with served_page(workspace, tmp_path) as (base, page):
        yield base, page
