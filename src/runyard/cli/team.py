"""`runyard token` (named server tokens) and `runyard migrate` (copy a workspace's records between stores)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

EXAMPLES = {
    "token": "runyard token create alice\nrunyard token create ops --admin\nrunyard token create dashboards --read-only\nrunyard token list\n"
             "runyard token revoke alice",
    "migrate": "runyard migrate --from sqlite:///.runyard/runyard.db --to postgresql://runyard@db:5432/runyard",
}


def add_parsers(sub: Any, make: Any) -> None:
    token = make(sub, "token", "named tokens for a runyard server: create, list, revoke")
    actions = token.add_subparsers(dest="token_action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="make a token and print its secret once")
    create.add_argument("name", help="who or what uses it (recorded as the submitter of its runs)")
    create.add_argument("--read-only", action="store_true", help="it may read, not submit, cancel or upload")
    create.add_argument("--admin", action="store_true",
                        help="it may also cancel, reprioritise and rerun runs that other tokens submitted")
    listing = actions.add_parser("list", help="tokens, their kind and whether they are revoked")
    listing.add_argument("--json", action="store_true", help="print JSON")
    revoke = actions.add_parser("revoke", help="refuse a token from now on, on every server of this store")
    revoke.add_argument("name", help="the token's name")
    migrate = make(sub, "migrate", "copy every experiment, run, metric, tag and token from one store to another")
    migrate.add_argument("--from", dest="source", required=True, help="the store to copy from (a store URI)")
    migrate.add_argument("--to", dest="target", required=True, help="the store to copy into (a store URI)")
    migrate.add_argument("--record", action="store_true",
                         help="afterwards, record the target as this workspace's store")
    migrate.add_argument("--artifacts", help="also copy each run's files (and snapshot) from this workspace's run "
                                             "folders to this object store, e.g. s3://bucket/runyard")


def cmd_token(args: argparse.Namespace, folder: Any) -> int:
    from runyard.cli.render import console, key_table, when
    from runyard.errors import InvalidValueError
    from runyard.server.security import new_token
    from runyard.server.tokens import token_digest
    from runyard.store.base import TokenKind, TokenRecord

    store = folder.store
    if args.token_action == "create":
        if not args.name or len(args.name) > 100 or not args.name.isprintable():
            raise InvalidValueError("name", args.name, "is not a printable name of 1 to 100 characters",
                                    "pass a short name, e.g. alice or ci-dashboards")
        secret = new_token()
        if args.read_only and args.admin:
            raise InvalidValueError("--admin", True, "cannot go with --read-only", "pass one of them")
        kind = TokenKind.READ_ONLY if args.read_only else TokenKind.ADMIN if args.admin else TokenKind.WRITE
        store.add_token(TokenRecord(args.name, token_digest(secret), kind, time.time()))
        print(secret)
        print(f"token {args.name!r} ({kind.value}) created; its secret is shown only now. Use it as "
              "RUNYARD_SERVER_TOKEN or Authorization: Bearer <secret>", file=sys.stderr)
        return 0
    if args.token_action == "revoke":
        if not store.revoke_token(args.name, time.time()):
            raise InvalidValueError("name", args.name, "is not a live token", "see them with: runyard token list")
        print(f"token {args.name!r} revoked; servers of this store refuse it from now on")
        return 0
    tokens = store.list_tokens()
    if args.json:
        print(json.dumps([{"name": t.name, "kind": t.kind.value, "created": t.created, "revoked": t.revoked}
                          for t in tokens]))
        return 0
    rows = [(t.name, t.kind.value, when(t.created), when(t.revoked) if t.revoked else "-") for t in tokens]
    console().print(key_table(("NAME", "KIND", "CREATED", "REVOKED"), rows))
    return 0


def copy_run_files(folder: Any, store: Any, target: Any, artifacts: Any) -> int:
    """Each run's files and snapshot blobs, from its folder here to the object store (again is harmless);
    the target store's copy of the run records where they are."""
    from runyard import snapshot
    from runyard.artifacts import ARTIFACTS_PROPERTY

    sent = 0
    for record in store.list_runs(ascending=True):
        run_folder = folder.run_folder(record.run_id)
        if not run_folder.path.is_dir():
            continue
        artifacts.put_files(record.run_id, list(run_folder.files()))
        if record.snapshot_digest and folder.blobs.has(record.snapshot_digest):
            manifest = snapshot.load_manifest(folder.blobs, record.snapshot_digest)
            artifacts.put_blobs({record.snapshot_digest: folder.blobs.path_of(record.snapshot_digest),
                                 **{f.digest: folder.blobs.path_of(f.digest) for f in manifest.files}})
        if ARTIFACTS_PROPERTY not in target.get_run(record.run_id).properties:
            target.add_properties(record.run_id, {ARTIFACTS_PROPERTY: artifacts.uri})
        sent += 1
        print(f"files of {record.run_id} -> {artifacts.run_prefix(record.run_id)}", flush=True)
    return sent


def cmd_migrate(args: argparse.Namespace, folder: Any) -> int:
    from runyard.store.location import parse_store_uri
    from runyard.store.migrate import copy_store

    source_at, target_at = parse_store_uri(args.source, "--from"), parse_store_uri(args.target, "--to")
    if source_at.uri == target_at.uri:
        from runyard.errors import InvalidValueError

        raise InvalidValueError("--to", target_at.shown, "is the --from store", "name another store to copy into")
    if source_at.path is not None and not source_at.path.exists():
        from runyard.errors import InvalidValueError

        raise InvalidValueError("--from", source_at.shown, "is no file", "pass the workspace's runyard.db")
    artifacts = None
    if args.artifacts:
        from runyard.artifacts import ArtifactStore

        artifacts = ArtifactStore.parse(args.artifacts)
        artifacts.check()
    source, target = source_at.open(), target_at.open()
    started = time.monotonic()
    report = copy_store(source, target, progress=lambda line: print(line, flush=True))
    if artifacts is not None:
        sent = copy_run_files(folder, source, target, artifacts)
        print(f"copied the files of {sent} runs to {artifacts.uri}")
    print(f"migrated {source_at.shown} -> {target_at.shown}: {len(report.copied)} runs copied, "
          f"{len(report.skipped)} already there, {report.points} metric points, {report.tokens} tokens; every run's "
          f"row counts verified ({time.monotonic() - started:.1f} s)")
    if args.record:
        with folder.config_lock():
            config = folder.read_config()
            config["store"] = target_at.uri
            folder.write_config(config)
        print(f"workspace {folder.path} now keeps its runs in {target_at.shown}")
    source.close()
    target.close()
    return 0
