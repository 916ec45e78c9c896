"""`azureml.train.hyperdrive.run`: HyperDriveRun, the parent run of a sweep, and the questions asked of its
children (a service facade class: it is a Run)."""

from __future__ import annotations

import json
import math
from typing import Any

from runyard.hyperdrive.config import PrimaryMetricGoal
from runyard.run import Run


class HyperDriveRun(Run):
    @property
    def primary_metric_config(self) -> dict[str, str]:
        """{'name': the primary metric, 'goal': 'MAXIMIZE' or 'MINIMIZE'}."""
        return dict(json.loads(self.get_properties()["primary_metric_config"]))

    def _goal(self) -> tuple[str, bool]:
        config = self.primary_metric_config
        return config["name"], config["goal"] == "MAXIMIZE"

    def _scored(self, include_failed: bool = True, include_canceled: bool = True) -> list[tuple[float | None, Run]]:
        name, maximize = self._goal()
        scored = []
        for child in self.get_children():
            state = child.get_status()
            if (state == "Failed" and not include_failed) or (state == "Canceled" and not include_canceled):
                continue
            found = self._backend.metrics(child.id, name, 0, False).get(name)
            logged = found if isinstance(found, list) else [] if found is None else [found]
            values = [v for v in logged if isinstance(v, (int, float)) and not isinstance(v, bool)
                      and not (isinstance(v, float) and math.isnan(v))]
            scored.append(((max(values) if maximize else min(values)) if values else None, child))
        return scored

    def get_best_run_by_primary_metric(self, include_failed: bool = True, include_canceled: bool = True,
                                       include_resume_from_runs: bool = True) -> Run | None:
        _, maximize = self._goal()
        scored = [(v, r) for v, r in self._scored(include_failed, include_canceled) if v is not None]
        if not scored:
            return None
        return (max if maximize else min)(scored, key=lambda pair: pair[0])[1]

    def get_children_sorted_by_primary_metric(self, top: int = 0, reverse: bool = False,
                                              discard_no_metric: bool = False) -> list[dict[str, Any]]:
        _, maximize = self._goal()
        rows = [{"run_id": r.id, "hyperparameters": r.get_properties().get("hyperparameters"),
                 "best_primary_metric": v, "status": r.get_status()} for v, r in self._scored()
                if v is not None or not discard_no_metric]
        with_metric = sorted((x for x in rows if x["best_primary_metric"] is not None),
                             key=lambda x: x["best_primary_metric"], reverse=maximize != reverse)
        rows = with_metric + [x for x in rows if x["best_primary_metric"] is None]
        return rows[:top] if top else rows

    def children_summary(self) -> list[dict[str, Any]]:
        """The trials best first by the primary metric, with their sampled hyperparameters."""
        return [{"runId": r["run_id"], "status": r["status"], "bestPrimaryMetric": r["best_primary_metric"],
                 "hyperparameters": json.loads(r["hyperparameters"]) if r["hyperparameters"] else {}}
                for r in self.get_children_sorted_by_primary_metric()]

    def get_hyperparameters(self) -> dict[str, str]:
        return {c.id: c.get_properties().get("hyperparameters", "{}") for c in self.get_children()}

    def get_metrics(self, name: str | None = None, recursive: bool = False, run_type: str | None = None,
                    populate: bool = False, all_ranks: bool = False, rank: int | None = None) -> dict[str, Any]:
        """As the service's HyperDriveRun: {child run id: its metrics} for every run of the sweep."""
        return {c.id: c.get_metrics(name, all_ranks=all_ranks, rank=rank) for c in self.get_children()}

    def cancel(self, timeout: float = 60.0) -> None:
        super().cancel(timeout)


__all__ = ["HyperDriveRun", "PrimaryMetricGoal"]
