"""Hyperparameter expressions (the service's `azureml.train.hyperdrive.parameter_expressions`)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from runyard.errors import InvalidTypeError, InvalidValueError


@dataclass(frozen=True)
class Expression:
    kind: str
    args: tuple[Any, ...]

    def sample(self, rng: random.Random) -> Any:
        k, a = self.kind, self.args
        if k == "choice":
            return rng.choice(a)
        if k == "randint":
            return rng.randrange(a[0])
        if k == "uniform":
            return rng.uniform(a[0], a[1])
        if k == "quniform":
            return round(rng.uniform(a[0], a[1]) / a[2]) * a[2]
        if k == "loguniform":
            return math.exp(rng.uniform(a[0], a[1]))
        if k == "qloguniform":
            return round(math.exp(rng.uniform(a[0], a[1])) / a[2]) * a[2]
        if k == "normal":
            return rng.gauss(a[0], a[1])
        if k == "qnormal":
            return round(rng.gauss(a[0], a[1]) / a[2]) * a[2]
        if k == "lognormal":
            return math.exp(rng.gauss(a[0], a[1]))
        if k == "qlognormal":
            return round(math.exp(rng.gauss(a[0], a[1])) / a[2]) * a[2]
        raise InvalidValueError("expression", k, "is not a parameter expression", "use choice, uniform, ...")

    def to_json(self) -> list[Any]:
        return [self.kind, list(self.args)]


def _numbers(name: str, *values: Any) -> None:
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise InvalidTypeError(name, v, "must be a number", f"pass numbers to {name}(...)")
        if not math.isfinite(v):
            raise InvalidValueError(name, v, "must be a finite number", f"pass finite bounds to {name}(...)")


def choice(*options: Any) -> Expression:
    if len(options) == 1 and isinstance(options[0], (list, tuple, range)):
        options = tuple(options[0])
    if not options:
        raise InvalidValueError("choice", options, "has no options", "pass at least one value: choice(16, 32)")
    return Expression("choice", tuple(options))


def randint(upper: int) -> Expression:
    if isinstance(upper, bool) or not isinstance(upper, int) or upper < 1:
        raise InvalidValueError("randint", upper, "must be an integer >= 1", "pass randint(10) for 0..9")
    return Expression("randint", (upper,))


def _range(kind: str, low: Any, high: Any, *rest: Any) -> Expression:
    _numbers(kind, low, high, *rest)
    if low >= high:
        raise InvalidValueError(kind, (low, high), "needs low < high", f"pass {kind}(low, high) with low < high")
    if rest and rest[0] <= 0:
        raise InvalidValueError(kind, rest[0], "q must be > 0", "pass a positive q")
    return Expression(kind, (low, high, *rest))


def _gauss(kind: str, mu: Any, sigma: Any, *rest: Any) -> Expression:
    _numbers(kind, mu, sigma, *rest)
    if sigma <= 0:
        raise InvalidValueError(kind, sigma, "sigma must be > 0", "pass a positive sigma")
    return Expression(kind, (mu, sigma, *rest))


def uniform(min_value: float, max_value: float) -> Expression:
    return _range("uniform", min_value, max_value)


def quniform(min_value: float, max_value: float, q: float) -> Expression:
    return _range("quniform", min_value, max_value, q)


def loguniform(min_value: float, max_value: float) -> Expression:
    return _range("loguniform", min_value, max_value)


def qloguniform(min_value: float, max_value: float, q: float) -> Expression:
    return _range("qloguniform", min_value, max_value, q)


def normal(mu: float, sigma: float) -> Expression:
    return _gauss("normal", mu, sigma)


def qnormal(mu: float, sigma: float, q: float) -> Expression:
    return _gauss("qnormal", mu, sigma, q)


def lognormal(mu: float, sigma: float) -> Expression:
    return _gauss("lognormal", mu, sigma)


def qlognormal(mu: float, sigma: float, q: float) -> Expression:
    return _gauss("qlognormal", mu, sigma, q)
