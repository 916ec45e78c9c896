"""Early termination policies. Each report of the primary metric counts as one interval."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any

from runyard.errors import InvalidValueError


def _check(name: str, value: Any, minimum: float = 0) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum):
        raise InvalidValueError(name, value, f"must be a number >= {minimum}", f"pass {name}={max(minimum, 1)}")


@dataclass
class EarlyTerminationPolicy:
    evaluation_interval: int = 1
    delay_evaluation: int = 0

    kind = "none"

    def __post_init__(self) -> None:
        _check("evaluation_interval", self.evaluation_interval, 1)
        _check("delay_evaluation", self.delay_evaluation, 0)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    def due(self, n: int) -> bool:
        """Evaluate after the n-th report?"""
        return n > self.delay_evaluation and n % self.evaluation_interval == 0


@dataclass
class NoTerminationPolicy(EarlyTerminationPolicy):
    kind = "none"


@dataclass
class BanditPolicy(EarlyTerminationPolicy):
    slack_factor: float | None = None
    slack_amount: float | None = None
    kind = "bandit"

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.slack_factor is None) == (self.slack_amount is None):
            raise InvalidValueError("slack_factor", self.slack_factor, "needs exactly one of slack_factor and "
                                    "slack_amount", "pass slack_factor=0.1 or slack_amount=0.2")
        _check("slack_factor", self.slack_factor)
        _check("slack_amount", self.slack_amount)


@dataclass
class MedianStoppingPolicy(EarlyTerminationPolicy):
    kind = "median"


@dataclass
class TruncationSelectionPolicy(EarlyTerminationPolicy):
    truncation_percentage: int = 0
    kind = "truncation"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.truncation_percentage, int) or not 1 <= self.truncation_percentage <= 99:
            raise InvalidValueError("truncation_percentage", self.truncation_percentage, "must be 1..99",
                                    "pass truncation_percentage=20")


def _best(values: list[float], maximize: bool) -> float:
    return max(values) if maximize else min(values)


@dataclass(frozen=True)
class Decision:
    """An early-termination policy's verdict at one interval, with the numbers that made it."""

    stop: bool
    why: str


def should_stop(policy: dict[str, Any], mine: list[float], others: list[list[float]], maximize: bool) -> bool:
    decision = decide(policy, mine, others, maximize)
    return decision is not None and decision.stop


def decide(policy: dict[str, Any], mine: list[float], others: list[list[float]], maximize: bool) -> Decision | None:
    """Decide at interval n = len(mine), comparing with the runs that reached n too (None: not evaluated)."""
    n = len(mine)
    kind = policy["kind"]
    if kind == "none" or n <= policy["delay_evaluation"] or n % policy["evaluation_interval"]:
        return None
    peers = [o[:n] for o in others if len(o) >= n]
    if not peers:
        return None
    sign = 1 if maximize else -1
    better = ">" if maximize else "<"
    if kind == "bandit":
        best = _best([_best(p, maximize) for p in peers] + [_best(mine, maximize)], maximize)
        if policy.get("slack_factor") is not None:
            limit = best / (1 + policy["slack_factor"]) if maximize else best * (1 + policy["slack_factor"])
            rule = f"best {best:.4g} {'/' if maximize else '*'} (1 + slack_factor {policy['slack_factor']:g})"
        else:
            limit = best - sign * policy["slack_amount"]
            rule = f"best {best:.4g} {'-' if maximize else '+'} slack_amount {policy['slack_amount']:g}"
        stop = sign * mine[-1] < sign * limit
        return Decision(stop, f"bandit at interval {n}: value {mine[-1]:.4g} {'not ' if stop else ''}{better}= "
                              f"{rule} = {limit:.4g}")
    if kind == "median":
        median = statistics.median(statistics.fmean(p) for p in peers)
        mine_best = _best(mine, maximize)
        stop = sign * mine_best < sign * median
        return Decision(stop, f"median stopping at interval {n}: best value {mine_best:.4g} "
                              f"{'not ' if stop else ''}{better}= median of {len(peers)} runs' averages {median:.4g}")
    if kind == "truncation":
        everyone = sorted([sign * p[-1] for p in peers] + [sign * mine[-1]])
        cut = int(len(everyone) * policy["truncation_percentage"] / 100)
        stop = cut > 0 and sign * mine[-1] < everyone[cut] and sign * mine[-1] <= everyone[cut - 1]
        return Decision(stop, f"truncation at interval {n}: value {mine[-1]:.4g} is "
                              f"{'in' if stop else 'not in'} the lowest {policy['truncation_percentage']:g}% "
                              f"of {len(everyone)} runs")
    return None
