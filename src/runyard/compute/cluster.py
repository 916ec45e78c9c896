"""What the cluster targets (Slurm, Ray) share: the supervisor runs on this machine and drives the
cluster; run folders and environments live in a folder every node sees."""

from __future__ import annotations

from pathlib import Path

from runyard.compute.base import ComputeTarget
from runyard.run_folder import RunFolder


class ClusterTarget(ComputeTarget):
    def run_folder(self, runs_root: Path, run_id: str) -> RunFolder:
        """In the shared folder (linked from the workspace), so every node sees it."""
        shared = self.config.get("shared_folder")
        if not shared:
            return RunFolder(runs_root / run_id)
        real = Path(shared) / "runs" / run_id
        real.mkdir(parents=True, exist_ok=True)
        runs_root.mkdir(parents=True, exist_ok=True)
        (runs_root / run_id).symlink_to(real, target_is_directory=True)
        return RunFolder(runs_root / run_id)

    def environment_root(self, workspace_root: Path) -> Path:
        shared = self.config.get("shared_folder")
        return Path(shared) / "environments" if shared else workspace_root / "environments"

