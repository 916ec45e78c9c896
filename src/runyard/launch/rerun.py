"""Submitting a run again from what it recorded (`runyard rerun`, `Run.rerun()`).

The rerun gets the original's snapshot, spec (command, layout, environment request, data references,
limits) and sampled hyperparameters, and is linked to it (runyard.rerunOf). Before anything is written,
what can be checked here is compared with the original's record: data in local datastores (digests, cached
by size and mtime), the base interpreter's Python and torch. The rerun's supervisor checks the rest (data
in object stores after download, the built environment's exact packages) before its ranks start.
Differences refuse the rerun, each named, unless changes are allowed; then they are recorded on it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from runyard.errors import InvalidValueError, ReproducibilityError
from runyard.launch.provenance_record import ALLOW_CHANGES_PROPERTY, EXPECTED_PROPERTY, differences
from runyard.provenance import PROVENANCE_PROPERTY, DigestCache, content_digest, environment_lock
from runyard.spec import DataMode, JobSpec
from runyard.store.base import RunRecord

RERUN_OF_PROPERTY = "runyard.rerunOf"
CARRIED_PROPERTIES = ("hyperparameters", "primary_metric_config")


def checkable_now(spec: JobSpec, expected: dict[str, Any], workspace_root: Path) -> dict[str, Any]:
    """What this machine can say now without starting anything: local datastores' data, the base Python."""
    found: dict[str, Any] = {"data": {}}
    cache = DigestCache(workspace_root / "digests.db")
    try:
        for binding in spec.inputs:
            if binding.mode is DataMode.UPLOAD or binding.name not in expected.get("data", {}):
                continue
            if "://" in binding.datastore_root:
                found["data"][binding.name] = expected["data"][binding.name]  # checked after download
                continue
            path = Path(binding.datastore_root) / binding.path_on_datastore
            if path.exists():
                digest = content_digest(path, cache)
                found["data"][binding.name] = {"datastore": binding.datastore, "path": binding.path_on_datastore,
                                               "digest": digest.digest, "files": digest.files, "bytes": digest.bytes}
    finally:
        cache.close()
    if expected.get("environment", {}).get("interpreter") == "base":
        lock = environment_lock(sys.executable, workspace_root / "environments" / "locks")
        found["environment"] = {"python": lock["python"], "torch": lock["torch"]}
    return found


def plan_rerun(record: RunRecord, workspace_root: Path, allow_changes: bool) -> tuple[JobSpec, dict[str, str],
                                                                                   list[str]]:
    """(the spec to submit, the properties the rerun carries, the differences found here) or a refusal."""
    raw = record.properties.get(PROVENANCE_PROPERTY)
    if raw is None:
        raise InvalidValueError("run", record.run_id, "has no reproduction record (it has not ended yet, or it ran "
                                "before runyard recorded one)", "wait for it to end, or submit its configuration again")
    expected = json.loads(raw)
    spec = JobSpec.from_json(record.spec_json)
    changed = differences({"data": expected.get("data", {}), "environment": {
        k: v for k, v in expected.get("environment", {}).items() if k in ("python", "torch")}},
        checkable_now(spec, expected, workspace_root))
    if changed and not allow_changes:
        raise ReproducibilityError(
            f"run {record.run_id} cannot be rerun as it ran; nothing was submitted:\n  " + "\n  ".join(changed)
            + "\nFix: pass --allow-changes (Run.rerun(allow_changes=True)) to run it with these differences, "
              "which are then recorded on the new run", tuple(changed))
    properties = {RERUN_OF_PROPERTY: record.run_id, EXPECTED_PROPERTY: raw,
                  ALLOW_CHANGES_PROPERTY: "true" if allow_changes else "false",
                  **{k: record.properties[k] for k in CARRIED_PROPERTIES if k in record.properties}}
    if changed:
        properties["runyard.rerunChanges"] = json.dumps(changed)
    return spec, properties, changed
