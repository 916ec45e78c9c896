"""`RunDetails(run).show()`: the service's notebook widget. Here it points at the run's page in the web UI
(`runyard ui`), which charts metrics and follows logs live, and shows where the run stands now."""

from __future__ import annotations

import html
import sys
from typing import Any

from runyard.errors import InvalidTypeError


class RunDetails:
    def __init__(self, run_instance: Any) -> None:
        from runyard.run import Run

        if not isinstance(run_instance, Run):
            raise InvalidTypeError("run_instance", run_instance, "is not a run",
                                   "pass the Run that experiment.submit(...) returned")
        self.run = run_instance

    def summary_lines(self) -> list[str]:
        run = self.run
        lines = [f"Run {run.id}: {run.get_status()}"]
        url = run.get_portal_url()
        serving = not run.experiment.workspace.is_remote and run.experiment.workspace.folder.serving_url()
        lines.append(f"Live charts and logs: {url}" + ("" if serving or run.experiment.workspace.is_remote
                                                        else " (start the UI with `runyard ui`)"))
        children = list(run.get_children())
        if children:
            lines.append(f"Child runs: {len(children)}")
            lines += [f"  {c.id}: {c.get_status()}" for c in children]
        for name, value in run.logged_metrics().items():
            latest = value[-1] if isinstance(value, list) and value else value
            lines.append(f"  {name} = {latest}" + (f" (last of {len(value)})" if isinstance(value, list) else ""))
        return lines

    def show(self) -> None:
        lines = self.summary_lines()
        if _in_notebook():
            from IPython.display import HTML, display  # present whenever a notebook kernel runs

            display(HTML("<pre>" + "\n".join(html.escape(line) for line in lines) + "</pre>"))
        else:
            print("\n".join(lines), flush=True)


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ipython = shell.get_ipython()  # type: ignore[attr-defined]
    return ipython is not None and type(ipython).__name__ == "ZMQInteractiveShell"
