"""The service's curated environments (`Environment.get(ws, "AzureML-...")`) as package lists over the base
interpreter.

The service ran each curated name as a container image. runyard has no images: a curated name becomes an
environment layered over the interpreter runyard runs on, so its torch is reused whatever version the name
says, and the packages the image was for are installed into the layer. The table below says, per family,
what stands in for the image; a name of a framework runyard does not run (TensorFlow, Chainer, Spark) is
refused with the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from runyard.errors import InvalidValueError

# The names the service's public notebooks and docs use, listed by Environment.list(ws).
KNOWN_NAMES = (
    "AzureML-Minimal",
    "AzureML-Tutorial",
    "AzureML-PyTorch-1.4-GPU",
    "AzureML-PyTorch-1.6-GPU",
    "AzureML-PyTorch-1.6-CPU",
    "AzureML-acpt-pytorch-1.11-cuda11.3",
    "AzureML-acpt-pytorch-1.13-cuda11.7",
    "AzureML-acpt-pytorch-2.2-cuda12.1",
    "AzureML-sklearn-0.24-ubuntu18.04-py37-cpu",
    "AzureML-sklearn-1.0",
    "AzureML-sklearn-1.5",
)


@dataclass(frozen=True)
class CuratedEnvironment:
    name: str
    pip_packages: tuple[str, ...]
    note: str  # one line: what stands in for the service's image


_PYTORCH = re.compile(r"^azureml-(?:acpt-)?pytorch-(\d+\.\d+)(?:-.*)?$", re.IGNORECASE)
_SKLEARN = re.compile(r"^azureml-sklearn-(\d+\.\d+)(?:-.*)?$", re.IGNORECASE)
# what the service's sklearn images installed beside scikit-learn (unpinned there too)
_SKLEARN_IMAGE_PACKAGES = ("numpy", "scipy", "pandas", "matplotlib", "tqdm", "psutil")
_REFUSED = re.compile(r"^azureml-(tensorflow|chainer|pyspark|automl|triton|onnx|lightgbm|responsibleai)",
                      re.IGNORECASE)


def base_torch_version() -> str | None:
    """The torch of the interpreter runyard runs on (without a local label such as +cpu)."""
    try:
        return version("torch").split("+")[0]
    except PackageNotFoundError:
        return None


def matching_torchvision(torch_version: str) -> str | None:
    """torchvision's release for a torch 2.x release (2.0 -> 0.15, 2.13 -> 0.28), as `torchvision==0.N.*`."""
    match = re.match(r"^2\.(\d+)", torch_version)
    return f"torchvision==0.{int(match.group(1)) + 15}.*" if match else None


def is_curated_name(name: str) -> bool:
    return name.lower().startswith("azureml-")


def curated(name: str) -> CuratedEnvironment:
    """The stand-in for a curated name; InvalidValueError for a name no stand-in exists for."""
    lowered = name.lower()
    if lowered in ("azureml-minimal", "azureml-default"):
        return CuratedEnvironment(name, (), f"{name}: the base interpreter as it is (no container image)")
    if lowered == "azureml-tutorial":
        return CuratedEnvironment(name, ("scikit-learn", "matplotlib", "pandas"),
                                  f"{name}: scikit-learn, matplotlib and pandas over the base interpreter "
                                  "(no container image)")
    if match := _PYTORCH.match(name):
        torch = base_torch_version()
        vision = matching_torchvision(torch) if torch else None
        packages = (vision,) if vision else ()
        return CuratedEnvironment(name, packages, (
            f"{name}: stands in as the base interpreter's torch {torch or '(not installed)'} "
            f"(the name asks for {match.group(1)}; no container image)"
            + (f", with {vision}" if vision else "")))
    if match := _SKLEARN.match(name):
        wanted = match.group(1)
        return CuratedEnvironment(name, (f"scikit-learn=={wanted}.*", *_SKLEARN_IMAGE_PACKAGES),
                                  f"{name}: scikit-learn {wanted} with {', '.join(_SKLEARN_IMAGE_PACKAGES)} "
                                  "over the base interpreter (no container image)")
    if _REFUSED.match(name):
        raise InvalidValueError("name", name, "is a curated environment of a framework runyard does not run",
                                "describe what the script needs instead: Environment('my-env') with "
                                "env.python.conda_dependencies = CondaDependencies.create(pip_packages=[...])")
    raise InvalidValueError("name", name, "is not a curated environment runyard knows",
                            f"use one of Environment.list(ws) (e.g. {KNOWN_NAMES[2]!r}, {KNOWN_NAMES[-1]!r}), or "
                            "register your own with Environment(name).register(ws)")

