"""`RunDetails(run).show()`: the service's notebook widget. In Jupyter it is a live widget (ipywidgets: status,
metrics and the last log lines, refreshed until the run ends) with a link to the run's page in the web UI;
elsewhere it prints where the run stands now."""

from __future__ import annotations

import html
import sys
import time
from typing import Any

from runyard.errors import InvalidTypeError
from runyard.status import RunStatus


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

    def html(self, log_lines: int = 10) -> str:
        """The summary and the last lines of rank 0's output, as HTML."""
        lines = self.summary_lines()
        logs = [n for n in self.run._backend.log_names(self.run.id) if n.endswith("std_log_rank_0.txt")]
        tail = ""
        if logs:
            text = self.run._backend.read_file(self.run.id, logs[0]).decode("utf-8", errors="replace")
            tail = "\n".join(text.splitlines()[-log_lines:])
        body = "\n".join(html.escape(line) for line in lines)
        return f"<pre>{body}</pre>" + (f"<pre style='opacity:.8'>{html.escape(tail)}</pre>" if tail else "")

    def widget(self, interval: float = 2.0) -> Any:
        """An ipywidgets HTML widget that refreshes status, metrics and the last log lines every `interval`
        seconds until the run ends (the live widget of the service's notebooks)."""
        import threading

        import ipywidgets

        view = ipywidgets.HTML(value=self.html())

        def refresh() -> None:
            while True:
                done = RunStatus(self.run.get_status()).is_terminal()
                view.value = self.html()
                if done:
                    return
                time.sleep(interval)

        threading.Thread(target=refresh, name=f"runyard-widget-{self.run.id}", daemon=True).start()
        return view

    def show(self) -> None:
        if _in_notebook():
            from IPython.display import HTML, display  # present whenever a notebook kernel runs

            try:
                display(self.widget())
            except ModuleNotFoundError:  # no ipywidgets: a snapshot now (pip install 'runyard[notebook]')
                display(HTML(self.html()))
        else:
            print("\n".join(self.summary_lines()), flush=True)


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ipython = shell.get_ipython()  # type: ignore[attr-defined]
    return ipython is not None and type(ipython).__name__ == "ZMQInteractiveShell"
