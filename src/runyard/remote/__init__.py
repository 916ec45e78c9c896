"""A workspace served by `runyard server`, used through the same API as a local one."""

from runyard.remote.workspace import RemoteExperiment, RemoteWorkspace

__all__ = ["RemoteExperiment", "RemoteWorkspace"]
