"""Choosing the interpreter a run's ranks use.

Today: the base interpreter (the one runyard runs under, whose torch is reused), with each
requested package checked against it; a missing package fails the run in Preparing, naming it.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version

from packaging.requirements import InvalidRequirement, Requirement

from runyard.errors import InvalidValueError
from runyard.spec import EnvironmentSpec


def _requirements(env: EnvironmentSpec) -> list[str]:
    lines = list(env.pip_packages) + list(env.conda_packages)
    if env.pip_requirements:
        lines += [ln.split("#")[0].strip() for ln in env.pip_requirements.splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("-")]


def prepare_interpreter(env: EnvironmentSpec, log: list[str]) -> tuple[str, dict[str, str]]:
    """Returns (interpreter path, resolved packages name -> version)."""
    if env.user_managed:
        interpreter = env.interpreter if env.interpreter and env.interpreter != "python" else sys.executable
        log.append(f"user-managed environment: {interpreter}")
        return interpreter, {}
    resolved: dict[str, str] = {}
    missing: list[str] = []
    for line in _requirements(env):
        try:
            req = Requirement(line.split("::")[-1].replace("=", "==", 1) if "=" in line and "==" not in line
                              and not any(op in line for op in "<>!~") else line.split("::")[-1])
        except InvalidRequirement:
            raise InvalidValueError("pip_packages", line, "is not a valid requirement",
                                    "write it as name, name==version or name>=version") from None
        try:
            installed = version(req.name)
        except PackageNotFoundError:
            missing.append(line)
            continue
        if req.specifier and not req.specifier.contains(installed, prereleases=True):
            missing.append(f"{line} (installed: {installed})")
            continue
        resolved[req.name] = installed
    if env.framework_version:
        torch_version = resolved.get("torch") or _installed("torch")
        if not torch_version or not torch_version.startswith(env.framework_version):
            missing.append(f"torch=={env.framework_version}.* (framework_version; installed: {torch_version})")
    if missing:
        raise InvalidValueError("pip_packages", missing, "are not installed in the base interpreter " + sys.executable,
                                "install them there (pip install ...) or remove them from the run's packages")
    for name, ver in sorted(resolved.items()):
        log.append(f"using installed {name}=={ver}")
    return sys.executable, resolved


def _installed(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None
