"""Checking what a script logs, on the training thread: cheap checks only, no conversion."""

from __future__ import annotations

import numbers
import sys
from typing import Any

from runyard.errors import InvalidTypeError, InvalidValueError

_MAX_FLOAT_INT = int(sys.float_info.max)  # a larger int has no float: no store can keep it as a number
MAX_STEP = 2**63 - 1


def check_step(step: Any) -> None:
    if type(step) is not int or not 0 <= step <= MAX_STEP:
        raise InvalidValueError("step", step, "must be an integer from 0 to 2**63-1",
                                "pass step=epoch (or the batch count), or leave it out")


def check_name(name: Any) -> str:
    if type(name) is not str or not name:
        raise InvalidTypeError("name", name, "must be a non-empty string", "pass a metric name such as 'loss'")
    return name


def check_scalar(name: str, value: Any) -> Any:
    """Numbers, numpy scalars, one-element tensors and strings pass; the tensor is not read here."""
    t = type(value)
    if t is float or t is str:
        return value
    if t is int:
        if -_MAX_FLOAT_INT <= value <= _MAX_FLOAT_INT:
            return value
        raise InvalidValueError(f"log({name!r}) value", f"an integer of {len(str(abs(value)))} digits",
                                "is too large to store as a number (beyond a float's range)",
                                "log it as a float if it fits, or as a string: str(value)")
    if t is bool or isinstance(value, numbers.Number):
        return value
    module = t.__module__
    if module == "torch" or module.startswith("torch."):
        if value.numel() != 1:  # metadata only: no device sync
            raise InvalidValueError(f"log({name!r}) value", f"tensor of shape {tuple(value.shape)}",
                                    "is not a single number", "log a scalar (loss.mean()) or use log_list")
        if value.device.type == "cpu":
            return value.item()  # reading host memory syncs nothing and is cheaper than a copy
        # on an accelerator: an async copy (no sync) that the spool thread reads later; the copy keeps an
        # in-place update made after log() from changing what was logged
        return value.detach().clone()
    if module == "numpy" and getattr(value, "ndim", 1) == 0:
        return value
    if module == "numpy" and getattr(value, "size", 0) == 1:
        return value
    fix = ("use log_list for a sequence" if isinstance(value, (list, tuple)) else
           "use log_row or log_table for columns" if isinstance(value, dict) else
           "pass a number (int, float, numpy scalar or one-element tensor)")
    raise InvalidTypeError(f"log({name!r}) value", value, f"has type {t.__name__}, not a number", fix)


def check_list(name: str, values: Any) -> Any:
    """Any iterable of values (a list, a tuple, a range, a generator, a 1-d array) becomes a list here:
    a generator can be read only once, and the spool reads later."""
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise InvalidTypeError(f"log_list({name!r}) values", values, "is not a list of numbers",
                               "pass a list such as [0.1, 0.2], or use log() for one value")
    if type(values).__module__ == "numpy" or type(values).__module__.startswith("torch"):
        return values  # converted on the spool thread (a tensor's copy there forces no sync here)
    return list(values)


def check_table(name: str, table: Any) -> dict[str, Any]:
    if not isinstance(table, dict) or not all(isinstance(k, str) for k in table):
        raise InvalidTypeError(f"log_table({name!r}) value", table, "is not a dict of columns",
                               "pass {'column': [values...], ...}")
    return table
