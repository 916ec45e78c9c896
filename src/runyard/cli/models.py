"""`runyard models` / `runyard services`: registered models and deployed web services of a workspace."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parsers(sub: Any) -> None:
    for name, help_ in (("models", "registered models, newest first"), ("services", "deployed web services")):
        parser = sub.add_parser(name, help=help_)
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def cmd_models(args: argparse.Namespace, workspace: Any) -> int:
    from runyard.cli.render import console, key_table, when
    from runyard.models.registry import Model

    models = sorted((m.serialize() for m in Model.list(workspace)), key=lambda m: -m["createdTime"])
    if args.json:
        print(json.dumps(models, default=str))
        return 0
    rows = [(m["name"], str(m["version"]), m["file"], m["runId"] or "-", when(m["createdTime"]),
             ", ".join(f"{k}={v}" for k, v in m["tags"].items()) or "-") for m in models]
    console().print(key_table(("NAME", "VERSION", "FILE", "RUN", "REGISTERED", "TAGS"), rows))
    return 0


def cmd_services(args: argparse.Namespace, workspace: Any) -> int:
    from runyard.cli.render import console, key_table
    from runyard.models.webservice import Webservice

    services = [s.serialize() for s in Webservice.list(workspace)]
    if args.json:
        print(json.dumps(services, default=str))
        return 0
    rows = [(s["name"], s["computeType"], s["state"], s["scoringUri"], ", ".join(s["models"])) for s in services]
    console().print(key_table(("NAME", "TYPE", "STATE", "SCORING URI", "MODELS"), rows))
    return 0
