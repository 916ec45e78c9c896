"""`runyard export RUN... --to mlflow URI` and `runyard import --from mlflow URI [--experiment NAME]`."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parsers(sub: Any, describe: Any) -> None:
    export = describe(sub, "export", "write runs into an MLflow tracking store (params, metrics, tags, outputs)")
    export.add_argument("runs", nargs="+", help="run ids (or unique prefixes)")
    export.add_argument("--to", nargs=2, metavar=("KIND", "URI"), required=True,
                        help="where to: mlflow and a tracking URI, e.g. --to mlflow sqlite:///mlflow.db")
    export.add_argument("--json", action="store_true", help="print {runyard id: MLflow id} as JSON")
    imp = describe(sub, "import", "read the runs of an MLflow tracking store into this workspace")
    imp.add_argument("--from", dest="source", nargs=2, metavar=("KIND", "URI"), required=True,
                     help="where from: mlflow and a tracking URI, e.g. --from mlflow sqlite:///mlflow.db")
    imp.add_argument("--experiment", "-e", help="only this MLflow experiment")
    imp.add_argument("--json", action="store_true", help="print {MLflow id: runyard id} as JSON")


def _mlflow(kind: str) -> None:
    from runyard.errors import InvalidValueError

    if kind != "mlflow":
        raise InvalidValueError("kind", kind, "is not a tracker runyard moves runs to or from", "use mlflow")


def cmd_export(args: argparse.Namespace, workspace: Any) -> int:
    from runyard.interop.mlflow import export_runs
    from runyard.run import Run

    _mlflow(args.to[0])
    done = export_runs([Run.get(workspace, r) for r in args.runs], args.to[1])
    print(json.dumps(done) if args.json else "\n".join(f"{k} -> mlflow run {v}" for k, v in done.items()))
    return 0


def cmd_import(args: argparse.Namespace, workspace: Any) -> int:
    from runyard.interop.mlflow import import_runs

    _mlflow(args.source[0])
    done = import_runs(workspace, args.source[1], args.experiment)
    print(json.dumps(done) if args.json else "\n".join(f"mlflow run {k} -> {v}" for k, v in done.items())
          or "nothing new to import")
    return 0
