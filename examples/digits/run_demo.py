"""The demo job: the seed document's single-node example, with only the import prefix changed.

    python examples/digits/run_demo.py

Makes (or reuses) the workspace ./.runyard, uploads the digits data to its default datastore,
submits examples/digits/project/train.py as a PyTorch run, streams its output, prints a summary.
"""

import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

from runyard import Experiment, Workspace
from runyard.train.dnn import PyTorch

HERE = Path(__file__).resolve().parent


def main() -> int:
    ws = Workspace.from_config()
    ds = ws.get_default_datastore()
    with tempfile.TemporaryDirectory() as tmp:
        digits = load_digits()
        np.savez(Path(tmp) / "digits.npz", x=digits.data, y=digits.target)
        ds.upload(src_dir=tmp, target_path="digits", overwrite=True, show_progress=True)

    script_params = {"--data_dir": ds.path("digits").as_mount(), "--epochs": 30}
    pt_est = PyTorch(source_directory=str(HERE / "project"), script_params=script_params,
                     compute_target="local", entry_script="train.py", use_gpu=False)
    run = Experiment(ws, "digits").submit(pt_est)
    run.wait_for_completion(show_output=True)
    accuracy = run.get_metrics()["final_val_accuracy"]
    print(f"final validation accuracy: {accuracy:.4f} (workspace {ws.path})")
    return 0 if accuracy >= 0.95 else 1


if __name__ == "__main__":
    sys.exit(main())
