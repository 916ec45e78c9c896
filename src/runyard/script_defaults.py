"""The defaults an entry script's argparse parser gives its options, read from its source (never run): what a
run used for an option it was not passed, so comparing runs shows the value, not a blank. Only literal defaults
(`default=0.01`, `action='store_true'`) are known; anything computed is left out."""

from __future__ import annotations

import ast
import json
import threading
from pathlib import Path
from typing import Any

RESOLVED_PROPERTY = "runyard.resolvedArguments"
MAX_SCRIPT_BYTES = 1 << 20
# CPython 3.11's AST builder keeps its recursion depth in interpreter-wide state (CPython gh-106905): threads
# parsing at once (runs submitted from a thread pool) can fail with "AST constructor recursion depth mismatch"
_PARSING = threading.Lock()


def _option_name(call: ast.Call) -> str | None:
    names = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    longs = [n for n in names if n.startswith("--")] or [n for n in names if n.startswith("-")]
    return longs[0].lstrip("-") if longs else None


def _default(call: ast.Call) -> tuple[bool, Any]:
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    if "default" in keywords:
        try:
            return True, ast.literal_eval(keywords["default"])
        except ValueError:
            return False, None
    action = keywords.get("action")
    if isinstance(action, ast.Constant) and action.value in ("store_true", "store_false"):
        return True, action.value == "store_false"
    return True, None  # argparse's own default


def argument_defaults(script: Path) -> dict[str, Any]:
    try:
        if script.stat().st_size > MAX_SCRIPT_BYTES:
            return {}
        source = script.read_text(errors="replace")
        with _PARSING:
            tree = ast.parse(source)
    except (OSError, SyntaxError, ValueError, SystemError):  # SystemError: that CPython bug, from another parser
        return {}  # defaults unknown: a submit never fails over what only fills in a comparison
    found: dict[str, Any] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument":
            name = _option_name(node)
            known, value = _default(node)
            if name and known and name not in found:
                found[name] = value
    return found


def defaults_property(script: Path) -> dict[str, str]:
    found = argument_defaults(script)
    return {RESOLVED_PROPERTY: json.dumps(found, default=str)} if found else {}
