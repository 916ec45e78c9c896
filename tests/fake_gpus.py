"""A stand-in for the GPU boundary on a machine without GPUs: an `nvidia-smi` on PATH that answers for a
list of GPUs (by UUID) and the processes using them, as the real one prints them. NVML cannot load here (no
driver library), so runyard asks this nvidia-smi, exactly as it would on a box whose NVML is missing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

SCRIPT = '''#!{python}
import json, sys
from pathlib import Path
state = json.loads((Path(__file__).parent / "gpus.json").read_text())
args = sys.argv[1:]
if args == ["-L"]:
    for i, gpu in enumerate(state["gpus"]):
        print(f"GPU {{i}}: Fake H100 (UUID: {{gpu}})")
        for j, mig in enumerate(state.get("mig", {{}}).get(gpu, [])):
            print(f"  MIG 1g.10gb     Device  {{j}}: (UUID: {{mig}})")
elif args and args[0].startswith("--query-compute-apps"):
    for uuid, pids in state.get("processes", {{}}).items():
        for pid in pids:
            print(f"{{uuid}}, {{pid}}")
elif args and args[0].startswith("--query-gpu"):
    for gpu in state["gpus"]:
        print("Fake H100, 550.54.15, 81559 MiB")
else:
    print("| NVIDIA-SMI 550.54.15   Driver Version: 550.54.15   CUDA Version: 12.4 |")
'''


class FakeGpus:
    def __init__(self, folder: Path, uuids: list[str]) -> None:
        self.folder, self.uuids = folder, uuids
        self.state: dict[str, object] = {"gpus": uuids, "processes": {}, "mig": {}}
        self._write()

    def _write(self) -> None:
        (self.folder / "gpus.json").write_text(json.dumps(self.state))

    def used_by(self, uuid: str, pids: list[int]) -> None:
        """Some program runyard did not start now uses this GPU."""
        self.state["processes"] = {**self.state["processes"], uuid: pids}  # type: ignore[dict-item]
        self._write()

    def with_mig(self, uuid: str, slices: list[str]) -> None:
        self.state["mig"] = {**self.state["mig"], uuid: slices}  # type: ignore[dict-item]
        self._write()


def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int) -> FakeGpus:
    """`count` fake GPUs on PATH for this test (and every process it starts)."""
    folder = tmp_path / "fake-nvidia"
    folder.mkdir()
    script = folder / "nvidia-smi"
    script.write_text(SCRIPT.format(python=sys.executable))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{__import__('os').environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return FakeGpus(folder, [f"GPU-{i:08d}-fake-{tmp_path.name[-6:]}" for i in range(count)])
