"""Turning script_params / arguments into argv tokens and the data bindings they mention."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from runyard.data.data_reference import DataReference
from runyard.data.datastore import Datastore
from runyard.errors import InvalidTypeError, InvalidValueError
from runyard.spec import DataBinding

_SCALARS = (str, numbers.Number)


def _token(field: str, value: Any, bindings: list[DataBinding]) -> str:
    if isinstance(value, Datastore):  # a bare datastore means a mount of all of it, as in the service
        value = value.as_mount()
    if hasattr(value, "to_data_reference"):  # dataset.as_named_input(name) without a mode
        value = value.to_data_reference()
    if isinstance(value, DataReference):
        binding = value.to_binding()
        if binding not in bindings:
            bindings.append(binding)
        return str(value)
    if isinstance(value, _SCALARS):
        return str(value)
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy scalars
        return str(value.item())
    raise InvalidTypeError(field, value, f"has type {type(value).__name__}, which cannot become a command-line "
                           "argument", "pass a string, a number, '' for a bare flag, or a Datastore/DataReference")


def flatten_script_params(script_params: Any, bindings: list[DataBinding]) -> list[str]:
    """`{'--lr': 0.1, '--flag': ''}` -> `['--lr', '0.1', '--flag']`."""
    if script_params is None:
        return []
    if not isinstance(script_params, Mapping):
        raise InvalidTypeError("script_params", script_params, f"must be a dict, not {type(script_params).__name__}",
                               "pass a dict such as {'--epochs': 5}, or use arguments=[...] on ScriptRunConfig")
    argv: list[str] = []
    for key, value in script_params.items():
        if not isinstance(key, str) or not key:
            raise InvalidTypeError("script_params", key, "has a key that is not a non-empty string",
                                   "use argument names such as '--epochs' as keys")
        argv.append(key)
        if isinstance(value, str) and value == "":
            continue
        if value is None:
            raise InvalidValueError(f"script_params[{key!r}]", None, "has no value",
                                    "pass '' for a bare flag, or the value to give")
        if isinstance(value, (list, tuple, dict, set)):
            raise InvalidTypeError(f"script_params[{key!r}]", value, "is a collection, which has no single "
                                   "command-line form", "pass a string such as '1,2,3' and split it in the script")
        argv.append(_token(f"script_params[{key!r}]", value, bindings))
    return argv


def flatten_arguments(arguments: Any, bindings: list[DataBinding]) -> list[str]:
    if arguments is None:
        return []
    if isinstance(arguments, (str, bytes)) or not isinstance(arguments, Sequence):
        raise InvalidTypeError("arguments", arguments, "must be a list", "pass e.g. ['--epochs', 5]")
    return [_token(f"arguments[{i}]", v, bindings) for i, v in enumerate(arguments)]


def merge_script_params(base: Mapping[str, Any] | None, override: Mapping[str, Any]) -> dict[str, Any]:
    """Sampled hyperparameters win over the same key in script_params."""
    merged = dict(base or {})
    merged.update(override)
    return merged
