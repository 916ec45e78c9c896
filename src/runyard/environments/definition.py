"""Environment definitions (the service's Environment / CondaDependencies) -> EnvironmentSpec.

Building and caching the environment a spec describes is the supervisor's job (see launch/).
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from packaging.requirements import InvalidRequirement, Requirement

from runyard.environments.conda import conda_to_pip
from runyard.environments.curated import KNOWN_NAMES, curated, is_curated_name
from runyard.errors import InvalidTypeError, InvalidValueError, WorkspaceError
from runyard.spec import ContainerSpec, EnvironmentSpec

# the service's default base image (what `docker.enabled = True` alone runs in)
DEFAULT_BASE_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04"

if TYPE_CHECKING:
    from runyard.layout import ConfiguredWorkspace

_log = logging.getLogger(__name__)


def check_requirements(field: str, packages: Any) -> tuple[str, ...]:
    """Each entry must be one PEP 508 requirement ("torch==2.1", "scikit-learn>=1.3")."""
    if packages is None:
        return ()
    if isinstance(packages, str) or not isinstance(packages, Iterable):
        raise InvalidTypeError(field, packages, "must be a list of package names",
                               f"pass {field}=['numpy', 'scikit-learn>=1.3']")
    checked = []
    for p in packages:
        if not isinstance(p, str) or not p.strip():
            raise InvalidTypeError(field, p, "is not a package name", "pass strings such as 'numpy==2.1'")
        try:
            Requirement(conda_to_pip(p) if field.startswith("conda") else p)
        except InvalidRequirement as e:
            raise InvalidValueError(field, p, f"is not a valid requirement ({e})",
                                    "write it as name, name==version or name>=version") from None
        checked.append(p.strip())
    return tuple(checked)


def read_text_file(field: str, path: str | os.PathLike[str] | None, *roots: Path) -> str | None:
    """Read a requirements/conda file given absolute, relative to the source folder, or to the cwd."""
    if path is None:
        return None
    candidates = [Path(path)] if Path(path).is_absolute() else [r / path for r in roots] + [Path(path)]
    for c in candidates:
        if c.is_file():
            return c.read_text(encoding="utf-8")
    raise InvalidValueError(field, str(path), "is not an existing file",
                            "pass a path relative to source_directory or an absolute path")


class CondaDependencies:
    def __init__(self, conda_dependencies_file_path: str | None = None, _underlying_structure: Any = None) -> None:
        self.pip_packages: list[str] = []
        self.conda_packages: list[str] = []
        self.python_version: str | None = None
        if conda_dependencies_file_path:
            self._load(Path(conda_dependencies_file_path).read_text())

    @classmethod
    def create(cls, pip_packages: Iterable[str] | None = None, conda_packages: Iterable[str] | None = None,
               python_version: str | None = None, pin_sdk_version: bool = True, **_: Any) -> CondaDependencies:
        deps = cls()
        deps.pip_packages = list(check_requirements("pip_packages", pip_packages))
        deps.conda_packages = list(check_requirements("conda_packages", conda_packages))
        deps.python_version = python_version
        return deps

    def _load(self, text: str) -> None:
        data = yaml.safe_load(text) or {}
        for dep in data.get("dependencies", []) or []:
            if isinstance(dep, dict):
                self.pip_packages += [str(p) for p in dep.get("pip", [])]
            elif str(dep).split("=")[0].strip() == "python":
                self.python_version = str(dep).partition("=")[2].strip("=") or None
            elif str(dep).split("=")[0].strip() != "pip":
                self.conda_packages.append(str(dep))

    def add_pip_package(self, pip_package: str) -> None:
        self.pip_packages += check_requirements("pip_package", [pip_package])

    def add_conda_package(self, conda_package: str) -> None:
        self.conda_packages += check_requirements("conda_package", [conda_package])

    def serialize_to_string(self) -> str:
        deps: list[Any] = [f"python={self.python_version}"] if self.python_version else []
        deps += self.conda_packages + (["pip", {"pip": self.pip_packages}] if self.pip_packages else [])
        return str(yaml.safe_dump({"name": "project_environment", "dependencies": deps}, sort_keys=False))


class PythonSection:
    def __init__(self) -> None:
        self.conda_dependencies = CondaDependencies()
        self.user_managed_dependencies = False
        self.interpreter_path = "python"
        self.conda_dependencies_file: str | None = None


class DockerSection:
    """The service's `env.docker`: with `enabled` (or a run's DockerConfiguration(use_docker=True)), a
    `base_dockerfile`, or a `base_image` other than the service's default, each rank runs in a container."""

    def __init__(self) -> None:
        self.enabled = False
        self.base_image: str | None = DEFAULT_BASE_IMAGE
        self.base_dockerfile: str | None = None   # the Dockerfile's text, or a path to one
        self.base_image_registry: Any = None
        self.gpu_support = False
        self.shm_size: str | None = None
        self.arguments: list[str] = []

    def wanted(self, use_docker: bool | None) -> bool:
        if use_docker is False:
            return False  # DockerConfiguration(use_docker=False): on the host, whatever the environment says
        return bool(self.enabled or use_docker or self.base_dockerfile
                    or (self.base_image and self.base_image != DEFAULT_BASE_IMAGE))

    def container_spec(self, use_docker: bool | None = None, shm_size: str | None = None,
                       arguments: Any = None) -> ContainerSpec | None:
        """What a run's ranks run in, or None to run them as processes of the run's virtual environment."""
        if not self.wanted(use_docker):
            return None
        dockerfile, context, digest = "", "", ""
        if self.base_dockerfile:
            dockerfile, context = _dockerfile(self.base_dockerfile)
            digest = folder_digest(context) if context else ""
        extra = arguments if arguments is not None else self.arguments
        if isinstance(extra, str) or not isinstance(extra, (list, tuple)):
            raise InvalidTypeError("arguments", extra, "must be a list of strings",
                                   "pass e.g. DockerConfiguration(use_docker=True, arguments=['--cap-add', 'SYS_PTRACE'])")
        return ContainerSpec(image="" if dockerfile else (self.base_image or DEFAULT_BASE_IMAGE),
                             dockerfile=dockerfile, context=context, context_digest=digest,
                             shm_size=str(shm_size or self.shm_size or "2g"), arguments=tuple(extra))


def _dockerfile(given: str) -> tuple[str, str]:
    """(the Dockerfile's text, its build context folder): a path names both; text has no context."""
    if "\n" not in given and len(given) < 4096:
        path = Path(given).expanduser()
        if path.is_file():
            return path.read_text(), str(path.resolve().parent)
        if path.is_dir() and (path / "Dockerfile").is_file():
            return (path / "Dockerfile").read_text(), str(path.resolve())
    if not given.lstrip().upper().startswith(("FROM", "#", "ARG")):
        raise InvalidValueError("docker.base_dockerfile", given[:80], "is neither a Dockerfile's text nor a path "
                                "to one", "pass the file's path, or its text starting with FROM ...")
    return given, ""


def folder_digest(folder: str) -> str:
    """What a build context holds (names and contents), so a changed file means a new image."""
    h = hashlib.sha256()
    root = Path(folder)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


class Environment:
    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name.strip():
            raise InvalidValueError("name", name, "must be a non-empty string", "pass Environment('my-env')")
        self.name = name
        self.version: str | None = None
        self.python = PythonSection()
        self.docker = DockerSection()
        self.environment_variables: dict[str, str] = {}
        self.framework_version: str | None = None
        self.description: str | None = None
        self._pip_requirements: str | None = None

    @classmethod
    def from_pip_requirements(cls, name: str, file_path: str | os.PathLike[str], pip_version: str | None = None
                              ) -> Environment:
        """As the service did: the file's requirements become env.python.conda_dependencies' pip packages;
        pip options in it (--index-url, -e ...) are kept as requirement-file lines."""
        env = cls(name)
        lines = [ln.split(" #")[0].strip() for ln in (read_text_file("file_path", file_path) or "").splitlines()]
        lines = [ln for ln in lines if ln and not ln.startswith("#")]
        env.python.conda_dependencies = CondaDependencies.create(pip_packages=[ln for ln in lines
                                                                               if not ln.startswith("-")])
        options = [ln for ln in lines if ln.startswith("-")]
        env._pip_requirements = "\n".join(options) + "\n" if options else None
        return env

    @classmethod
    def from_dockerfile(cls, name: str, dockerfile: str | os.PathLike[str], conda_specification: Any = None,
                        pip_requirements: Any = None) -> Environment:
        """As the service's: ranks run in the image built from `dockerfile` (its text, or a path: its folder is
        then the build context), with the pip requirements installed on top."""
        env = cls.from_pip_requirements(name, pip_requirements) if pip_requirements else \
            cls.from_conda_specification(name, conda_specification) if conda_specification else cls(name)
        given = os.fspath(dockerfile)
        _dockerfile(given)  # a bad value fails here, naming the field
        env.docker.base_dockerfile = given
        env.docker.base_image = None
        env.docker.enabled = True
        return env

    @classmethod
    def from_conda_specification(cls, name: str, file_path: str | os.PathLike[str]) -> Environment:
        env = cls(name)
        text = read_text_file("file_path", file_path)
        env.python.conda_dependencies = CondaDependencies()
        env.python.conda_dependencies._load(text or "")
        return env

    def to_spec(self) -> EnvironmentSpec:
        deps = self.python.conda_dependencies
        variables = tuple(sorted((str(k), str(v)) for k, v in self.environment_variables.items()))
        return EnvironmentSpec(
            name=self.name,
            pip_packages=check_requirements("pip_packages", deps.pip_packages),
            conda_packages=check_requirements("conda_packages", deps.conda_packages),
            pip_requirements=self._pip_requirements,
            framework_version=self.framework_version,
            python_version=deps.python_version,
            variables=variables,
            user_managed=bool(self.python.user_managed_dependencies),
            interpreter=self.python.interpreter_path if self.python.user_managed_dependencies else None,
        )

    # -- registry (kept in the workspace config, versioned) -------------------------------------
    def register(self, workspace: ConfiguredWorkspace) -> Environment:
        versions = workspace.config_section("environments").get(self.name, [])
        entry = {"spec": spec_to_dict(self.to_spec()), "docker": self._docker_dict()}
        if versions and versions[-1]["spec"] == entry["spec"] and versions[-1].get("docker") == entry["docker"]:
            self.version = str(len(versions))
            return self
        versions = [*versions, entry]
        workspace.update_config("environments", self.name, versions)
        self.version = str(len(versions))
        return self

    @classmethod
    def get(cls, workspace: ConfiguredWorkspace, name: str, version: str | None = None, label: str | None = None
            ) -> Environment:
        versions = workspace.config_section("environments").get(name)
        if not versions and isinstance(name, str) and is_curated_name(name):
            return cls._curated(name)
        if not versions:
            raise WorkspaceError(f"environment name={name!r}: not registered in this workspace. "
                                 "Fix: env.register(ws) first, or check `runyard env list`")
        index = int(version) - 1 if version else len(versions) - 1
        if not 0 <= index < len(versions):
            raise InvalidValueError("version", version, f"does not exist (1..{len(versions)})",
                                    "pass an existing version or None for the latest")
        env = cls._from_spec_dict(name, versions[index]["spec"], str(index + 1))
        for key, value in (versions[index].get("docker") or {}).items():
            setattr(env.docker, key, value)
        return env

    @classmethod
    def list(cls, workspace: ConfiguredWorkspace) -> dict[str, Environment]:
        """The workspace's registered environments and the service's curated names runyard stands in for."""
        found = {n: cls._curated(n, quiet=True) for n in KNOWN_NAMES}
        found.update({n: cls.get(workspace, n) for n in workspace.config_section("environments")})
        return found

    @classmethod
    def _curated(cls, name: str, quiet: bool = False) -> Environment:
        stand_in = curated(name)
        env = cls(name)
        env.version = "1"
        env.description = stand_in.note
        env.python.conda_dependencies = CondaDependencies.create(pip_packages=list(stand_in.pip_packages))
        if not quiet:
            _log.warning("%s", stand_in.note)
        return env

    @classmethod
    def _from_spec_dict(cls, name: str, d: dict[str, Any], version: str) -> Environment:
        env = cls(name)
        env.version = version
        env.python.conda_dependencies = CondaDependencies.create(d.get("pip_packages"), d.get("conda_packages"),
                                                                 d.get("python_version"))
        env._pip_requirements = d.get("pip_requirements")
        env.framework_version = d.get("framework_version")
        env.environment_variables = dict(d.get("variables", []))
        env.python.user_managed_dependencies = d.get("user_managed", False)
        if d.get("interpreter"):
            env.python.interpreter_path = d["interpreter"]
        return env

    def _docker_dict(self) -> dict[str, Any] | None:
        d = self.docker
        if not d.wanted(None) and not d.shm_size:
            return None  # nothing Docker about it: registered as before
        return {"enabled": d.enabled, "base_image": d.base_image, "base_dockerfile": d.base_dockerfile,
                "shm_size": d.shm_size, "arguments": list(d.arguments)}

    def clone(self, new_name: str) -> Environment:
        env = copy.deepcopy(self)
        env.name, env.version = new_name, None
        return env

    def __repr__(self) -> str:
        return f"Environment(name={self.name!r}, version={self.version!r})"


def spec_to_dict(spec: EnvironmentSpec) -> dict[str, Any]:
    from dataclasses import asdict

    d = asdict(spec)
    d["variables"] = [list(p) for p in spec.variables]
    d["pip_packages"], d["conda_packages"] = list(spec.pip_packages), list(spec.conda_packages)
    return d
