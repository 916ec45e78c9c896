"""The web UI in Debian's Chromium (Playwright) against a real `runyard server`: the run overview, live charts,
the runs table (columns, grouping, empty state), compare, the 404 page, dark mode and a phone-sized layout.
Screenshots of every view, light and dark, go to test-artifacts/screenshots/."""

from __future__ import annotations

import time

import pytest

from runyard import Experiment
from runyard.core import ScriptRunConfig
from runyard.train.dnn import PyTorch
from runyard.train.hyperdrive import GridParameterSampling, HyperDriveConfig, PrimaryMetricGoal, choice
from tests.waiting import eventually
from tests.web import SCREENSHOTS, live_loss_script

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(__import__("importlib").util.find_spec("fastapi") is None,
                                 reason="the server extra is not installed")]

RICH = """
import argparse, math
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from runyard import Run
p = argparse.ArgumentParser(); p.add_argument('--lr', type=float); p.add_argument('--epochs', type=int)
args = p.parse_args()
run = Run.get_context()
for step in range(args.epochs):
    run.log('loss', 1.0 / (step + 1), step=step)
    run.log('accuracy', 0.5 + step * args.lr, step=step)
run.log('odd', float('nan'))
run.log('odd', 2.0)
run.log_list('thresholds', [0.1, 0.5, 0.9])
run.log_row('confusion', tp=8, fp=2)
run.log_table('curve', {'x': [1, 2, 3], 'y': [0.2, 0.4, 0.8]})
plt.plot([1, 2, 3]); run.log_image('plot', plot=plt)
run.tag('team', 'vision')
run.add_properties({'dataset': 'digits-v2'})
"""

LIVE = live_loss_script(steps=60, pause=0.25)


def _shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_empty_workspace_shows_the_first_command_and_a_missing_page_has_a_way_back(ui):
    base, page = ui
    page.goto(f"{base}/#/")
    page.locator("#empty", has_text="runyard submit train.py").wait_for()
    _shot(page, "runs-empty")
    page.goto(f"{base}/#/run/no_such_run")
    page.locator("#not-found").wait_for()
    assert "no_such_run" in page.locator("#not-found").inner_text()
    page.click("#not-found a")
    page.locator("#empty").wait_for()


def test_a_run_page_says_so_when_the_chart_library_cannot_load(ui, workspace, project):
    base, page = ui
    src = project("two.py", """
        from runyard import Run
        run = Run.get_context()
        for step in range(3):
            run.log('loss', 1.0 / (step + 1), step=step)
    """)
    run = Experiment(workspace, "no-charts").submit(ScriptRunConfig(str(src), "two.py"))
    run.wait_for_completion()
    library = "**/uPlot.iife.min.js*"
    page.route(library, lambda route: route.abort())
    try:
        page.goto("about:blank")  # a new document: the library is fetched again, and fails
        page.goto(f"{base}/#/run/{run.id}")
        page.locator(".error", has_text="chart library (uPlot) did not load").wait_for()
    finally:
        page.unroute(library)
        page.goto("about:blank")  # the next page loads it again
    page.goto(f"{base}/#/run/{run.id}")
    page.locator(".chart[data-metric='loss'] canvas").wait_for()


def test_run_page_shows_parameters_tags_summary_tables_and_images(ui, workspace, project):
    base, page = ui
    src = project("train.py", RICH)
    run = Experiment(workspace, "overview").submit(
        ScriptRunConfig(str(src), "train.py", arguments=["--lr", 0.05, "--epochs", 6]))
    run.wait_for_completion()
    page.goto(f"{base}/#/run/{run.id}")
    page.locator("#params", has_text="lr").wait_for()
    params = page.locator("#params").inner_text()
    assert "lr\t0.05" in params and "epochs\t6" in params
    assert "team\tvision" in page.locator("#tags").inner_text()
    assert "dataset\tdigits-v2" in page.locator("#properties").inner_text()
    summary = page.locator("#summary").inner_text()
    assert "loss\t0.1667\t0.1667\t1\t6" in summary and "accuracy\t0.75\t0.5\t0.75\t6" in summary
    objects = page.locator("#objects")
    for name in ("thresholds", "confusion", "curve"):
        assert objects.locator("h4", has_text=name).count() == 1
    assert "0.8" in objects.locator(".objtable", has_text="curve").inner_text()
    page.locator("#objects img[src^='blob:']").wait_for()  # the logged image, drawn
    page.locator(".chart[data-metric='odd'] .note", has_text="NaN/inf").wait_for()  # a gap, said so
    assert page.locator("#cancel").count() == 0  # a finished run cannot be canceled
    _shot(page, "run-overview-light")
    page.emulate_media(color_scheme="dark")
    page.reload()
    page.locator("#params").wait_for()
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(18, 21, 27)"  # the dark palette follows the system setting
    _shot(page, "run-overview-dark")


def test_a_running_runs_chart_gains_points_without_reload_and_can_be_canceled(ui, workspace, project):
    base, page = ui
    src = project("live.py", LIVE)
    run = Experiment(workspace, "live").submit(ScriptRunConfig(str(src), "live.py"))
    deadline = time.time() + 30
    while not run.get_metrics().get("loss") and time.time() < deadline:
        time.sleep(0.2)
    page.goto(f"{base}/#/run/{run.id}")
    chart = page.locator(".chart[data-metric='loss']")
    chart.wait_for()
    first = int(chart.get_attribute("data-points"))
    # new points arrive without a reload (waited for as a condition: a busy machine only makes it later)
    later = eventually(lambda: (n := int(page.locator(".chart[data-metric='loss']").get_attribute("data-points")))
                       > first and n, "the live chart to gain points", timeout=30)
    summary_points = int(page.locator("#summary tbody tr", has_text="loss").locator("td").nth(4).inner_text())
    assert summary_points > first, (first, summary_points)  # the summary table follows the chart
    _shot(page, "run-live")
    page.click("#cancel")
    page.locator("#run-status", has_text="Canceled").wait_for(timeout=30000)
    assert run.get_status() == "Canceled"


def test_runs_table_columns_grouped_sweeps_and_a_phone_layout(ui, workspace, project, tmp_path):
    base, page = ui
    src = project("train.py", RICH)
    for lr in (0.01, 0.02):
        Experiment(workspace, "table").submit(
            ScriptRunConfig(str(src), "train.py", arguments=["--lr", lr, "--epochs", 3])).wait_for_completion()
    trial = ScriptRunConfig(str(src), "train.py", arguments=["--epochs", 2])
    sweep = Experiment(workspace, "table").submit(HyperDriveConfig(
        GridParameterSampling({"--lr": choice(0.1, 0.2)}), "accuracy", PrimaryMetricGoal.MAXIMIZE, 2,
        run_config=trial))
    sweep.wait_for_completion()
    page.goto(f"{base}/#/")
    page.locator("#runs").wait_for()
    headers = page.locator("#runs thead").inner_text()
    assert "accuracy" in headers.split("Duration")[1].split("\t")[1]  # the sweep's primary metric comes first
    assert page.locator(f"tr[data-run='{sweep.id}'] button.expand", has_text="2 trials").count() == 1
    trial_ids = [c.id for c in sweep.get_children()]
    assert all(page.locator(f"tr[data-run='{t}']").count() == 0 for t in trial_ids)  # grouped under the sweep
    page.click(f"tr[data-run='{sweep.id}'] button.expand")
    page.locator(f"tr.child[data-run='{trial_ids[0]}']").wait_for()
    page.click("#columns summary")
    page.check("#columns input[value='p:lr']")
    page.locator("#runs thead", has_text="lr").wait_for()
    page.fill("#filter", "0.02")
    page.press("#filter", "Enter")
    page.locator("#count", has_text="1 shown of ").wait_for()  # the count says the filter hides runs
    assert page.locator("#runs tbody tr").count() == 1  # the count says the filter hides runs
    _shot(page, "runs-table")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(f"{base}/#/run/{trial_ids[0]}")
    page.locator("#params").wait_for()
    page.locator(".chart canvas").first.wait_for()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, width  # nothing forces a sideways scroll of the page
    _shot(page, "run-phone")
    page.emulate_media(color_scheme="dark")
    page.reload()
    page.locator(".chart canvas").first.wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    _shot(page, "run-phone-dark")


def test_search_expressions_run_on_the_server_and_the_table_says_who_submitted(ui, workspace, project, monkeypatch):
    base, page = ui
    src = project("train.py", RICH)
    runs = {}
    for lr, who in ((0.01, "alice"), (0.02, "bob"), (0.03, "bob")):
        monkeypatch.setenv("RUNYARD_OWNER", who)  # as a server records a named token's caller
        runs[lr] = Experiment(workspace, "search").submit(
            ScriptRunConfig(str(src), "train.py", arguments=["--lr", lr, "--epochs", 3]))
    for run in runs.values():
        run.wait_for_completion()
    page.goto(f"{base}/#/")
    page.locator("#runs").wait_for()
    assert "By" in page.locator("#runs thead").inner_text()
    assert page.locator(f"tr[data-run='{runs[0.01].id}'] td.owner").inner_text() == "alice"
    page.fill("#search", "metrics.accuracy > 0.53 and owner = 'bob'")
    page.press("#search", "Enter")
    page.locator("#count", has_text="2 matching runs").wait_for()
    assert {page.locator("#runs tbody tr").nth(i).get_attribute("data-run") for i in range(2)} == \
        {runs[0.02].id, runs[0.03].id}
    page.fill("#search", "params.lr = '0.03'")
    page.press("#search", "Enter")
    page.locator("#count", has_text="1 matching run").wait_for()
    _shot(page, "runs-search")
    page.fill("#search", "metrics.accuracy > high")
    page.press("#search", "Enter")
    page.locator("#search-error").wait_for()
    assert "not a number" in page.locator("#search-error").inner_text()
    assert page.locator("#runs tbody tr").count() == 3  # a search it cannot read hides nothing
    page.goto(f"{base}/#/run/{runs[0.02].id}")
    page.locator("#owner").wait_for()
    assert page.locator("#owner").inner_text() == "bob"


RESUMING = """
import os, time
from runyard import Run
run = Run.get_context()
mark = os.path.join(run.get_checkpoint_dir(), "step")
start = int(open(mark).read()) if os.path.exists(mark) else 0
for step in range(start, 12):
    run.log("loss", 1.0 / (step + 1), step=step)
    if step % 4 == 3:
        open(mark, "w").write(str(step + 1))
    time.sleep(0.1)
"""


def test_the_run_page_shows_each_attempt_where_it_resumed_and_the_injected_fault(ui, workspace, project):
    base, page = ui
    src = project("train.py", RESUMING)
    run = Experiment(workspace, "attempts").submit(PyTorch(str(src), entry_script="train.py", max_restarts=1,
                                                           fault="kill-rank:0@step=6"))
    run.wait_for_completion(raise_on_error=True)
    page.goto(f"{base}/#/run/{run.id}")
    page.locator("#attempts").wait_for()
    attempts = page.locator("#attempts").inner_text()
    assert attempts.startswith("0: rank 0 was killed by SIGKILL") and "1: completed (resumed from step 4)" in attempts
    assert page.locator("#fault").inner_text().startswith("kill-rank:0@step=6: at ")
    _shot(page, "run-attempts")


def test_compare_shows_only_the_parameters_that_differ(ui, workspace, project):
    base, page = ui
    src = project("train.py", RICH)
    runs = [Experiment(workspace, "cmp").submit(ScriptRunConfig(str(src), "train.py", arguments=["--lr", lr,
                                                                                                 "--epochs", 3]))
            for lr in (0.01, 0.03)]
    for run in runs:
        run.wait_for_completion()
    page.goto(f"{base}/#/compare/{runs[0].id},{runs[1].id}")
    page.locator("#param-diff").wait_for()
    diff = page.locator("#param-diff tbody").inner_text()
    assert "lr" in diff and "epochs" not in diff
    page.locator(".chart[data-metric='accuracy']").wait_for()
    assert page.locator(".chart").count() >= 2  # every metric overlaid
    page.select_option("#pc-metric", "accuracy")
    assert page.locator("#parallel-plot .pc-line").count() == 2  # lr -> accuracy, a line per run
    _shot(page, "compare")


SWEEP_TRAIN = """
import argparse, time
from runyard import Run
p = argparse.ArgumentParser(); p.add_argument('--lr', type=float); a = p.parse_args()
run = Run.get_context()
for e in range(6):
    run.log('accuracy', a.lr * (e + 1) / 6)
    time.sleep(0.2 + (1 - a.lr) * 0.6)  # the laggards are slower too: the leader has always reached their step
"""


def test_sweep_page_shows_the_search_the_policy_and_every_early_stop_with_its_numbers(ui, workspace, project):
    from runyard.train.dnn import PyTorch
    from runyard.train.hyperdrive import BanditPolicy

    base, page = ui
    est = PyTorch(str(project("train.py", SWEEP_TRAIN)), entry_script="train.py")
    sweep = Experiment(workspace, "sweep-ui").submit(HyperDriveConfig(
        GridParameterSampling({"--lr": choice(0.1, 0.5, 0.9)}), "accuracy", PrimaryMetricGoal.MAXIMIZE, 3,
        max_concurrent_runs=3, policy=BanditPolicy(slack_factor=0.2, delay_evaluation=1), estimator=est))
    sweep.wait_for_completion()
    stopped = [c for c in sweep.get_children() if "runyard.earlyTermination" in c.get_tags()]
    assert stopped
    why = stopped[0].get_tags()["runyard.earlyTermination"]
    assert why.startswith("early termination: bandit at interval") and "slack_factor 0.2" in why and "value" in why
    page.goto(f"{base}/#/run/{sweep.id}")
    page.locator("#sweep-settings").wait_for()
    assert page.locator("#search-space").inner_text() == "--lr choice(0.1, 0.5, 0.9)"
    assert page.locator("#policy").inner_text().startswith("bandit (")
    assert "slack_factor 0.2" in page.locator("#policy").inner_text()
    best = sweep.get_best_run_by_primary_metric()
    assert page.locator("#best-run").inner_text() == best.id
    decisions = page.locator("#decisions").inner_text()
    assert stopped[0].id in decisions and "best" in decisions
    assert page.locator("#parallel-plot .pc-line").count() == 3  # a line per trial: --lr -> accuracy
    assert page.locator(f"#parallel-plot .pc-line[data-run='{best.id}']").get_attribute("stroke") == "hsl(120, 70%, 45%)"
    _shot(page, "sweep-overview")


STRAGGLER = """
import os, time
import torch, torch.distributed as dist
from runyard import Run
dist.init_process_group('gloo')
rank = dist.get_rank()
run = Run.get_context()
for step in range(8):
    time.sleep(0.05 + (0.15 if rank == 1 else 0))  # rank 1 computes slower
    run.log('loss', 1.0 / (step + 1), step=step)
    dist.barrier()
dist.destroy_process_group()
"""


def test_a_ddp_run_shows_which_rank_straggles(ui, workspace, project):
    from runyard.core.runconfig import PyTorchConfiguration

    base, page = ui
    run = Experiment(workspace, "ddp-ui").submit(ScriptRunConfig(
        str(project("train.py", STRAGGLER)), "train.py",
        distributed_job_config=PyTorchConfiguration("Gloo", process_count=2)))
    run.wait_for_completion()
    page.goto(f"{base}/#/run/{run.id}")
    page.locator("#straggler-table").wait_for()
    first = page.locator("#straggler-table tbody tr").first.inner_text().split("\t")
    assert first[0] == "1" and first[2] == "8 of 8", first  # rank 1 is last at every step
    _shot(page, "ddp-stragglers")


def test_inputs_with_their_paths_lone_values_and_deep_links_to_chart_settings(ui, workspace, project, tmp_path):
    base, page = ui
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.txt").write_text("1")
    ds = workspace.get_default_datastore()
    ds.upload(str(data), target_path="inputs", show_progress=False)
    src = project("train.py", """
        import sys
        from runyard import Run
        run = Run.get_context()
        run.log('final_accuracy', 0.97)
        for step in range(5):
            run.log('loss', 10.0 ** -step, step=step)
    """)
    run = Experiment(workspace, "links").submit(ScriptRunConfig(str(src), "train.py",
                                                                arguments=["--data", ds.path("inputs").as_mount()]))
    run.wait_for_completion()
    page.goto(f"{base}/#/run/{run.id}?smooth=0.5&logy=1&x=relative")
    page.locator("#inputs").wait_for()
    inputs = page.locator("#inputs").inner_text()
    assert "workspaceblobstore/inputs (mount) →" in inputs and str(ds.root / "inputs") in inputs
    assert page.locator(".chart[data-metric='final_accuracy']").count() == 0  # logged once: in the summary only
    assert "final_accuracy" in page.locator("#summary").inner_text()
    page.locator(".chart[data-metric='loss'] canvas").wait_for()
    assert page.locator("#logy").is_checked() and page.locator("#xmode").input_value() == "relative"
    assert page.locator("#smoothing").input_value() == "0.5"
    page.uncheck("#logy")
    assert "logy=0" in page.url and "smooth=0.5" in page.url  # the address keeps what the page shows


def test_a_downsampled_series_draws_its_min_max_band(ui, workspace, project):
    import json as _json
    import urllib.request

    base, page = ui
    src = project("noisy.py", """
        import random
        from runyard import Run
        run = Run.get_context()
        random.seed(0)
        for step in range(20000):
            run.log('noisy', step / 20000 + random.gauss(0, 0.3), step=step)
    """)
    run = Experiment(workspace, "band").submit(ScriptRunConfig(str(src), "noisy.py"))
    run.wait_for_completion()
    with urllib.request.urlopen(f"{base}/api/v1/runs/{run.id}/metrics/noisy/series") as r:
        series = _json.loads(r.read())
    assert series["downsampled"] and len(series["bands"]["steps"]) == 500
    assert all(lo <= m <= hi for lo, m, hi in zip(series["bands"]["low"], series["bands"]["mean"],
                                                  series["bands"]["high"]))
    page.goto(f"{base}/#/run/{run.id}")
    page.locator(".chart[data-metric='noisy'] canvas").wait_for()
    legend = page.locator(".chart[data-metric='noisy'] .u-legend").inner_text()
    assert "rank 0 max" in legend and "rank 0 min" in legend
    _shot(page, "downsampled-band")


def test_every_view_in_light_and_dark(ui, workspace, project, tmp_path):
    from runyard.models.registry import Model

    base, page = ui
    src = project("train.py", RICH)
    runs = [Experiment(workspace, "views").submit(ScriptRunConfig(str(src), "train.py",
                                                                  arguments=["--lr", lr, "--epochs", 4]))
            for lr in (0.02, 0.04)]
    for run in runs:
        run.wait_for_completion()
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"w")
    Model.register(workspace, str(weights), "views-model", tags={"stage": "test"})
    runs[0].add_properties({"note": "first"})
    views = {"runs": ("#/", "#runs"), "run": (f"#/run/{runs[0].id}", ".chart canvas"),
             "compare": (f"#/compare/{runs[0].id},{runs[1].id}", "#parallel-plot"), "models": ("#/models", "#models"),
             "data": ("#/data", "#datastores"), "not-found": ("#/nowhere", "#not-found")}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for name, (hash_, ready) in views.items():
            page.goto(f"{base}/{hash_}")
            page.locator(ready).first.wait_for()
            _shot(page, f"view-{name}-{scheme}")
    page.goto(f"{base}/#/")
    page.locator("#experiment").select_option("views")
    page.locator("#runs tbody tr").first.wait_for()
    assert page.locator("#runs tbody tr").count() == 2
    page.goto(f"{base}/#/run/{runs[0].id}")
    assert "base interpreter" in page.locator("#environment").inner_text()
