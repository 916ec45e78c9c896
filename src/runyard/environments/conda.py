"""conda_packages: with `micromamba` or `conda` on PATH they are installed by it into a prefix inside
the environment; without either (this machine reaches no conda channel) they are installed with pip
under the same names, with a one-line warning per package."""

from __future__ import annotations

import shutil
from collections.abc import Callable

import yaml

from runyard.spec import EnvironmentSpec

# conda names whose PyPI name differs
PIP_NAMES = {"pytorch": "torch", "pytorch-cpu": "torch", "py-opencv": "opencv-python", "py-xgboost": "xgboost",
             "tensorflow-gpu": "tensorflow", "pillow-simd": "pillow"}


def conda_tool() -> str | None:
    return shutil.which("micromamba") or shutil.which("conda")


def conda_to_pip(spec: str) -> str:
    """`numpy=1.26` -> `numpy==1.26.*`; `conda-forge::pytorch` -> `torch`."""
    name = spec.split("::")[-1].strip()
    for sep in ("==", ">=", "<=", "="):
        if sep in name:
            pkg, _, ver = name.partition(sep)
            pkg = PIP_NAMES.get(pkg.strip(), pkg.strip())
            if sep == "=":
                return f"{pkg}=={ver.rstrip('*').rstrip('.')}.*" if ver else pkg
            return f"{pkg}{sep}{ver}"
    return PIP_NAMES.get(name, name)


def conda_packages(spec: EnvironmentSpec) -> tuple[list[str], list[str]]:
    """(conda packages, pip packages) named by conda_packages and the conda file."""
    conda = list(spec.conda_packages)
    pip: list[str] = []
    if spec.conda_specification:
        data = yaml.safe_load(spec.conda_specification) or {}
        for dep in data.get("dependencies", []) or []:
            if isinstance(dep, dict):
                pip += [str(p) for p in dep.get("pip", [])]
            elif str(dep).split("=")[0].strip() not in ("python", "pip"):
                conda.append(str(dep))
    return conda, pip


def conda_requirements(spec: EnvironmentSpec, log: Callable[[str], None]) -> list[str]:
    """The pip requirement lines standing in for conda packages (when no conda tool is present)."""
    conda, pip = conda_packages(spec)
    if conda and conda_tool() is None:
        for package in conda:
            log(f"warning: conda package {package!r} installed with pip as {conda_to_pip(package)!r} "
                "(no conda or micromamba on PATH)")
        return pip + [conda_to_pip(p) for p in conda]
    return pip
