"""Checks every run configuration (Estimator, PyTorch, ScriptRunConfig) applies to its inputs when built."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runyard.errors import InvalidTypeError, InvalidValueError


def check_source_folder(source_directory: Any) -> Path:
    """source_directory (default: the current folder) must be an existing folder."""
    if source_directory is None:
        source_directory = "."
    if not isinstance(source_directory, (str, Path)) or "\x00" in str(source_directory):
        raise InvalidTypeError("source_directory", source_directory, "must be a folder path",
                               "pass the folder that holds your training code, e.g. './my-pytorch-proj'")
    root = Path(source_directory).expanduser().resolve()
    if not root.is_dir():
        raise InvalidValueError("source_directory", str(source_directory), "is not an existing folder",
                                "pass the folder that holds your training code")
    return root


def check_source(source_directory: Any, entry_script: Any, field: str = "entry_script") -> tuple[Path, str]:
    """source_directory must exist; the entry script must be a file inside it."""
    root = check_source_folder(source_directory)
    if not isinstance(entry_script, (str, Path)) or not str(entry_script).strip() or "\x00" in str(entry_script):
        raise InvalidTypeError(field, entry_script, "must name the script to run",
                               f"pass {field}='train.py' (relative to source_directory)")
    script = (root / entry_script).resolve()
    if root not in script.parents:
        raise InvalidValueError(field, str(entry_script), f"is outside source_directory {root}",
                                "move the script into source_directory and pass its path relative to it")
    if not script.is_file():
        raise InvalidValueError(field, str(entry_script), f"does not exist in source_directory {root}",
                                "check the file name, relative to source_directory")
    return root, script.relative_to(root).as_posix()


def check_environment_variables(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise InvalidTypeError("environment_variables", value, "must be a dict", "pass {'NAME': 'value'}")
    for key, item in value.items():
        if item is None or not isinstance(item, (str, int, float)) or isinstance(item, bool):
            raise InvalidTypeError(f"environment_variables[{key!r}]", item, "must be a string (or a number)",
                                   f"pass {{{str(key)!r}: 'value'}}, or leave the variable out")
    return tuple(sorted((str(k), str(v)) for k, v in value.items()))
