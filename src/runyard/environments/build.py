"""Build an environment as a uv-managed layer over the base interpreter.

The layer is a virtual environment whose `.pth` file adds the base environment's site-packages
*after* its own (so torch and everything else installed in the base is reused, and the layer's own
packages win). uv cannot see packages made visible that way, so we resolve with `uv pip compile`
(preferring the base's versions), keep only what the base does not already satisfy, following
dependencies only through packages we install, and install exactly those with `--no-deps`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import site
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict
from importlib.metadata import distributions
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from runyard.environments.cache import CachedEnvironment, EnvironmentCache
from runyard.environments.conda import conda_packages, conda_requirements, conda_tool
from runyard.errors import EnvironmentBuildError
from runyard.pdeathsig import die_with_this_process
from runyard.spec import EnvironmentSpec

Log = Callable[[str], None]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)\s*(?:;[^#]*)?(?:#\s*via\s+(.*))?$")


def uv_binary() -> str:
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            raise EnvironmentBuildError("uv is not installed. Fix: pip install uv") from None
        return found


def base_packages() -> dict[str, str]:
    """name -> version (without a local label like +cpu) of what the base interpreter has."""
    return {canonicalize_name(d.metadata["Name"]): d.version.split("+")[0] for d in distributions()
            if d.metadata["Name"]}


def environment_digest(spec: EnvironmentSpec) -> str:
    """The spec's digest, plus the base interpreter it layers over."""
    import hashlib

    base = f"{sys.prefix}|{sys.version}"
    return hashlib.sha256(f"{spec.digest()}|{base}".encode()).hexdigest()[:16]


def is_service_sdk(line: str) -> bool:
    """The service's own SDK packages (azureml-defaults, azureml-core, ...): runyard is their stand-in."""
    try:
        return canonicalize_name(Requirement(line).name).startswith("azureml")
    except InvalidRequirement:
        return False


def requirement_lines(spec: EnvironmentSpec, log: Log) -> list[str]:
    lines = list(spec.pip_packages)
    if spec.pip_requirements:
        lines += [ln.split(" #")[0].strip() for ln in spec.pip_requirements.splitlines()
                  if ln.strip() and not ln.strip().startswith("#")]
    lines += conda_requirements(spec, log)
    skipped = [ln for ln in lines if is_service_sdk(ln)]
    if skipped:
        log(f"not installed: {', '.join(skipped)} (the service's SDK; runyard provides its API as runyard.*)")
    return [ln for ln in lines if not is_service_sdk(ln)]


# the build steps running now (uv, conda): a cancel stops their whole process groups at once
_running: set[subprocess.Popen[str]] = set()


def stop_running_builds() -> None:
    """From a signal handler (cancel): SIGKILL every running build step and whatever it started. The tree is
    read before anything is killed (a killed parent's children are re-parented out of reach), and the
    process groups go too (a build backend may start its own)."""
    import psutil

    for proc in list(_running):
        try:
            tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        except psutil.Error:
            tree = []
        groups = {proc.pid}
        for member in tree:
            try:
                groups.add(os.getpgid(member.pid))
            except OSError:
                pass
        for member in tree:
            try:
                member.kill()
            except psutil.Error:
                pass
        for group in groups - {os.getpgrp()}:
            try:
                os.killpg(group, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _run(command: list[str], log_file: Path, log: Log | None = None) -> subprocess.CompletedProcess[str]:
    """Run a build step; each line it prints goes to the build log and to `log` as it comes (the run's
    preparation log, which wait_for_completion and `runyard logs -f` stream), not when the step ends."""
    # its own process group (uv starts workers and build backends), killed with this process too
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                            start_new_session=True, preexec_fn=die_with_this_process())
    _running.add(proc)
    lines: list[str] = []
    try:
        with open(log_file, "a") as f:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if log is None:
                    f.write(line)
                    f.flush()
                elif line.strip():
                    log(f"  {Path(command[0]).name}: {line.rstrip()}")
        proc.wait()
    finally:
        _running.discard(proc)
    if proc.returncode < 0:
        raise EnvironmentBuildError(f"{Path(command[0]).name} was stopped (signal {-proc.returncode})")
    output = "".join(lines)
    return subprocess.CompletedProcess(command, proc.returncode, output, output)


def _failure(what: str, message: str, requested: list[str]) -> EnvironmentBuildError:
    named = _named(message, requested)
    which = f" (package: {', '.join(named)})" if named else ""
    return EnvironmentBuildError(f"{what} failed{which}: {message}", named)


def _named(message: str, requested: list[str]) -> tuple[str, ...]:
    names = []
    for line in requested:
        try:
            name = Requirement(line).name
        except InvalidRequirement:
            name = line
        if re.search(rf"\b{re.escape(name)}\b", message, re.I):
            names.append(name)
    return tuple(names)


def _needed(pins: dict[str, tuple[str, list[str]]], requested: set[str], base: dict[str, str]) -> dict[str, str]:
    """Packages to install into the layer: requested ones the base lacks (or has at another version),
    and, transitively, what those need that the base lacks. A package the base already satisfies is a
    dead end: its own dependencies are satisfied in the base."""
    def satisfied(name: str) -> bool:
        return base.get(name) == pins[name][0]

    needed: dict[str, str] = {}
    frontier = [n for n in pins if n in requested and not satisfied(n)]
    while frontier:
        name = frontier.pop()
        if name in needed:
            continue
        needed[name] = pins[name][0]
        frontier += [child for child, (_, parents) in pins.items()
                     if name in parents and child not in needed and not satisfied(child)]
    return needed


def build(spec: EnvironmentSpec, path: Path, log_file: Path, log: Log) -> tuple[dict[str, str], dict[str, str]]:
    """Make the layer at `path`. Returns (installed in the layer, everything resolved)."""
    uv = uv_binary()
    requested = requirement_lines(spec, log)
    log(f"building environment {path.name} with uv: {', '.join(requested) or '(no packages)'}")
    done = _run([uv, "venv", "--quiet", "--python", sys.executable, str(path)], log_file)
    if done.returncode:
        raise EnvironmentBuildError(f"uv venv failed: {done.stderr.strip()}")
    layer_site = next((path / "lib").glob("python*/site-packages"))
    bases = [p for p in site.getsitepackages() if Path(p).is_dir()]
    conda, _ = conda_packages(spec)
    tool = conda_tool()
    if conda and tool:
        prefix = path / "conda"
        log(f"installing conda packages with {Path(tool).name}: {', '.join(conda)}")
        done = _run([tool, "create", "--yes", "--prefix", str(prefix), *conda], log_file, log)
        if done.returncode:
            raise _failure("conda install", done.stderr.strip() or done.stdout.strip(), conda)
        bases = [str(p) for p in prefix.glob("lib/python*/site-packages")] + bases
    # `import site; site.addsitedir(...)` (not a bare path) so the base's own .pth files run too
    (layer_site / "_runyard_base.pth").write_text(
        "".join(f"import site; site.addsitedir({b!r})\n" for b in bases))
    if not requested:
        return {}, {}
    build_dir = path / ".runyard-build"
    build_dir.mkdir()
    (build_dir / "requirements.in").write_text("\n".join(requested) + "\n")
    base = base_packages()
    resolved_file = build_dir / "resolved.txt"
    resolved_file.write_text("".join(f"{n}=={v}\n" for n, v in sorted(base.items())))  # preferred versions
    python = str(path / "bin" / "python")
    done = _run([uv, "pip", "compile", str(build_dir / "requirements.in"), "-o", str(resolved_file), "--python",
                 python, "--annotation-style", "line", "--no-header", "--quiet"], log_file)
    if done.returncode:
        raise _failure("resolving packages", done.stderr.strip() or done.stdout.strip(), requested)
    pins: dict[str, tuple[str, list[str]]] = {}
    for line in resolved_file.read_text().splitlines():
        if m := _PIN.match(line.strip()):
            parents = [canonicalize_name(p.strip()) for p in (m.group(3) or "").split(",")
                       if p.strip() and not p.strip().startswith("-r")]
            pins[canonicalize_name(m.group(1))] = (m.group(2), parents)
    top = {canonicalize_name(Requirement(r).name) for r in requested}
    needed = _needed(pins, top, base)
    resolved = {n: v for n, (v, _) in sorted(pins.items())}
    if needed:
        log(f"installing into the layer: {', '.join(f'{n}=={v}' for n, v in sorted(needed.items()))}")
        done = _run([uv, "pip", "install", "--python", python, "--no-deps", *(f"{n}=={v}" for n, v in needed.items())],
                    log_file, log)
        if done.returncode:
            raise _failure("installing packages", done.stderr.strip() or done.stdout.strip(), requested)
    if "torchvision" in needed:
        check_torchvision_loads(python, needed["torchvision"], base.get("torch"), log_file)
    reused = sorted(n for n in top if n not in needed)
    if reused:
        log(f"reused from the base interpreter: {', '.join(f'{n}=={base[n]}' for n in reused if n in base)}")
    return needed, resolved


# torchvision's compiled operators load only over the torch build they were made for
_TORCHVISION_CHECK = ("import torch, torchvision; "
                      "torchvision.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)")


def check_torchvision_loads(python: str, vision: str, torch: str | None, log_file: Path) -> None:
    """A torchvision wheel built for another torch (PyPI's CUDA build over a CPU torch) installs fine and fails
    at the script's first use: name it here, with the build to ask for instead."""
    done = _run([python, "-c", _TORCHVISION_CHECK], log_file)
    if done.returncode == 0:
        return
    last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
    local = (torch or "").partition("+")[2] or "cpu"
    raise EnvironmentBuildError(
        f"torchvision=={vision} was installed but cannot load over the base interpreter's torch {torch} ({last}). "
        f"Fix: ask for the torchvision build of that torch, in a pip_requirements_file with the lines "
        f"'--extra-index-url https://download.pytorch.org/whl/{local}' and 'torchvision=={vision}+{local}', or "
        "install torchvision into the base interpreter beside torch")


def ensure_environment(spec: EnvironmentSpec, cache: EnvironmentCache, log_file: Path,
                       log: Log) -> CachedEnvironment:
    """The cached environment for `spec`, built once however many runs ask at the same moment."""
    digest = environment_digest(spec)
    env = cache.get(digest)
    if env is None:
        with cache.lock(digest):
            env = cache.get(digest)  # another run may have built it while we waited
            if env is None:
                cache.discard(digest)  # what an interrupted build left: never reused
                try:
                    installed, resolved = build(spec, cache.path_for(digest), log_file, log)
                except BaseException:
                    cache.discard(digest)
                    raise
                env = cache.mark_ready(digest, installed, resolved, asdict(spec))
                log(f"environment {digest} ready")
                return env
    log(f"reusing environment {digest}: nothing to install")
    cache.touch(env)
    return env
