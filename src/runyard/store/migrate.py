"""Copying a workspace's records from one store to another (`runyard migrate`), e.g. SQLite -> PostgreSQL.

Each run is copied whole in one transaction of the target (its row, status history, tags, parameters,
spool offsets, metric chunks, objects and summaries), then its row counts are compared with the
source's. A run already in the target is skipped, so a copy that was interrupted resumes where it
stopped, and running it twice copies nothing twice. Named tokens are copied by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from runyard.errors import StoreError
from runyard.store.base import Store


@dataclass
class MigrationReport:
    copied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)   # already in the target (an earlier, interrupted copy)
    tokens: int = 0
    points: int = 0

    @property
    def runs(self) -> int:
        return len(self.copied) + len(self.skipped)


def copy_store(source: Store, target: Store, progress: Callable[[str], None] = lambda _: None) -> MigrationReport:
    report = MigrationReport()
    for name in source.list_experiments():
        target.ensure_experiment(name)
    # oldest first, so run numbers and the order of a partial copy follow the source
    for record in source.list_runs(ascending=True):
        bundle = source.run_bundle(record.run_id)
        wanted = source.counts(record.run_id)
        if target.put_bundle(bundle):
            report.copied.append(record.run_id)
            action = "copied"
        else:
            report.skipped.append(record.run_id)
            action = "already there"
        have = target.counts(record.run_id)
        if have != wanted:
            differing = {k: (wanted[k], have.get(k)) for k in wanted if have.get(k) != wanted[k]}
            raise StoreError(f"run {record.run_id}: the copy differs from the source (rows source/target: "
                             f"{differing}); the source is unchanged. Fix: delete that run from the target "
                             "database and run the migration again")
        report.points += wanted["metric_points"]
        progress(f"{action} {record.run_id} ({wanted['metric_points']} points, {wanted['status_events']} status "
                 f"events, {wanted['tags']} tags) [{report.runs}]")
    have_tokens = {t.name for t in target.list_tokens()}
    for token in source.list_tokens():
        if token.name not in have_tokens and token.revoked is None:  # a revoked token is not carried over
            target.add_token(token)
            report.tokens += 1
    return report
