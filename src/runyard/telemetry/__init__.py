"""`azureml.telemetry`: runyard sends no diagnostics anywhere, so these only record the wish."""

from __future__ import annotations

import logging
from typing import Any

_log = logging.getLogger(__name__)
_collection = {"send_diagnostics": False}


def set_diagnostics_collection(send_diagnostics: bool = True, verbose: bool = True, reset: bool = False,
                               path: Any = None) -> None:
    """Accepted as the service did; nothing is ever sent (runyard has no telemetry)."""
    _collection["send_diagnostics"] = bool(send_diagnostics) and not reset
    _log.info("runyard collects no diagnostics; set_diagnostics_collection(%s) changes nothing", send_diagnostics)


def get_diagnostics_collection_info() -> dict[str, Any]:
    return dict(_collection)


__all__ = ["get_diagnostics_collection_info", "set_diagnostics_collection"]
