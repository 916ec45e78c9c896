"""A Fix line for the failures a rank's own traceback explains: a module the environment lacks."""

from __future__ import annotations

import re

_MISSING = re.compile(r"ModuleNotFoundError: No module named '([\w.]+)'")
# import names whose pip package is called otherwise
PIP_NAMES = {"sklearn": "scikit-learn", "cv2": "opencv-python-headless", "PIL": "pillow", "yaml": "pyyaml",
             "skimage": "scikit-image", "bs4": "beautifulsoup4", "attr": "attrs", "dateutil": "python-dateutil"}


def fix_for(traceback_tail: str) -> str | None:
    lines = [ln for ln in traceback_tail.splitlines() if ln.strip()]
    if not lines or not (found := _MISSING.search(lines[-1])):
        return None
    module = found.group(1).split(".")[0]
    package = PIP_NAMES.get(module, module)
    return (f"Fix: the run's environment has no {module}: add it with `runyard submit --pip {package}` "
            f"(CLI) or pip_packages=['{package}'] (Python)")
