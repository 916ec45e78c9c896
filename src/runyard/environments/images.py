"""The image a run's ranks use, made ready while the run is Preparing.

`base_image` is used as named and pulled only when missing. A Dockerfile is built here and tagged by the content
hash of its base, text, build context and packages (`localhost/runyard-env:<hash>`): a second run with the same
content reuses it without a build. The run's pip packages are installed into an image built on top (tagged the
same way), so they are the image's own Python's. Each step streams into the run's preparation log, and a cancel
stops it at once (the same build-step runner as the virtual environments).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from runyard.environments.build import Log, _run
from runyard.environments.container_runtime import ContainerRuntime, RuntimeKind
from runyard.errors import EnvironmentBuildError
from runyard.spec import ContainerSpec, EnvironmentSpec

IMAGE_REPOSITORY = "localhost/runyard-env"


def prepare_image(container: ContainerSpec, env: EnvironmentSpec, runtime: ContainerRuntime, log_file: Path,
                  log: Log) -> str:
    """The tag the ranks run; built or pulled now only when this machine does not have it yet."""
    if container.dockerfile:
        image = _build(runtime, container.digest(), container.dockerfile, container.context or None, log_file, log,
                       what="the Dockerfile")
    else:
        image = container.image
        if runtime.image_exists(image):
            log(f"image {image}: present on this machine")
        else:
            log(f"image {image}: pulling")
            done = _run(runtime.command("pull", image), log_file, log)
            if done.returncode != 0:
                raise EnvironmentBuildError(f"the image {image!r} could not be had ({runtime.kind.value} pull "
                                            f"exited {done.returncode}): {_tail(done.stdout)}")
    packages = _packages(env)
    if packages:
        ca = _pip_ca_bundle()
        lines = [f"FROM {image}"]
        if ca is not None:  # the CA bundle this machine's pip trusts (a proxy's, a company's) is the build's too
            lines.append(f"COPY {CA_NAME} /tmp/{CA_NAME}")
        # the image's Python is the run's: PEP 668 images (Debian's) ask for the flag below
        lines.append("RUN PY=$(command -v python3 || command -v python) && PIP_BREAK_SYSTEM_PACKAGES=1 "
                     + (f"PIP_CERT=/tmp/{CA_NAME} " if ca is not None else "")
                     + "$PY -m pip install --no-cache-dir --disable-pip-version-check "
                     + " ".join(json.dumps(p) for p in packages))
        image = _build(runtime, container.digest(json.dumps([image, packages])), "\n".join(lines) + "\n", None,
                       log_file, log, what=f"the packages {', '.join(packages)}", files={CA_NAME: ca} if ca else {})
    return image


CA_NAME = "runyard-pip-ca.crt"


def _pip_ca_bundle() -> Path | None:
    """The CA bundle pip uses here (PIP_CERT, else what requests or OpenSSL are told), when one is set."""
    import configparser

    given = [os.environ.get(n) for n in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")]
    for config in (os.environ.get("PIP_CONFIG_FILE"), "/etc/pip.conf", "/etc/xdg/pip/pip.conf",
                   os.path.expanduser("~/.config/pip/pip.conf"), os.path.expanduser("~/.pip/pip.conf")):
        parser = configparser.ConfigParser()
        try:
            parser.read(config or "")
        except configparser.Error:
            continue
        given.append(parser.get("global", "cert", fallback=None))
    return next((Path(v) for v in given if v and Path(v).is_file()), None)


def _packages(env: EnvironmentSpec) -> list[str]:
    if env.user_managed:
        return []
    if env.conda_packages or env.conda_specification:
        raise EnvironmentBuildError("conda packages of a Docker environment are not installed by runyard: put them "
                                    "in the image (its Dockerfile), or list them as pip packages")
    requirements = [ln.strip() for ln in (env.pip_requirements or "").splitlines()
                    if ln.strip() and not ln.strip().startswith(("#", "-"))]
    return [*env.pip_packages, *requirements]


def _build(runtime: ContainerRuntime, digest: str, dockerfile: str, context: str | None, log_file: Path, log: Log,
           what: str, files: dict[str, Path] | None = None) -> str:
    tag = f"{IMAGE_REPOSITORY}:{digest}"
    if runtime.kind is RuntimeKind.APPTAINER:
        raise EnvironmentBuildError(f"building {what} needs Podman or Docker on this machine (Apptainer runs "
                                    "images; it does not build Dockerfiles)")
    if runtime.image_exists(tag):
        log(f"image {tag} ({what}): built before, reused")
        return tag
    log(f"image {tag}: building {what}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="runyard-build-") as scratch:
        file = Path(scratch) / "Dockerfile"
        file.write_text(dockerfile)
        folder = context or str(Path(scratch) / "context")
        Path(folder).mkdir(exist_ok=True)
        for name, source in (files or {}).items():  # only into runyard's own (empty) context, never the user's
            shutil.copyfile(source, Path(folder) / name)
        done = _run(runtime.command("build", "--network", "host", "--tag", tag, "--file", str(file), folder),
                    log_file, log)
    if done.returncode != 0:
        raise EnvironmentBuildError(f"building {what} failed ({runtime.kind.value} build exited {done.returncode}): "
                                    f"{_tail(done.stdout)}")
    log(f"image {tag}: built in {time.monotonic() - started:.1f} s")
    return tag


def _tail(output: str, lines: int = 6) -> str:
    kept = [ln.strip() for ln in output.strip().splitlines() if ln.strip()]
    return " | ".join(kept[-lines:]) or "(no output)"
