"""JobSpec: the one description of a job that crosses process and machine boundaries.

Frozen dataclasses, validated when built, serialisable to JSON. This module imports nothing
of runyard's runtime, so a supervisor or node agent can load a spec cheaply.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from runyard.errors import InvalidTypeError, InvalidValueError

SPEC_VERSION = 1
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Backend(str, Enum):
    """How ranks are started and find each other."""

    MPI = "mpi"
    GLOO = "gloo"
    NCCL = "nccl"

    @classmethod
    def parse(cls, value: Any, field_name: str = "distributed_backend") -> Backend | None:
        if value is None:
            return None
        if isinstance(value, Backend):
            return value
        if not isinstance(value, str):
            raise InvalidTypeError(field_name, value, "must be a string or None",
                                   "use one of 'mpi', 'gloo', 'nccl', or None for a single process")
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise InvalidValueError(field_name, value, "is not a supported backend",
                                    "use one of 'mpi', 'gloo', 'nccl'") from None


class DataMode(str, Enum):
    MOUNT = "mount"
    DOWNLOAD = "download"
    UPLOAD = "upload"


@dataclass(frozen=True)
class DataBinding:
    """A data reference the compute resolves to a local path before (or after) the script runs."""

    name: str
    datastore: str
    datastore_root: str
    path_on_datastore: str
    mode: DataMode
    path_on_compute: str | None = None
    overwrite: bool = False
    # a Dataset consumed under this name: '' for files, else JSON {"kind": "tabular", ...} that
    # run.input_datasets turns back into a TabularDataset over the local copy
    dataset: str = ""

    def __post_init__(self) -> None:
        if not _ENV_NAME.match(self.name):
            raise InvalidValueError("data_reference_name", self.name,
                                    "must be usable as an environment variable name",
                                    "use letters, digits and underscores, not starting with a digit")

    @property
    def token(self) -> str:
        return f"$AZUREML_DATAREFERENCE_{self.name}"

    @property
    def env_var(self) -> str:
        return f"AZUREML_DATAREFERENCE_{self.name}"


@dataclass(frozen=True)
class EnvironmentSpec:
    """What the script's Python environment must contain. Its digest names the cached environment."""

    name: str | None = None
    pip_packages: tuple[str, ...] = ()
    conda_packages: tuple[str, ...] = ()
    pip_requirements: str | None = None      # contents of the requirements file, not its path
    conda_specification: str | None = None   # contents of the conda yaml
    framework_version: str | None = None
    python_version: str | None = None
    variables: tuple[tuple[str, str], ...] = ()
    user_managed: bool = False
    interpreter: str | None = None           # for user_managed: the python to run

    def needs_build(self) -> bool:
        return not self.user_managed and bool(
            self.pip_packages or self.conda_packages or self.pip_requirements or self.conda_specification
        )

    def digest(self) -> str:
        """Hash of what gets installed (variables don't change the built environment)."""
        content = {k: v for k, v in asdict(self).items() if k not in ("name", "variables")}
        raw = json.dumps(content, sort_keys=True).encode()
        return hashlib.sha256(raw).hexdigest()[:16]


_SHM_SIZE = re.compile(r"^[0-9]+(\.[0-9]+)?[bkmgBKMG]?$")


@dataclass(frozen=True)
class ContainerSpec:
    """Each rank runs in a container (the service's Docker settings): `image` as named (pulled when missing), or
    `dockerfile` built here and tagged by content; the run's packages go into an image built on top of it."""

    image: str = ""
    dockerfile: str = ""              # the Dockerfile's text (built on this machine)
    context: str = ""                 # its build context folder ('' : an empty one)
    context_digest: str = ""          # what that folder held when the run was submitted
    shm_size: str = "2g"              # the service's default; a runtime's own is 64m
    arguments: tuple[str, ...] = ()   # more `docker run` / `podman run` options, as DockerConfiguration.arguments

    def __post_init__(self) -> None:
        if not self.image and not self.dockerfile:
            raise InvalidValueError("docker.base_image", self.image, "is empty and no base_dockerfile is given",
                                    "set env.docker.base_image = 'python:3.11-slim' or env.docker.base_dockerfile")
        if not _SHM_SIZE.match(self.shm_size):
            raise InvalidValueError("shm_size", self.shm_size, "is not a size", "pass e.g. shm_size='2g' or '512m'")
        if not all(isinstance(a, str) for a in self.arguments):
            raise InvalidTypeError("docker_arguments", self.arguments, "must all be strings",
                                   "pass e.g. arguments=['--cap-add', 'SYS_PTRACE']")

    def digest(self, packages: str = "") -> str:
        """Names a built image: base, Dockerfile, build context and the packages installed on top."""
        raw = json.dumps([self.image, self.dockerfile, self.context_digest, packages]).encode()
        return hashlib.sha256(raw).hexdigest()[:16]


# what one job may ask for: far above any real cluster, well below what would exhaust this machine
MAX_NODES = 4096
MAX_PROCESSES_PER_NODE = 256
MAX_ARGUMENT_BYTES = 100_000


def _check_text(field: str, values: tuple[str, ...]) -> None:
    """A NUL byte cannot cross an exec() or an environment: refuse it here, not at launch."""
    for value in values:
        if "\x00" in value:
            raise InvalidValueError(field, value, "contains a NUL byte", "remove the \\x00 character")


_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_MEMORY_UNIT_MB = {"k": 1 / 1024, "": 1, "m": 1, "g": 1024, "t": 1024 * 1024}


def memory_mb(value: Any, field_name: str = "memory") -> int | None:
    """'16G', '512M', '2g', 4096 (MB) -> megabytes; None stays None."""
    if value is None:
        return None
    fix = f"pass {field_name}='16G', '512M' or a number of megabytes"
    if isinstance(value, bool):
        raise InvalidTypeError(field_name, value, "must be a size", fix)
    if isinstance(value, (int, float)):
        mb = float(value)
    elif isinstance(value, str) and (match := _MEMORY.match(value)):
        mb = float(match[1]) * _MEMORY_UNIT_MB[match[2].lower()]
    else:
        raise InvalidValueError(field_name, value, "is not a size such as 16G or 512M", fix)
    if not math.isfinite(mb) or mb < 1:
        raise InvalidValueError(field_name, value, "must be at least 1 MB", fix)
    return int(math.ceil(mb))


@dataclass(frozen=True)
class Resources:
    node_count: int = 1
    process_count_per_node: int = 1
    use_gpu: bool = False
    # what a box scheduler accounts: CPU slots per rank (None: 1 once the target limits CPUs) and memory per run
    cpus_per_process: int | None = None
    memory_mb: int | None = None

    def __post_init__(self) -> None:
        for name, most in (("node_count", MAX_NODES), ("process_count_per_node", MAX_PROCESSES_PER_NODE)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidTypeError(name, value, "must be an integer", f"pass {name}=1 or more")
            if not 1 <= value <= most:
                raise InvalidValueError(name, value, f"must be from 1 to {most}", f"pass {name}=1..{most}")
        if not isinstance(self.use_gpu, bool):
            raise InvalidTypeError("use_gpu", self.use_gpu, "must be True or False", "pass use_gpu=True or False")
        c = self.cpus_per_process
        if c is not None and (isinstance(c, bool) or not isinstance(c, int) or not 1 <= c <= 4096):
            raise InvalidValueError("cpus_per_process", c, "must be a whole number of CPU slots from 1 to 4096",
                                    "pass cpus_per_process=2, or None for one slot per process")
        m = self.memory_mb
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
            raise InvalidValueError("memory", m, "must be a positive number of megabytes",
                                    "pass memory='16G' or a number of megabytes")

    @property
    def gpus(self) -> int:
        """Whole GPUs the run takes: one per rank, on every node."""
        return self.world_size if self.use_gpu else 0

    @property
    def world_size(self) -> int:
        return self.node_count * self.process_count_per_node


@dataclass(frozen=True)
class Limits:
    max_run_duration_seconds: float | None = None
    max_restarts: int = 0

    def __post_init__(self) -> None:
        d = self.max_run_duration_seconds
        if d is not None and (isinstance(d, bool) or not isinstance(d, (int, float)) or not math.isfinite(d)
                              or d <= 0):
            raise InvalidValueError("max_run_duration_seconds", d, "must be a positive number of seconds",
                                    "pass e.g. max_run_duration_seconds=3600, or None for no limit")
        r = self.max_restarts
        if isinstance(r, bool) or not isinstance(r, int) or r < 0:
            raise InvalidValueError("max_restarts", r, "must be an integer >= 0", "pass max_restarts=0 or more")


class FaultKind(str, Enum):
    KILL_RANK = "kill-rank"      # SIGKILL one rank
    KILL_NODE = "kill-node"      # SIGKILL every rank of one node
    KILL_AGENT = "kill-agent"    # SIGKILL one node's agent process (targets where agents are processes)
    DELAY_RANK = "delay-rank"    # stop one rank for a while, then let it go on (a straggler)
    FAIL_BUILD = "fail-build"    # the environment build fails
    PARTITION_NODE = "partition-node"  # drop every packet of one node's network link (for a while)
    DELAY_NODE = "delay-node"    # add latency to one node's network link (for a while)


_FAULT = re.compile(r"^(?P<kind>[a-z-]+)(?::(?P<target>\d+))?(?:@(?P<when>[a-z]+=[0-9.]+(?:,[a-z]+=[0-9.]+)*))?$")


@dataclass(frozen=True)
class Fault:
    """A failure to inject into a run, to test a training script's own resilience (`--inject`,
    RunConfiguration.fault): what, to which rank or node, when (at a step the rank logs, or seconds into
    the attempt), and in which attempt (0: the first, so restarts can show the recovery)."""

    kind: FaultKind
    target: int = 0
    at_step: int | None = None
    at_seconds: float | None = None
    duration: float = 0.0
    attempt: int = 0
    delay_ms: float = 0.0        # delay-node: the latency added

    @property
    def on_node(self) -> bool:
        return self.kind in (FaultKind.KILL_NODE, FaultKind.KILL_AGENT, FaultKind.PARTITION_NODE, FaultKind.DELAY_NODE)

    def __post_init__(self) -> None:
        fix = ("write e.g. kill-rank:1@step=50, kill-node:1@seconds=10, delay-rank:0@step=20,for=5, "
               "partition-node:1@step=20,for=30, delay-node:1@step=5,ms=50 or fail-build")
        if not isinstance(self.kind, FaultKind):
            raise InvalidValueError("fault", self.kind, f"is not one of {[k.value for k in FaultKind]}", fix)
        if self.kind is not FaultKind.FAIL_BUILD and (self.at_step is None) == (self.at_seconds is None):
            raise InvalidValueError("fault", self.describe(), "needs exactly one of step= or seconds=", fix)
        if self.kind is FaultKind.DELAY_RANK and not self.duration > 0:
            raise InvalidValueError("fault", self.describe(), "needs for=<seconds> (how long the rank stops)", fix)
        if self.kind is FaultKind.DELAY_NODE and not (math.isfinite(self.delay_ms) and self.delay_ms > 0):
            raise InvalidValueError("fault", self.describe(), "needs ms=<milliseconds> (the latency to add)", fix)
        if self.target < 0 or self.attempt < 0 or (self.at_step is not None and self.at_step < 0) or \
                (self.at_seconds is not None and not (math.isfinite(self.at_seconds) and self.at_seconds >= 0)):
            raise InvalidValueError("fault", self.describe(), "has a negative or infinite number", fix)

    @staticmethod
    def parse(text: str) -> Fault:
        fix = ("write e.g. kill-rank:1@step=50, kill-node:1@seconds=10, delay-rank:0@step=20,for=5, "
               "partition-node:1@step=20,for=30, delay-node:1@step=5,ms=50 or fail-build")
        match = _FAULT.match(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise InvalidValueError("inject", text, "is not KIND[:RANK_OR_NODE][@step=N|seconds=S[,for=S][,ms=M]"
                                    "[,attempt=N]]",
                                    fix)
        try:
            kind = FaultKind(match["kind"])
        except ValueError:
            raise InvalidValueError("inject", text, f"names the fault {match['kind']!r}; faults are "
                                    f"{[k.value for k in FaultKind]}", fix) from None
        when: dict[str, str] = dict(p.split("=", 1) for p in (match["when"] or "").split(",") if p)
        unknown = set(when) - {"step", "seconds", "for", "attempt", "ms"}
        if unknown:
            raise InvalidValueError("inject", text, f"has {sorted(unknown)}; use step=, seconds=, for=, ms=, "
                                    "attempt=", fix)
        return Fault(kind, int(match["target"] or 0), int(when["step"]) if "step" in when else None,
                     float(when["seconds"]) if "seconds" in when else None, float(when.get("for", 0)),
                     int(when.get("attempt", 0)), float(when.get("ms", 0)))

    def describe(self) -> str:
        when = f"step={self.at_step}" if self.at_step is not None else f"seconds={self.at_seconds:g}"
        if self.kind is FaultKind.FAIL_BUILD:
            return self.kind.value
        extra = (f",for={self.duration:g}" if self.duration else "") + (f",ms={self.delay_ms:g}" if self.delay_ms
                                                                          else "")
        return f"{self.kind.value}:{self.target}@{when}{extra}" + (f",attempt={self.attempt}" if self.attempt else "")


def as_fault(value: Any) -> Fault | None:
    """A Fault, or one written as `--inject` takes it ('kill-rank:1@step=50'), or None."""
    if value is None or isinstance(value, Fault):
        return value
    if isinstance(value, str):
        return Fault.parse(value)
    raise InvalidTypeError("fault", value, "must be a Fault or a string like 'kill-rank:1@step=50'",
                           "pass fault='kill-rank:1@step=50'")


@dataclass(frozen=True)
class JobSpec:
    experiment: str
    entry_script: str
    snapshot_digest: str
    compute_target: str = "local"
    arguments: tuple[str, ...] = ()
    environment: EnvironmentSpec = field(default_factory=EnvironmentSpec)
    resources: Resources = field(default_factory=Resources)
    backend: Backend | None = None
    inputs: tuple[DataBinding, ...] = ()
    limits: Limits = field(default_factory=Limits)
    environment_variables: tuple[tuple[str, str], ...] = ()
    framework: str = "Python"
    # ScriptRunConfig(command=...) that is not `python SCRIPT.py ...`: run with bash -c in the working
    # folder, the environment's interpreter first on PATH (entry_script then only names the script, if any)
    shell_command: str = ""
    fault: Fault | None = None
    # where the run stands in its target's queue: higher first (the box scheduler; a cluster's own otherwise)
    priority: int = 0
    container: ContainerSpec | None = None
    version: int = SPEC_VERSION

    def argv(self, interpreter: str) -> list[str]:
        """What each process runs (before per-rank $VAR expansion of the arguments)."""
        if self.shell_command:
            return ["/bin/bash", "-c", self.shell_command]
        return [interpreter, self.entry_script, *self.arguments]

    def __post_init__(self) -> None:
        if self.resources.world_size > 1 and self.backend is None:
            raise InvalidValueError(
                "distributed_backend", None,
                f"node_count={self.resources.node_count} x process_count_per_node="
                f"{self.resources.process_count_per_node} needs a distributed backend",
                "pass distributed_backend='gloo' (CPU), 'nccl' (GPU) or 'mpi' (Horovod)")
        if self.backend is Backend.NCCL and not self.resources.use_gpu:
            raise InvalidValueError("distributed_backend", "nccl", "needs GPUs but use_gpu=False",
                                    "pass use_gpu=True, or use distributed_backend='gloo' on CPU")
        if self.fault is not None and self.fault.kind is not FaultKind.FAIL_BUILD:
            bound = self.resources.node_count if self.fault.on_node else self.resources.world_size
            if self.fault.target >= bound:
                what = "node" if self.fault.on_node else "rank"
                raise InvalidValueError("fault", self.fault.describe(), f"names {what} {self.fault.target}, but the "
                                        f"run has {bound} {what}s", f"pick a {what} from 0 to {bound - 1}")
        if isinstance(self.priority, bool) or not isinstance(self.priority, int) or abs(self.priority) > 1_000_000:
            raise InvalidValueError("priority", self.priority, "must be a whole number from -1000000 to 1000000",
                                    "pass priority=10 (higher starts first; 0 is the default)")
        if not all(isinstance(a, str) for a in self.arguments):
            raise InvalidTypeError("arguments", self.arguments, "must all be strings", "convert each to str")
        _check_text("arguments", self.arguments)
        _check_text("entry_script", (self.entry_script, self.shell_command))
        if sum(len(a) for a in self.arguments) + len(self.shell_command) > MAX_ARGUMENT_BYTES:
            raise InvalidValueError("arguments", f"{sum(len(a) for a in self.arguments)} characters",
                                    f"are longer than {MAX_ARGUMENT_BYTES} characters in all (the OS limit of a "
                                    "command line is near)", "pass large inputs as a file (a datastore path)")
        names = [b.name for b in self.inputs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InvalidValueError("data_reference_name", dupes[0], "is used by two different data references",
                                    "give each DataReference its own data_reference_name")
        for key, value in self.environment_variables:
            if not isinstance(key, str) or not _ENV_NAME.match(key):
                raise InvalidValueError("environment_variables", key, "is not a valid variable name",
                                        "use letters, digits and underscores, not starting with a digit")
            if not isinstance(value, str):
                raise InvalidTypeError(f"environment_variables[{key!r}]", value, "must be a string",
                                       "pass string values, e.g. {'NAME': 'value'}")
            _check_text(f"environment_variables[{key!r}]", (value,))

    # -- JSON -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobSpec:
        env = d.get("environment") or {}
        env = {**env, "pip_packages": tuple(env.get("pip_packages", ())),
               "conda_packages": tuple(env.get("conda_packages", ())),
               "variables": tuple(tuple(p) for p in env.get("variables", ()))}
        return cls(
            experiment=d["experiment"],
            entry_script=d["entry_script"],
            snapshot_digest=d["snapshot_digest"],
            compute_target=d.get("compute_target", "local"),
            arguments=tuple(d.get("arguments", ())),
            environment=EnvironmentSpec(**env),
            resources=Resources(**d.get("resources", {})),
            backend=Backend.parse(d.get("backend")),
            inputs=tuple(DataBinding(**{**b, "mode": DataMode(b["mode"])}) for b in d.get("inputs", ())),
            limits=Limits(**d.get("limits", {})),
            environment_variables=tuple(tuple(p) for p in d.get("environment_variables", ())),  # type: ignore[misc]
            framework=d.get("framework", "Python"),
            shell_command=d.get("shell_command", ""),
            fault=Fault(**{**d["fault"], "kind": FaultKind(d["fault"]["kind"])}) if d.get("fault") else None,
            priority=int(d.get("priority", 0)),
            container=ContainerSpec(**{**d["container"], "arguments": tuple(d["container"].get("arguments", ()))})
            if d.get("container") else None,
            version=d.get("version", SPEC_VERSION),
        )


def _plain(value: Any) -> Any:
    """asdict() leaves Enums and tuples; JSON wants their plain forms."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class SweepSpec:
    """A sweep (the service's HyperDrive run): what its controller needs, as `sweep.json` in the parent's
    run folder. `template` is the trials' JobSpec; each trial appends its sampled `--name value` arguments."""

    template: JobSpec
    compute: str
    sampling: dict[str, Any]          # ParameterSampling.to_json(): kind, space, properties
    primary_metric_name: str
    maximize: bool
    max_total_runs: int
    max_concurrent_runs: int
    max_duration_seconds: float
    policy: dict[str, Any]            # EarlyTerminationPolicy.to_json(): kind and its settings
    seed: int | None = None

    @property
    def base_arguments(self) -> tuple[str, ...]:
        return self.template.arguments

    def to_json(self) -> str:
        return json.dumps({**_plain(asdict(self)), "template": self.template.to_dict()}, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SweepSpec:
        d = json.loads(text)
        return cls(**{**d, "template": JobSpec.from_dict(d["template"])})


def parameters_of(arguments: tuple[str, ...] | list[str], hyperparameters: str | None = None) -> dict[str, str]:
    """A run's parameters: its `--name value` arguments (a flag alone is ''), then its sampled hyperparameters
    (the JSON a sweep's trial keeps), which win."""
    params: dict[str, str] = {}
    args = [str(a) for a in arguments]
    i = 0
    while i < len(args):
        if args[i].startswith("-"):
            has_value = i + 1 < len(args) and not args[i + 1].startswith("--")
            params[args[i].lstrip("-")] = args[i + 1] if has_value else ""
            i += 2 if has_value else 1
        else:
            i += 1
    if hyperparameters:
        try:
            params.update({str(k).lstrip("-"): str(v) for k, v in json.loads(hyperparameters).items()})
        except (ValueError, AttributeError):
            pass
    return params
