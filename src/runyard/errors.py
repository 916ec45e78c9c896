"""runyard's exceptions: one root, messages that say what, where and how to fix.

    RunyardError
    ├── ValidationError            bad input, raised before anything is written or started
    │   ├── InvalidValueError      (also a ValueError)
    │   ├── InvalidTypeError       (also a TypeError)
    │   └── SnapshotTooLargeError
    ├── WorkspaceError
    ├── ComputeTargetException     unknown or unusable compute target (the service's name)
    ├── RunNotFoundError           (also a KeyError)
    ├── ActivityFailedException    wait_for_completion() on a run that failed (the service's name)
    └── StoreError
"""

from __future__ import annotations

from typing import Any


class RunyardError(Exception):
    """Root of every error runyard raises on purpose."""


class ValidationError(RunyardError):
    """A user-supplied value is wrong. Names the field, the value and the fix."""

    def __init__(self, field: str, value: Any, problem: str, fix: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        self.fix = fix
        shown = repr(value)
        if len(shown) > 200:
            shown = shown[:197] + "..."
        super().__init__(f"{field}={shown}: {problem}. Fix: {fix}")


class InvalidValueError(ValidationError, ValueError):
    """The value has the right type but is not acceptable."""


class InvalidTypeError(ValidationError, TypeError):
    """The value has the wrong type."""


class SnapshotTooLargeError(InvalidValueError):
    """source_directory is over the snapshot size or file-count limit."""


class WorkspaceError(RunyardError):
    """The workspace folder or its configuration cannot be used."""


class ComputeTargetException(RunyardError):
    """A compute target is unknown or cannot run the job."""


class RunNotFoundError(RunyardError, KeyError):
    """No run with that id in this workspace."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ActivityFailedException(RunyardError):
    """The run ended Failed (or Canceled) and the caller asked to raise on error."""

    def __init__(self, message: str, run_id: str = "", error_details: str = "") -> None:
        self.run_id = run_id
        self.error_details = error_details
        super().__init__(message)


class StoreError(RunyardError):
    """The tracking store could not be read or written."""


# The service's generic names, so `except UserErrorException` keeps working.
UserErrorException = ValidationError
ExperimentExecutionException = RunyardError
AzureMLException = RunyardError

__all__ = [
    "ActivityFailedException",
    "AzureMLException",
    "ComputeTargetException",
    "EnvironmentBuildError",
    "ExperimentExecutionException",
    "InvalidTypeError",
    "InvalidValueError",
    "RunNotFoundError",
    "RunyardError",
    "RunyardWarning",
    "SnapshotTooLargeError",
    "StoreError",
    "UserErrorException",
    "ValidationError",
    "WorkspaceError",
    "warn_ignored",
]


class RunyardWarning(UserWarning):
    """A parameter was accepted but means something different (or nothing) here."""


def warn_ignored(field: str, value: object, what_runyard_does: str) -> None:
    """One line saying a service parameter has no meaning here and what happens instead."""
    import warnings

    warnings.warn(f"{field}={value!r} is ignored: {what_runyard_does}", RunyardWarning, stacklevel=4)


class EnvironmentBuildError(RunyardError):
    """Installing a run's packages failed; the message is the installer's own, with the package named."""

    def __init__(self, message: str, packages: tuple[str, ...] = ()) -> None:
        self.packages = packages
        super().__init__(message)


class ReproducibilityError(RunyardError):
    """A rerun would not get what its original run had (data, environment, code); each difference is named."""

    def __init__(self, message: str, differences: tuple[str, ...] = ()) -> None:
        self.differences = differences
        super().__init__(message)
