"""The supervisor's record of what a run needs to be reproduced (runyard.provenance on the run).

Data digests can take long the first time (a large dataset is read once): they are computed on a thread
while the run goes on and stored before its final status. A rerun (runyard.rerunOf) computes them before
its ranks start and refuses to run on other data or another environment unless its changes were allowed.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from runyard.provenance import NOT_FROM_A_WHEEL, ContentDigest, DigestCache, content_digest, environment_lock, machine
from runyard.spec import DataMode, JobSpec

EXPECTED_PROPERTY = "runyard.expectedProvenance"   # set on a rerun: what the original recorded
ALLOW_CHANGES_PROPERTY = "runyard.allowChanges"    # "true" on a rerun submitted with --allow-changes


def data_digests(spec: JobSpec, data_env: dict[str, str], cache: DigestCache) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for binding in spec.inputs:
        local = data_env.get(binding.env_var)
        if binding.mode is DataMode.UPLOAD or local is None or not Path(local).exists():
            continue
        digest: ContentDigest = content_digest(Path(local), cache)
        found[binding.name] = {"datastore": binding.datastore, "path": binding.path_on_datastore, **asdict(digest)}
    return found


def environment_record(interpreter: str, locks_dir: Path) -> dict[str, Any]:
    return {"interpreter": "base" if interpreter == sys.executable else "built", **environment_lock(interpreter,
                                                                                                   locks_dir)}


def base_record(spec: JobSpec) -> dict[str, Any]:
    return {"snapshot": spec.snapshot_digest, "command": [spec.entry_script, *spec.arguments]
            if not spec.shell_command else ["bash", "-c", spec.shell_command],
            "layout": {"nodes": spec.resources.node_count, "processes_per_node": spec.resources.process_count_per_node,
                       "backend": spec.backend.value if spec.backend else None, "gpu": spec.resources.use_gpu}}


def differences(expected: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """What a rerun would get that differs from what its original had, each said exactly."""
    said: list[str] = []
    for name, want in sorted(expected.get("data", {}).items()):
        have = found.get("data", {}).get(name)
        if have is None:
            said.append(f"data {name!r} ({want['datastore']}/{want['path']}) is gone")
        elif have["digest"] != want["digest"]:
            said.append(f"data {name!r} ({want['datastore']}/{want['path']}) changed: {want['files']} files, "
                        f"{want['bytes']} bytes, sha256 {want['digest'][:12]} then; {have['files']} files, "
                        f"{have['bytes']} bytes, sha256 {have['digest'][:12]} now")
    env_want, env_have = expected.get("environment", {}), found.get("environment", {})
    for key in ("python", "torch"):
        if key in env_want and key in env_have and env_want[key] != env_have[key]:
            said.append(f"environment: {key} {env_want[key]} then, {env_have[key]} now")
    if env_want.get("packages") and env_have.get("packages"):
        then = {p[0].lower(): (p[1], p[2]) for p in env_want["packages"] if p[0]}
        now = {p[0].lower(): (p[1], p[2]) for p in env_have["packages"] if p[0]}
        for name in sorted(then.keys() | now.keys()):
            if name not in now:
                said.append(f"environment: {name}=={then[name][0]} is not installed now")
            elif name not in then:
                said.append(f"environment: {name}=={now[name][0]} is installed now, not then")
            elif then[name][0] != now[name][0]:
                said.append(f"environment: {name} {then[name][0]} then, {now[name][0]} now")
            elif then[name][1] != now[name][1] and NOT_FROM_A_WHEEL in (then[name][1], now[name][1]):
                how = ["an editable install" if h == NOT_FROM_A_WHEEL else "from a wheel"
                       for h in (then[name][1], now[name][1])]
                said.append(f"environment: {name}=={now[name][0]} was {how[0]} then, is {how[1]} now")
            elif then[name][1] != now[name][1]:
                said.append(f"environment: {name}=={now[name][0]} has other files now (RECORD sha256 "
                            f"{then[name][1][:12]} then, {now[name][1][:12]} now)")
    return said


class ProvenanceRecorder:
    """Computes the record on a thread (or at once for a rerun); `result()` waits for it."""

    def __init__(self, spec: JobSpec, interpreter: str, data_env: dict[str, str], workspace_root: Path) -> None:
        self.spec, self.interpreter, self.data_env = spec, interpreter, data_env
        self.workspace_root = workspace_root
        self._record: dict[str, Any] | None = None
        self._error: str | None = None
        self._thread = threading.Thread(target=self._compute, name="runyard-provenance", daemon=True)

    def _compute(self) -> None:
        try:
            cache = DigestCache(self.workspace_root / "digests.db")
            try:
                data = data_digests(self.spec, self.data_env, cache)
            finally:
                cache.close()
            self._record = {**base_record(self.spec), "data": data,
                            "environment": environment_record(self.interpreter,
                                                              self.workspace_root / "environments" / "locks"),
                            "machine": machine()}
        except Exception as e:  # noqa: BLE001 - a record we could not make is said, the run goes on
            self._error = f"{type(e).__name__}: {e}"

    @property
    def started(self) -> bool:
        return self._thread.is_alive() or self._record is not None or self._error is not None

    def start(self) -> ProvenanceRecorder:
        self._thread.start()
        return self

    def now(self) -> dict[str, Any] | None:
        self._compute()
        return self._record

    def result(self) -> tuple[dict[str, Any] | None, str | None]:
        if not self.started:  # the ranks never started (a failed launch): record what can be
            self._compute()
        if self._thread.is_alive():
            self._thread.join()
        return self._record, self._error


def as_property(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True)
