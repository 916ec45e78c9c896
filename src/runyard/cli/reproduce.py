"""`runyard rerun RUN` (a new run from what RUN recorded) and `runyard diff A B` (what differs)."""

from __future__ import annotations

import argparse
import json
from typing import Any

EXAMPLES = {
    "rerun": "runyard rerun digits_1700000000_abcd --wait\nrunyard rerun digits_1700000000_abcd --allow-changes",
    "diff": "runyard diff RUN_A RUN_B\nrunyard diff RUN_A RUN_B --json | jq .environment",
}


def add_parsers(sub: Any, make: Any) -> None:
    rerun = make(sub, "rerun", "submit a run again from what it recorded (code, command, layout, environment, data)")
    rerun.add_argument("run", help="run id (or a unique prefix)")
    rerun.add_argument("--wait", action="store_true", help="stream the output and exit with the rerun's outcome")
    rerun.add_argument("--allow-changes", action="store_true",
                       help="run even if its data or environment differ from the original's (recorded on it)")
    rerun.add_argument("--json", action="store_true", help="print the new run as JSON")
    diff = make(sub, "diff", "what differs between two runs: code, parameters, environment, data, layout, machine, "
                             "final metrics")
    diff.add_argument("run_a", help="a run id (or a unique prefix)")
    diff.add_argument("run_b", help="another run id")
    diff.add_argument("--json", action="store_true", help="print JSON")


def cmd_rerun(args: argparse.Namespace, original: Any) -> int:
    from runyard.status import RunStatus

    run = original.rerun(allow_changes=args.allow_changes)
    if args.json and not args.wait:
        print(json.dumps(run.get_details(), indent=2, default=str))
        return 0
    print(f"Submitted {run.id}, a rerun of {original.id}")
    if not args.wait:
        print(f"Follow it: runyard logs {run.id} -f")
        return 0
    run.wait_for_completion(show_output=not args.json, raise_on_error=False)
    status = RunStatus(run.get_status())
    return 0 if status is RunStatus.COMPLETED else 3 if status is RunStatus.CANCELED else 1


def _shown(value: Any) -> str:
    return "-" if value is None else str(value)


def cmd_diff(args: argparse.Namespace, run_a: Any, run_b: Any) -> int:
    from runyard.run_diff import diff_runs

    found = diff_runs(run_a, run_b)
    if args.json:
        print(json.dumps(found.to_json(), indent=2, default=str))
        return 0
    print(f"--- {found.run_a}\n+++ {found.run_b}")
    if found.same:
        print("The runs have the same code, parameters, environment, data, layout, machine and final metrics.")
        return 0
    for section in found.SECTIONS:
        changes = getattr(found, section)
        if not changes:
            continue
        print(f"\n{section}:")
        for c in changes:
            if section == "code":
                what = "added" if c.a is None else "removed" if c.b is None else f"changed ({c.a} -> {c.b} bytes)"
                print(f"  {c.name}: {what}")
            else:
                print(f"  {c.name}: {_shown(c.a)} -> {_shown(c.b)}")
    for patch in found.code_patches.values():
        print(f"\n{patch}", end="" if patch.endswith("\n") else "\n")
    return 0
