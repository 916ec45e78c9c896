"""`runyard datastores` / `runyard datasets`: where a workspace's data lives, and its registered datasets."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parsers(sub: Any) -> None:
    for name, help_ in (("datastores", "the workspace's datastores"), ("datasets", "registered datasets")):
        parser = sub.add_parser(name, help=help_)
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def cmd_datastores(args: argparse.Namespace, workspace: Any) -> int:
    from runyard.cli.render import console, key_table

    stores = [d.serialize() for _, d in sorted(workspace.datastores.items())]
    if args.json:
        print(json.dumps(stores))
        return 0
    console().print(key_table(("NAME", "TYPE", "ROOT"), [(s["name"], s["type"], s["root"]) for s in stores]))
    return 0


def cmd_datasets(args: argparse.Namespace, workspace: Any) -> int:
    from runyard.cli.render import console, key_table
    from runyard.data.dataset import Dataset

    found = [d.serialize() for d in Dataset.get_all(workspace).values()]
    if args.json:
        print(json.dumps(found))
        return 0
    console().print(key_table(("NAME", "VERSION", "KIND", "DATASTORE", "PATH", "DESCRIPTION"), [
        (d["name"], str(d["version"]), d["kind"], d["datastore"], d["path"], d["description"] or "-") for d in found]))
    return 0
