"""How the next hyperparameters are chosen: random, grid, or Bayesian (Optuna's TPE)."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from typing import Any

from runyard.errors import InvalidTypeError, InvalidValueError
from runyard.hyperdrive.parameter_expressions import Expression
from runyard.install_hint import install_extra


def _space(parameter_space: Any) -> dict[str, Expression]:
    if not isinstance(parameter_space, dict) or not parameter_space:
        raise InvalidTypeError("parameter_space", parameter_space, "must be a non-empty dict",
                               "pass {'--lr': uniform(0.001, 0.1), '--batch_size': choice(16, 32)}")
    for name, expr in parameter_space.items():
        if not isinstance(expr, Expression):
            raise InvalidTypeError(f"parameter_space[{name!r}]", expr, "is not a parameter expression",
                                   "use choice(...), uniform(...), loguniform(...), ...")
    return dict(parameter_space)


class ParameterSampling:
    kind = "base"
    supported: tuple[str, ...] = ()

    def __init__(self, parameter_space: dict[str, Expression], properties: dict[str, Any] | None = None) -> None:
        self.parameter_space = _space(parameter_space)
        for name, expr in self.parameter_space.items():
            if self.supported and expr.kind not in self.supported:
                raise InvalidValueError(f"parameter_space[{name!r}]", expr.kind,
                                        f"is not supported by {type(self).__name__}",
                                        f"use one of {', '.join(self.supported)}")
        self.properties = dict(properties or {})

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "space": {k: v.to_json() for k, v in self.parameter_space.items()},
                "properties": self.properties}


class RandomParameterSampling(ParameterSampling):
    kind = "random"


class GridParameterSampling(ParameterSampling):
    kind = "grid"
    supported = ("choice",)


class BayesianParameterSampling(ParameterSampling):
    kind = "bayesian"
    supported = ("choice", "uniform", "quniform")

    def __init__(self, parameter_space: dict[str, Expression], properties: dict[str, Any] | None = None) -> None:
        import importlib.util

        if importlib.util.find_spec("optuna") is None:  # its TPE sampler does the work
            raise InvalidValueError("BayesianParameterSampling", "optuna", "needs Optuna, which is not installed",
                                    install_extra("hpo") + ", or use RandomParameterSampling")
        super().__init__(parameter_space, properties)


# a random space of at most this many configurations is drawn without repeats (larger ones rarely repeat)
_FINITE_LIMIT = 1_000_000


# -- the controller's side: a space (from JSON) -> successive parameter sets --------------------------
def _space_from_json(space: dict[str, list[Any]]) -> dict[str, Expression]:
    return {k: Expression(kind, tuple(args)) for k, (kind, args) in space.items()}


class Sampler:
    """Yields parameter sets; `report()` tells a Bayesian sampler how one did."""

    def __init__(self, sampling: dict[str, Any], goal_maximize: bool, seed: int | None = None) -> None:
        self.kind = sampling["kind"]
        self.space = _space_from_json(sampling["space"])
        self.rng = random.Random(seed)
        self._grid: Iterator[tuple[Any, ...]] | None = None
        self._study: Any = None
        self._trials: dict[int, Any] = {}
        self._seen: set[tuple[int, ...]] = set()
        self._finite: tuple[list[str], list[tuple[Any, ...]]] | None = None
        sizes = [len(e.args) if e.kind == "choice" else e.args[0] if e.kind == "randint" else 0
                 for e in self.space.values()]
        if self.kind == "random" and all(sizes) and math.prod(sizes) <= _FINITE_LIMIT:
            self._finite = (list(self.space), [e.args if e.kind == "choice" else tuple(range(e.args[0]))
                                                for e in self.space.values()])
        if self.kind == "grid":
            names = list(self.space)
            self._grid = itertools.product(*(self.space[n].args for n in names))
            self._names = names
        elif self.kind == "bayesian":
            import optuna

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            self._study = optuna.create_study(direction="maximize" if goal_maximize else "minimize",
                                              sampler=optuna.samplers.TPESampler(seed=seed))

    def next(self, child_index: int) -> dict[str, Any] | None:
        if self._grid is not None:
            values = next(self._grid, None)
            return None if values is None else dict(zip(self._names, values))
        if self._study is not None:
            trial = self._study.ask(self._distributions())
            self._trials[child_index] = trial
            return {k: trial.params[k] for k in self.space}
        if self._finite is not None:
            return self._next_unseen()
        return {name: expr.sample(self.rng) for name, expr in self.space.items()}

    def _next_unseen(self) -> dict[str, Any] | None:
        """Random sampling over a finite space (choice, randint only): a configuration not drawn before,
        uniformly among the unseen ones; None once every one has been drawn."""
        names, options = self._finite
        total = math.prod(len(o) for o in options)
        if len(self._seen) >= total:
            return None
        while True:  # rejection: cheap while most of the space is unseen
            picks = tuple(self.rng.randrange(len(o)) for o in options)
            if picks not in self._seen:
                break
            if len(self._seen) > total // 2:  # mostly seen: draw from what is left instead
                unseen = [p for p in itertools.product(*(range(len(o)) for o in options)) if p not in self._seen]
                picks = self.rng.choice(unseen)
                break
        self._seen.add(picks)
        return {name: opts[i] for name, opts, i in zip(names, options, picks)}

    def report(self, child_index: int, value: float | None) -> None:
        trial = self._trials.pop(child_index, None)
        if trial is not None and self._study is not None:
            import optuna

            if value is None or (isinstance(value, float) and math.isnan(value)):
                self._study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                self._study.tell(trial, value)

    def _distributions(self) -> dict[str, Any]:
        from optuna.distributions import CategoricalDistribution, FloatDistribution

        out: dict[str, Any] = {}
        for name, expr in self.space.items():
            if expr.kind == "choice":
                out[name] = CategoricalDistribution(list(expr.args))
            elif expr.kind == "uniform":
                out[name] = FloatDistribution(expr.args[0], expr.args[1])
            else:  # quniform
                low, high, q = expr.args
                out[name] = FloatDistribution(low, low + math.floor((high - low) / q) * q, step=q)
        return out
