"""The command that installs one of runyard's extras where it is missing. runyard is installed from a clone or
a wheel, not from the package index, so `pip install 'runyard[server]'` would fail: the hint names the extra's
own packages (read from the installed metadata), which install from the index anywhere."""

from __future__ import annotations

import re

_EXTRA = re.compile(r"""^(?P<req>[^;]+);\s*extra\s*==\s*["'](?P<extra>[\w-]+)["']\s*$""")


def extra_packages(extra: str) -> list[str]:
    from importlib.metadata import PackageNotFoundError, distribution  # only when a hint is needed

    try:
        requires = distribution("runyard").requires or []
    except PackageNotFoundError:
        return []
    found = [_EXTRA.match(r) for r in requires]
    return [m.group("req").strip() for m in found if m and m.group("extra") == extra]


def install_extra(extra: str) -> str:
    """e.g. "pip install 'fastapi<1,>=0.110' 'uvicorn<1,>=0.29' (runyard's `server` extra)"."""
    packages = extra_packages(extra)
    if not packages:
        return f"pip install '/path/to/runyard[{extra}]' (from your clone or wheel of runyard)"
    return "pip install " + " ".join(f"'{p}'" for p in packages) + f" (runyard's `{extra}` extra)"
