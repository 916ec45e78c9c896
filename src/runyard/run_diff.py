"""What differs between two runs (`runyard diff A B`): code, parameters, environment, data, layout, machine,
final metrics. Each section lists only what differs; code adds a unified diff of each changed text file.
Works on a workspace folder and through a server alike (snapshots are read from run.restore_snapshot)."""

from __future__ import annotations

import difflib
import json
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.provenance import PROVENANCE_PROPERTY
from runyard.spec import parameters_of

if TYPE_CHECKING:
    from runyard.run import Run

MAX_TEXT_BYTES = 1 << 20


@dataclass(frozen=True)
class Change:
    name: str
    a: Any
    b: Any


@dataclass
class RunDiff:
    run_a: str
    run_b: str
    code: list[Change] = field(default_factory=list)          # a file: its size in each run (None: absent)
    code_patches: dict[str, str] = field(default_factory=dict)
    parameters: list[Change] = field(default_factory=list)
    environment: list[Change] = field(default_factory=list)
    data: list[Change] = field(default_factory=list)
    layout: list[Change] = field(default_factory=list)
    machine: list[Change] = field(default_factory=list)
    metrics: list[Change] = field(default_factory=list)

    SECTIONS = ("code", "parameters", "environment", "data", "layout", "machine", "metrics")

    @property
    def same(self) -> bool:
        return not any(getattr(self, s) for s in self.SECTIONS)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"runA": self.run_a, "runB": self.run_b, "codePatches": self.code_patches}
        for section in self.SECTIONS:
            out[section] = [{"name": c.name, "a": c.a, "b": c.b} for c in getattr(self, section)]
        return out


def _changes(a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    return [Change(k, a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)]


def _snapshot(run: Run, folder: Path) -> dict[str, bytes]:
    try:
        archive = Path(run.restore_snapshot(path=str(folder)))
    except Exception:  # noqa: BLE001 - an interactive run without a snapshot has no code to compare
        return {}
    with zipfile.ZipFile(archive) as z:
        return {n: z.read(n) for n in z.namelist() if not n.endswith("/")}


def _text(data: bytes) -> list[str] | None:
    if len(data) > MAX_TEXT_BYTES or b"\0" in data:
        return None
    try:
        return data.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return None


def _provenance(run: Run) -> dict[str, Any]:
    raw = run.get_properties().get(PROVENANCE_PROPERTY)
    return dict(json.loads(raw)) if raw else {}


def _parameters(run: Run) -> dict[str, str]:
    details = run.get_details()
    return parameters_of(details["runDefinition"].get("arguments", []), details["properties"].get("hyperparameters"))


def diff_runs(a: Run, b: Run) -> RunDiff:
    result = RunDiff(a.id, b.id)
    with tempfile.TemporaryDirectory(prefix="runyard-diff-") as tmp:
        files_a, files_b = _snapshot(a, Path(tmp) / "a"), _snapshot(b, Path(tmp) / "b")
    for name in sorted(files_a.keys() | files_b.keys()):
        in_a, in_b = files_a.get(name), files_b.get(name)
        if in_a == in_b:
            continue
        result.code.append(Change(name, None if in_a is None else len(in_a), None if in_b is None else len(in_b)))
        lines_a, lines_b = _text(in_a or b""), _text(in_b or b"")
        if lines_a is not None and lines_b is not None:
            result.code_patches[name] = "".join(difflib.unified_diff(
                lines_a, lines_b, f"{a.id}/{name}" if in_a is not None else "/dev/null",
                f"{b.id}/{name}" if in_b is not None else "/dev/null"))
    result.parameters = _changes(_parameters(a), _parameters(b))
    prov_a, prov_b = _provenance(a), _provenance(b)
    env_a, env_b = prov_a.get("environment", {}), prov_b.get("environment", {})
    result.environment = _changes({"python": env_a.get("python"), "torch": env_a.get("torch"),
                                   **{p[0].lower(): p[1] for p in env_a.get("packages", []) if p[0]}},
                                  {"python": env_b.get("python"), "torch": env_b.get("torch"),
                                   **{p[0].lower(): p[1] for p in env_b.get("packages", []) if p[0]}})
    result.data = _changes({k: v.get("digest") for k, v in prov_a.get("data", {}).items()},
                           {k: v.get("digest") for k, v in prov_b.get("data", {}).items()})
    result.layout = _changes(prov_a.get("layout", {}), prov_b.get("layout", {}))
    machine_a, machine_b = dict(prov_a.get("machine", {})), dict(prov_b.get("machine", {}))
    for m in (machine_a, machine_b):
        m["gpus"] = ", ".join(f"{g.get('model')} (driver {g.get('driver')})" for g in m.get("gpus", [])) or None
    result.machine = _changes(machine_a, machine_b)
    table = a._backend.run_metrics([a.id, b.id])
    latest_a = table[a.id].latest() if a.id in table else {}
    latest_b = table[b.id].latest() if b.id in table else {}
    result.metrics = _changes(latest_a, latest_b)
    return result
