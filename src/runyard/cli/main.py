"""The `runyard` command (also `python -m runyard`).

Exit codes: 0 success (or the run Completed); 1 a runyard error, or the run Failed; 2 a usage or validation
error (a bad flag or value, nothing was started); 3 the run was Canceled; 130 interrupted (the run goes on);
141 the output was closed early (`runyard ... | head`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from runyard.cli.errors import in_cli_words
from runyard.errors import RunyardError, ValidationError
from runyard.install_hint import install_extra
from runyard.server.address import DEFAULT_HOST, DEFAULT_PORT
from runyard.status import RunStatus

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_CANCELED, EXIT_INTERRUPTED, EXIT_PIPE = 0, 1, 2, 3, 130, 141
# commands that only read: they never make a workspace where there is none
READ_ONLY = {"runs", "show", "logs", "metrics", "cancel", "download", "experiments", "tensorboard", "models", "export",
             "services", "datastores", "datasets", "env", "compute", "rerun", "diff", "priority"}


def _workspace(args: argparse.Namespace) -> Any:
    """-w PATH or URL, else $RUNYARD_WORKSPACE, else a .runyard folder found upward: a URL is a server's
    workspace (its token from $RUNYARD_SERVER_TOKEN), read and written through its API."""
    import os

    from runyard.workspace import Workspace

    where = args.workspace or os.environ.get("RUNYARD_WORKSPACE")
    if where and where.startswith(("http://", "https://")):
        return Workspace.connect(where)
    changes = args.command not in READ_ONLY or getattr(args, "compute_command", None) == "update"
    return Workspace.from_config(args.workspace, create=changes)


def _run(args: argparse.Namespace) -> Any:
    from runyard.run import Run

    return Run.get(_workspace(args), args.run)


def _two_runs(args: argparse.Namespace) -> tuple[Any, Any]:
    from runyard.run import Run

    ws = _workspace(args)
    return Run.get(ws, args.run_a), Run.get(ws, args.run_b)


def _exit_for(status: RunStatus) -> int:
    return {RunStatus.COMPLETED: EXIT_OK, RunStatus.CANCELED: EXIT_CANCELED}.get(status, EXIT_ERROR)


def cmd_submit(args: argparse.Namespace) -> int:
    from runyard.experiment import Experiment
    from runyard.train.dnn import PyTorch

    source = Path(args.source_dir or ".").resolve()
    script = Path(args.script)
    if (Path.cwd() / script).is_file() and (Path.cwd() / script).resolve().is_relative_to(source):
        entry = (Path.cwd() / script).resolve().relative_to(source).as_posix()  # given relative to the cwd
    else:
        entry = args.script  # given relative to --source-dir; PyTorch() checks it exists there
    from runyard.cli.box import gpu_layout

    procs_per_node, use_gpu = gpu_layout(args)
    est = PyTorch(source_directory=str(source), entry_script=entry, compute_target=args.target,
                  node_count=args.nodes, process_count_per_node=procs_per_node, distributed_backend=args.backend,
                  pip_packages=args.pip or None, use_gpu=use_gpu,
                  max_run_duration_seconds=args.max_duration, max_restarts=args.max_restarts, fault=args.inject,
                  cpus_per_process=args.cpus, memory=args.memory, priority=args.priority,
                  custom_docker_image=args.image, shm_size=args.shm_size)
    est.arguments = list(args.script_args)  # argv after `--`, passed through untouched
    ws = _workspace(args)
    if args.dry_run:
        from runyard.cli.dry_run import print_dry_run

        return print_dry_run(ws, est, args.experiment, args.target)
    run = Experiment(ws, args.experiment).submit(est)
    if args.json and not args.wait:
        print(json.dumps(run.get_details(), indent=2, default=str))
        return EXIT_OK
    if not args.json:
        print(f"Submitted {run.id} (experiment {args.experiment}, target {args.target or 'local'})")
    if not args.wait:
        print(f"Follow it: runyard logs {run.id} -f")
        return EXIT_OK
    try:
        details = run.wait_for_completion(show_output=not args.json, raise_on_error=False, all_ranks=args.all_ranks)
    except KeyboardInterrupt:
        return _interrupted(run.id)
    if args.json:
        print(json.dumps(details, indent=2, default=str))
    return _exit_for(RunStatus(run.get_status()))


def _interrupted(run_id: str) -> int:
    print(f"\nrunyard: stopped following; run {run_id} goes on. Follow it: runyard logs {run_id} -f   "
          f"Stop it: runyard cancel {run_id}", file=sys.stderr)
    return EXIT_INTERRUPTED


def cmd_runs(args: argparse.Namespace) -> int:
    from runyard.cli.runs_listing import cmd_runs as listing

    return listing(args, _workspace(args))


def _resilience_rows(properties: dict[str, str]) -> list[tuple[str, Any]]:
    """Each attempt (how it ended, the step it resumed from), what fault was injected, what a rerun changed."""
    rows: list[tuple[str, Any]] = []
    attempts = sorted((int(k.rsplit(".", 1)[1]), json.loads(v)) for k, v in properties.items()
                      if k.startswith("runyard.attempt."))
    if len(attempts) > 1 or any(a.get("requeued") for _, a in attempts):
        lines = []
        for n, a in attempts:
            lines.append(f"{n}: {a['outcome']}" + (f" (resumed from step {a['resumedFromStep']})"
                                                  if a.get("resumedFromStep") is not None else ""))
            lines += [f"   requeued by the scheduler, resumed from step {r['resumedFromStep']}"
                      for r in a.get("requeued", [])]
        rows.append(("Attempts", "\n".join(lines)))
    if "runyard.fault" in properties:
        f = json.loads(properties["runyard.fault"])
        rows.append(("Injected", f"{f['fault']}: " + (f"at {f.get('seconds')} s, step {f.get('step')}, pids "
                                                      f"{f.get('pids')}" if f["injected"] else f.get("why", ""))))
    if "runyard.rerunOf" in properties:
        rows.append(("Rerun of", properties["runyard.rerunOf"]))
    if "runyard.rerunChanges" in properties:
        rows.append(("Rerun changes", "\n".join(json.loads(properties["runyard.rerunChanges"]))))
    return rows


def cmd_tensorboard(args: argparse.Namespace) -> int:
    from runyard.cli.tensorboard import tensorboard_command

    ws = _workspace(args)
    from runyard.run import Run

    command = tensorboard_command([Run.get(ws, r) for r in args.runs], args.port)
    if args.dry_run:
        print(" ".join(command))
        return EXIT_OK
    print(f"TensorBoard on http://127.0.0.1:{args.port}/ (Ctrl-C to stop)", flush=True)
    import os

    os.execv(command[0], command)  # becomes TensorBoard: stopping this process stops it


def cmd_show(args: argparse.Namespace) -> int:
    from runyard.cli.render import console, key_value_table

    run = _run(args)
    d = run.get_details()
    if args.json:
        print(json.dumps(d, indent=2, default=str))
        return EXIT_OK
    rd = d["runDefinition"]
    rows: list[tuple[str, Any]] = [
        ("Run", d["runId"]), ("Experiment", d["experiment"]), ("Status", d["status"]), ("Target", d["target"]),
        ("Submitted", f"{d['submittedTimeUtc'] or '-'} by {d.get('submittedBy') or '?'}"), ("Started", d["startTimeUtc"] or "-"),
        ("Ended", d["endTimeUtc"] or "-"), ("Script", rd["script"]), ("Arguments", " ".join(rd["arguments"]) or "-"),
        ("Layout", f"{rd['nodeCount']} node(s) x {rd['processCountPerNode']} process(es), backend {rd['communicator']}"),
        ("Snapshot", d["properties"].get("ContentSnapshotId", "")[:16]), ("Folder", d["runFolder"]),
        ("Tags", ", ".join(f"{k}={v}" for k, v in d["tags"].items()) or "-"),
        ("Status history", " -> ".join(f"{e['status']}" for e in d["statusHistory"])),
    ]
    if d.get("statusDetail"):
        rows[2] = ("Status", f"{d['status']}: {d['statusDetail']}")
    if allocation := d["properties"].get("runyard.allocation"):
        from runyard.cli.box import allocation_text

        rows.append(("Allocation", allocation_text(json.loads(allocation))))
    for key, value in run.logged_metrics().items():
        rows.append((f"metric {key}", value))
    rows.append(("Files", "\n".join(run.get_file_names()) or "-"))
    if d.get("error"):
        rows.append(("Error", d["error"]["error"]["message"]))
    if rd.get("command"):
        rows.insert(8, ("Command", rd["command"]))
    if parent := d["properties"].get("runyard.parentRunId"):
        rows.insert(2, ("Parent", parent))
    rows += _resilience_rows(d["properties"])
    console().print(key_value_table(rows))
    children = run.children_summary()
    if children:  # a sweep's trials best first, or the runs submitted under this one
        from runyard.cli.render import fmt, key_table

        params = list(dict.fromkeys(k for c in children for k in c["hyperparameters"]))
        config = getattr(run, "primary_metric_config", None)
        metric = [f"{config['name'].upper()} ({'max' if config['goal'] == 'MAXIMIZE' else 'min'})"] if config else []
        console().print(key_table(("CHILD RUN", "STATUS", *metric, *params), [
            (c["runId"], c["status"], *([fmt(c["bestPrimaryMetric"]) if c["bestPrimaryMetric"] is not None else "-"]
                                         if config else []),
             *(fmt(c["hyperparameters"].get(p, "-")) for p in params)) for c in children]))
    return EXIT_OK


def cmd_logs(args: argparse.Namespace) -> int:
    from runyard.run_output import LogFollower

    run = _run(args)
    follower = LogFollower(run, all_ranks=args.all_ranks)
    if not args.follow:
        follower.pump(sys.stdout, final=True)
        return EXIT_OK
    try:
        while True:
            status = RunStatus(run.get_status())
            follower.pump(sys.stdout)
            if status.is_terminal():
                follower.pump(sys.stdout, final=True)
                print(f"[runyard] run {run.id} ended {status.value}")
                return _exit_for(status)
            time.sleep(0.2)
    except KeyboardInterrupt:
        return _interrupted(run.id)


def cmd_metrics(args: argparse.Namespace) -> int:
    from runyard.cli.render import console, key_value_table

    if args.system:
        from runyard.cli.system import print_system

        return print_system(_run(args), args.name, args.json)
    metrics = _run(args).logged_metrics(name=args.name)
    if args.json:
        print(json.dumps(metrics, default=str))
    elif not metrics:
        print("No metrics logged (yet).")
    else:
        console().print(key_value_table(sorted(metrics.items())))
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace) -> int:
    run = _run(args)
    before = run.get_status()
    run.cancel()
    after = run.get_status()
    print(f"{run.id}: {before} -> {after}")
    return EXIT_OK if after == RunStatus.CANCELED.value or before == after else EXIT_ERROR


def cmd_download(args: argparse.Namespace) -> int:
    run = _run(args)
    out = Path(args.output or run.id)
    names = [n for n in run.get_file_names() if not args.prefix or n.startswith(args.prefix)]
    run.download_files(prefix=args.prefix, output_directory=str(out))
    print(f"Downloaded {len(names)} file(s) to {out}")
    return EXIT_OK


def cmd_server(args: argparse.Namespace) -> int:
    import os

    from runyard.errors import InvalidValueError, WorkspaceError
    from runyard.store.location import parse_store_uri

    try:
        from runyard.server.app import serve
        from runyard.server.security import is_loopback, new_token, require_token_for
    except ModuleNotFoundError as e:  # fastapi / uvicorn: the server extra
        raise WorkspaceError(f"`runyard {args.command}` needs the server extra ({e.name} is not installed). "
                             "Fix: " + install_extra("server")) from None

    token = args.token or os.environ.get("RUNYARD_SERVER_TOKEN")
    generated = args.command == "ui" and not token and not is_loopback(args.host)
    if generated:
        token = new_token()
    if args.workers < 1:
        raise InvalidValueError("--workers", args.workers, "is not a process count", "pass 1 or more")
    location = parse_store_uri(args.store, "--store") if args.store else None
    if not args.store:
        require_token_for(args.host, token, named_tokens=_has_named_tokens(args))  # before anything is opened
    _check_port_free(args.host, args.port)
    ws = _workspace(args)
    if args.artifacts:
        from runyard.artifacts import ArtifactStore

        ws.folder.use_artifacts(ArtifactStore.parse(args.artifacts))  # checked writable before it is recorded
    if location is not None:
        ws.folder.use_store(location)  # refused, with nothing changed, if it would hide runs kept elsewhere
        require_token_for(args.host, token, named_tokens=_has_named_tokens(args))
    # a token the user chose is never echoed; one made here is shown once, so the address can be opened
    address = f"http://{args.host}:{args.port}/" + (f"?token={token}" if generated else "")
    print(f"runyard {'UI' if args.command == 'ui' else 'server'} for workspace {ws.path}: {address}", flush=True)
    serve(ws, args.host, args.port, token, max_upload_bytes=int(args.max_upload_mb * 2**20), workers=args.workers)
    return EXIT_OK


def _workspace_folder(args: argparse.Namespace) -> Any:
    """The local workspace folder (tokens and store moves are done where the store is configured)."""
    from runyard.errors import InvalidValueError
    from runyard.layout import WorkspaceFolder, find_workspace_path

    where = args.workspace or str(find_workspace_path())
    if where.startswith(("http://", "https://")):
        raise InvalidValueError("--workspace", where, "is a server's URL; this command works on the workspace "
                                "folder the server serves", "run it on the server's machine with -w FOLDER")
    folder = WorkspaceFolder(where)
    if not folder.exists():
        from runyard import Workspace

        Workspace(where)  # made on first use, as every other command does
    return folder


def _has_named_tokens(args: argparse.Namespace) -> bool:
    """Whether the workspace's store holds a live named token (a local workspace only; never creates one)."""
    from runyard.layout import WorkspaceFolder, find_workspace_path

    folder = WorkspaceFolder(args.workspace or find_workspace_path())
    if not folder.exists():
        return False
    return any(t.revoked is None for t in folder.store.list_tokens())


def _check_port_free(host: str, port: int) -> None:
    import socket

    from runyard.errors import InvalidValueError

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host or "0.0.0.0", port))
        except OSError as e:
            raise InvalidValueError("port", port, f"cannot be served on {host or '*'} ({e.strerror}); another "
                                    "process holds it", f"pass another one: --port {port + 1}") from None


def cmd_experiments(args: argparse.Namespace) -> int:
    names = _workspace(args).backend.list_experiments()
    if args.json:
        print(json.dumps(names))
        return EXIT_OK
    for name in names:
        print(name)
    return EXIT_OK


EXAMPLES = {
    "submit": "runyard submit train.py -e digits --pip scikit-learn --wait -- --epochs 5\n"
              "runyard submit train.py --nodes 2 --procs-per-node 2 --backend gloo --json",
    "runs": "runyard runs -e digits --status Completed\nrunyard runs --json | jq '.[0].runId'\n"
            "runyard runs --filter \"metrics.val_acc > 0.9 and params.lr = '0.01'\" --owner alice",
    "show": "runyard show digits_1700000000_abcd    (any unique prefix of the id works)",
    "logs": "runyard logs RUN -f\nrunyard logs RUN --all-ranks | head",
    "metrics": "runyard metrics RUN --name loss --json",
    "cancel": "runyard cancel RUN",
    "download": "runyard download RUN outputs -o ./results",
    "experiments": "runyard experiments --json",
    "tensorboard": "runyard tensorboard RUN_A RUN_B --port 6006",
    "server": "runyard server --host 0.0.0.0 --port 8765 --token \"$RUNYARD_SERVER_TOKEN\"",
    "ui": "runyard ui --port 8765",
    "completion": "runyard completion bash > /etc/bash_completion.d/runyard\nsource <(runyard completion bash)",
    "export": "runyard export RUN_A RUN_B --to mlflow sqlite:///mlflow.db",
    "models": "runyard models\nrunyard models --json",
    "services": "runyard services --json",
    "datastores": "runyard datastores --json",
    "datasets": "runyard datasets",
    "env": "runyard env list --json\nrunyard env prune --older-than 14",
    "compute": "runyard compute list\nrunyard compute update local --cpus 8 --memory 64G --max-concurrent-runs 4\n"
               "runyard compute update local --gpus 0,1\nrunyard compute attach-slurm gpus --partition a100 --gpus-per-node 8 "
               "--shared-folder /shared/runyard\nrunyard compute attach-ray ray1 --address head:6379",
    "import": "runyard import --from mlflow sqlite:///mlflow.db --experiment digits",
}


def _sub(sub: Any, name: str, help_: str, **kwargs: Any) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help_, description=help_[:1].upper() + help_[1:] + ".",
                          epilog="examples:\n  " + EXAMPLES[name].replace("\n", "\n  ") if name in EXAMPLES else None,
                          formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    from runyard import __version__

    p = argparse.ArgumentParser(prog="runyard", description="Run PyTorch training scripts as tracked runs.",
                                epilog="A workspace is a folder (.runyard, found upward from here) or a server's URL.\n"
                                       "Exit codes: 0 ok, 1 error or run Failed, 2 usage/validation error, "
                                       "3 run Canceled, 130 interrupted.",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"runyard {__version__}")
    p.add_argument("-w", "--workspace", help="workspace folder or server URL (default: $RUNYARD_WORKSPACE, else "
                                             ".runyard found upward from here), e.g. -w http://127.0.0.1:8765")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = _sub(sub, "submit", "submit a script as a run", usage="runyard submit SCRIPT [options] [-- SCRIPT ARGS...]")
    s.add_argument("script", help="the entry script, relative to --source-dir (or to here)")
    s.add_argument("--source-dir", help="folder to snapshot (default: .), e.g. --source-dir ./project")
    s.add_argument("--experiment", "-e", default="default", help="experiment name (default: default)")
    s.add_argument("--target", default=None, help="compute target name (default: local), e.g. --target gpus")
    s.add_argument("--nodes", type=int, default=1, help="node count (default 1)")
    s.add_argument("--procs-per-node", type=int, default=1, help="processes per node (default 1)")
    s.add_argument("--backend", choices=["gloo", "nccl", "mpi"], help="distributed backend for several processes")
    s.add_argument("--pip", action="append", help="a pip package the script needs (repeatable), e.g. --pip numpy")
    s.add_argument("--gpu", action="store_true", help="give each process a GPU of its own")
    s.add_argument("--gpus", type=int, help="N processes per node, each with a whole GPU of its own, e.g. --gpus 2")
    s.add_argument("--cpus", type=int, help="CPU slots per process, where the box limits CPUs (default 1)")
    s.add_argument("--memory", help="memory the run needs, where the box limits memory, e.g. --memory 16G")
    s.add_argument("--priority", type=int, default=0,
                   help="place in the box's queue: higher starts first (default 0)")
    s.add_argument("--image", help="run each process in a container of this image, e.g. --image python:3.11-slim")
    s.add_argument("--shm-size", help="with --image: the container's /dev/shm (default 2g), e.g. --shm-size 8g")
    s.add_argument("--dry-run", action="store_true", help="print each process's command line; start nothing")
    s.add_argument("--max-duration", type=float, default=None, help="stop the run after this many seconds")
    s.add_argument("--max-restarts", type=int, default=0, help="restart every rank up to N times if one fails")
    s.add_argument("--inject", help="a failure to inject, to test the script's resilience: kill-rank:R@step=N, "
                                    "kill-node:N@seconds=S, kill-agent:N@seconds=S, delay-rank:R@step=N,for=S, "
                                    "partition-node:N@step=K,for=S, delay-node:N@step=K,ms=M, "
                                    "fail-build (add ,attempt=K for a later attempt)")
    s.add_argument("--wait", action="store_true", help="stream the output and exit with the run's outcome")
    s.add_argument("--all-ranks", action="store_true", help="with --wait: every rank's output, prefixed by rank")
    s.add_argument("--json", action="store_true", help="print the run as JSON (after it ends, with --wait)")
    s.set_defaults(func=cmd_submit)

    r = _sub(sub, "runs", "list runs, newest first, with their latest metrics")
    r.add_argument("--experiment", "-e", help="only this experiment's runs")
    r.add_argument("--status", choices=[s.value for s in RunStatus], help="only runs in this status")
    r.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    r.add_argument("--json", action="store_true", help="print JSON instead of a table")
    r.add_argument("--no-metrics", action="store_true", help="leave the metric columns out (faster)")
    r.add_argument("--filter", help="a search expression, e.g. \"metrics.acc > 0.9 and params.lr = '0.01'\" "
                                    "(metrics.<key>, params.<key>, tags.<key>, status, owner, ...; joined by and)")
    r.add_argument("--owner", help="only runs this user or token name submitted")
    r.set_defaults(func=cmd_runs)

    for name, func, help_ in (("show", cmd_show, "details of a run"), ("logs", cmd_logs, "a run's output"),
                              ("metrics", cmd_metrics, "a run's metrics"), ("cancel", cmd_cancel, "cancel a run"),
                              ("download", cmd_download, "download a run's files")):
        c = _sub(sub, name, help_)
        c.add_argument("run", help="run id (or a unique prefix)")
        c.set_defaults(func=func)
        if name in ("show", "metrics"):
            c.add_argument("--json", action="store_true", help="print JSON")
        if name == "metrics":
            c.add_argument("--name", help="only this metric")
            c.add_argument("--system", action="store_true",
                           help="what the hardware did (CPU, memory, disk, network, GPUs) per node, not the script's")
        if name == "logs":
            c.add_argument("-f", "--follow", action="store_true", help="follow until the run ends")
            c.add_argument("--all-ranks", action="store_true", help="every rank's output, prefixed by rank")
        if name == "download":
            c.add_argument("prefix", nargs="?", help="only files whose name starts with this, e.g. outputs")
            c.add_argument("-o", "--output", help="folder to download into (default: ./<run id>)")
    from runyard.cli import box as box_cli

    box_cli.add_parsers(sub, _sub)
    sub.choices["priority"].set_defaults(func=lambda a: box_cli.cmd_priority(a, _run(a)))
    tb = _sub(sub, "tensorboard", "open TensorBoard on the event files of runs")
    tb.add_argument("runs", nargs="+", help="run ids (or unique prefixes)")
    tb.add_argument("--port", type=int, default=6006, help="TensorBoard's port (default 6006)")
    tb.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    tb.set_defaults(func=cmd_tensorboard)
    from runyard.cli import models as models_cli

    models_cli.add_parsers(sub)
    sub.choices["models"].set_defaults(func=lambda a: models_cli.cmd_models(a, _workspace(a)))
    sub.choices["services"].set_defaults(func=lambda a: models_cli.cmd_services(a, _workspace(a)))
    from runyard.cli import data as data_cli

    data_cli.add_parsers(sub)
    sub.choices["datastores"].set_defaults(func=lambda a: data_cli.cmd_datastores(a, _workspace(a)))
    sub.choices["datasets"].set_defaults(func=lambda a: data_cli.cmd_datasets(a, _workspace(a)))
    from runyard.cli import env as env_cli

    env_cli.add_parser(sub)
    sub.choices["env"].set_defaults(func=lambda a: env_cli.cmd_env(a, _workspace(a)))
    for name, help_ in (("server", "serve the REST API and the web UI"), ("ui", "open the web UI on loopback")):
        srv = _sub(sub, name, help_)
        srv.add_argument("--host", default=DEFAULT_HOST, help="bind address (default loopback; others need --token)")
        srv.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
        srv.add_argument("--token", help="bearer token clients must send (default: $RUNYARD_SERVER_TOKEN); named "
                                         "tokens: runyard token create NAME")
        srv.add_argument("--store", help="where runs are recorded: sqlite:///path.db (default: the workspace's "
                                         "file) or postgresql://user@host:5432/db (recorded in the workspace)")
        srv.add_argument("--workers", type=int, default=1, help="server processes on this port (default 1)")
        srv.add_argument("--artifacts", help="mirror run files (outputs, logs, snapshots) to this object store, "
                                             "e.g. s3://bucket/runyard (credentials from the environment)")
        srv.add_argument("--max-upload-mb", type=float, default=64.0,
                         help="largest request body accepted, in MiB (default 64), e.g. --max-upload-mb 512")
        srv.set_defaults(func=cmd_server)
    e = _sub(sub, "experiments", "list experiments")
    e.add_argument("--json", action="store_true", help="print JSON")
    e.set_defaults(func=cmd_experiments)
    from runyard.cli import compute as compute_cli

    compute_cli.add_parser(sub)
    sub.choices["compute"].set_defaults(func=lambda a: compute_cli.cmd_compute(a, _workspace(a)))
    from runyard.cli import interop as interop_cli

    interop_cli.add_parsers(sub, _sub)
    sub.choices["export"].set_defaults(func=lambda a: interop_cli.cmd_export(a, _workspace(a)))
    sub.choices["import"].set_defaults(func=lambda a: interop_cli.cmd_import(a, _workspace(a)))

    from runyard.cli import team as team_cli

    EXAMPLES.update(team_cli.EXAMPLES)
    team_cli.add_parsers(sub, _sub)
    sub.choices["token"].set_defaults(func=lambda a: team_cli.cmd_token(a, _workspace_folder(a)))
    sub.choices["migrate"].set_defaults(func=lambda a: team_cli.cmd_migrate(a, _workspace_folder(a)))

    from runyard.cli import reproduce as reproduce_cli

    EXAMPLES.update(reproduce_cli.EXAMPLES)
    reproduce_cli.add_parsers(sub, _sub)
    sub.choices["rerun"].set_defaults(func=lambda a: reproduce_cli.cmd_rerun(a, _run(a)))
    sub.choices["diff"].set_defaults(func=lambda a: reproduce_cli.cmd_diff(a, *_two_runs(a)))
    comp = _sub(sub, "completion", "print a shell completion script")
    comp.add_argument("shell", choices=["bash", "zsh"], help="the shell")
    comp.set_defaults(func=lambda a: _print(completion_script(p, a.shell)))
    for name, parser in sub.choices.items():  # the commands built in their own modules get their examples too
        if parser.epilog is None and name in EXAMPLES:
            parser.epilog = "examples:\n  " + EXAMPLES[name].replace("\n", "\n  ")
            parser.formatter_class = argparse.RawDescriptionHelpFormatter
    return p


def _print(text: str) -> int:
    print(text)
    return EXIT_OK


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    """Completion of commands and their flags, made from the parser itself (bash; zsh through bashcompinit)."""
    commands = {}
    for action in parser._subparsers._group_actions:  # argparse keeps subparsers here; no public accessor
        for name, sub in action.choices.items():
            commands[name] = sorted(o for a in sub._actions for o in a.option_strings)
    cases = "\n".join(f'    {name}) opts="{" ".join(opts)}" ;;' for name, opts in sorted(commands.items()))
    script = f"""# runyard completion ({shell})
_runyard() {{
  local cur="${{COMP_WORDS[COMP_CWORD]}}" cmd="${{COMP_WORDS[1]}}" opts
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "{" ".join(sorted(commands))} --version --workspace -w --help" -- "$cur")); return
  fi
  case "$cmd" in
{cases}
    *) opts="" ;;
  esac
  COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
}}
complete -o default -F _runyard runyard"""
    return ("autoload -U +X bashcompinit && bashcompinit\n" + script) if shell == "zsh" else script


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # everything after the first `--` belongs to the script, untouched
    script_args = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    args = build_parser().parse_args(argv)
    args.script_args = script_args
    try:
        return int(args.func(args))
    except ValidationError as e:  # a bad value: nothing was started; said with the flags the user typed
        print(f"runyard: error: {in_cli_words(e, getattr(args, 'source_dir', None))}", file=sys.stderr)
        return EXIT_USAGE
    except RunyardError as e:
        print(f"runyard: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`runyard logs RUN | head`): no traceback; stdout goes nowhere from here
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE


if __name__ == "__main__":
    sys.exit(main())
