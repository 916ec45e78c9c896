"""The run page at scale and pages that stay live, in Debian's Chromium against a real `runyard server`: every
series of a run comes bucketed to the chart's width in a few requests (spikes kept), charts draw progressively and,
past the first 150, as they scroll into view; a search box narrows them; selecting a range fetches it in detail;
a running run's page keeps following after any number of other pages; the runs table's default columns put a
series before one-off values."""

from __future__ import annotations

import time

import pytest

from runyard import Experiment
from runyard.core import ScriptRunConfig
from runyard.train.hyperdrive import GridParameterSampling, HyperDriveConfig, PrimaryMetricGoal, choice
from tests.metric_fill import big_run
from tests.waiting import eventually
from tests.web import live_loss_script

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(__import__("importlib").util.find_spec("fastapi") is None,
                                 reason="the server extra is not installed")]

LIVE = live_loss_script(steps=200, pause=0.2)

QUICK = """
import argparse
from runyard import Run
p = argparse.ArgumentParser(); p.add_argument('--lr', type=float, default=0.1); p.add_argument('--layers', type=int)
args = p.parse_args()
run = Run.get_context()
for step in range(3):
    run.log('accuracy', args.lr * (step + 1), step=step)
"""


def _requests(page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    return seen


def test_a_run_of_40_series_of_20k_points_draws_from_a_few_bucketed_requests_and_zooms(ui, workspace):
    base, page = ui
    run_id = big_run(workspace, "big_1700000000_abcdefgh", metrics=40, points=20_000, spikes={0: (12_345, 50.0)})
    seen = _requests(page)
    responses: list = []
    page.on("response", lambda r: responses.append(r) if ("/charts?" in r.url or "/page?" in r.url) and r.ok else None)
    page.goto(f"{base}/#/run/{run_id}")
    page.locator(".chart canvas").nth(39).wait_for()
    assert not [u for u in seen if "/series" in u or u.endswith("/metrics")]  # no request per metric, no raw points
    # the first screen (details, overview, first charts) in one request, the other charts in a few batches
    assert len([u for u in seen if f"/runs/{run_id}/page?" in u]) == 1
    assert not [u for u in seen if u.endswith(f"/runs/{run_id}") or u.endswith("/metric-overview")]
    assert 1 <= len([u for u in seen if "/charts?" in u]) <= 6
    answers = [r.json() for r in responses]
    first = next(s for a in answers for s in a.get("charts", a)["series"] if s["key"] == "metric_000")
    assert first["total"] == 20_000 and len(first["steps"]) <= 1000  # bucketed to the chart's width
    assert max(v for v in first["high"] if v is not None) == 50.0  # the spike survives as its bucket's max
    assert "max" in page.locator(".chart[data-metric='metric_000'] .u-legend").inner_text()  # drawn as a band
    page.fill("#chart-search", "metric_01")
    eventually(lambda: page.locator("#charts > .chart:visible").count() == 10, "10 charts matching the search")
    page.fill("#chart-search", "")
    # select steps ~40%..60% of the first chart: that range is fetched again, at the chart's width
    over = page.locator(".chart[data-metric='metric_000'] .u-over")
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    y = box["y"] + box["height"] / 2
    with page.expect_response(lambda r: "/charts?" in r.url and "step_min" in r.url) as zoomed:
        page.mouse.move(box["x"] + box["width"] * 0.4, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=5)
        page.mouse.up()
    detail = zoomed.value.json()["series"][0]
    assert 0 < detail["total"] < 20_000
    assert 4_000 < detail["steps"][0] and detail["steps"][-1] < 16_000, (detail["steps"][0], detail["steps"][-1])


def test_a_thousand_metrics_draw_as_they_scroll_into_view(ui, workspace):
    base, page = ui
    run_id = big_run(workspace, "wide_1700000000_abcdefgh", metrics=1000, points=30)
    page.goto(f"{base}/#/run/{run_id}")
    page.locator("#chart-count", has_text="1000 charts").wait_for()
    page.locator(".chart canvas").nth(149).wait_for()
    last = page.locator(".chart[data-metric='metric_999']")
    assert "pending" in last.get_attribute("class")  # far below the first screen: not drawn while out of view
    last.scroll_into_view_if_needed()
    page.locator(".chart[data-metric='metric_999'] canvas").wait_for()
    page.fill("#chart-search", "metric_998")
    page.locator(".chart[data-metric='metric_998'] canvas").wait_for()


def _points(page) -> int:
    return int(page.locator(".chart[data-metric='loss']").get_attribute("data-points") or 0)


def test_a_running_runs_page_stays_live_after_visiting_big_pages_compare_and_a_sweep(ui, workspace, project):
    base, page = ui
    big = big_run(workspace, "big_1700000000_abcdefgh", metrics=60, points=20_000)
    src = project("quick.py", QUICK, "live.py", LIVE)
    exp = Experiment(workspace, "visits")
    small = [exp.submit(ScriptRunConfig(str(src), "quick.py", arguments=["--lr", lr])) for lr in (0.1, 0.2)]
    sweep = exp.submit(HyperDriveConfig(
        run_config=ScriptRunConfig(str(src), "quick.py"), hyperparameter_sampling=GridParameterSampling(
            {"--lr": choice(0.3, 0.4)}), primary_metric_name="accuracy",
        primary_metric_goal=PrimaryMetricGoal.MAXIMIZE, max_total_runs=2))
    for r in [*small, sweep]:
        r.wait_for_completion(raise_on_error=True)
    live = exp.submit(ScriptRunConfig(str(src), "live.py"))
    deadline = time.time() + 60
    while not live.get_metrics().get("loss") and time.time() < deadline:
        time.sleep(0.2)
    # pages left while they still load: the big run twice, compare, the sweep, a finished run, the runs table
    for hash_ in (f"#/run/{big}", f"#/compare/{small[0].id},{small[1].id}", f"#/run/{sweep.id}", f"#/run/{big}",
                  f"#/run/{small[0].id}", "#/"):
        page.goto(f"{base}/{hash_}")
    page.goto(f"{base}/#/run/{live.id}")
    page.locator(".chart[data-metric='loss'] canvas").wait_for()
    seen = _requests(page)
    for _ in range(6):  # about 10 s of following: each look must bring the new points
        before = _points(page)
        eventually(lambda: _points(page) > before, "new points on the live chart", timeout=10)
    assert len([u for u in seen if "/metric-overview" in u]) >= 3
    live.cancel()


def test_the_runs_table_shows_the_series_before_one_off_values_as_wide_as_the_screen(ui, workspace, project):
    base, page = ui
    lines = ["from runyard import Run", "run = Run.get_context()"]
    lines += [f"run.log('a_value_{i}', {i})" for i in range(8)]
    lines += ["for step in range(5):", "    run.log('zz_loss', 1.0 / (step + 1), step=step)"]
    src = project("many.py", "\n".join(lines))
    Experiment(workspace, "columns").submit(ScriptRunConfig(str(src), "many.py")).wait_for_completion(
        raise_on_error=True)
    page.goto(base + "/#/")
    page.locator("#runs tbody tr").first.wait_for()
    headers = [h.strip() for h in page.locator("#runs thead th").all_inner_texts()]
    metric_headers = headers[headers.index("Duration") + 1:]
    assert metric_headers[0] == "zz_loss", headers  # the series first, though its name sorts last
    assert len(metric_headers) > 5, headers  # as many as fit a 1280 px screen, not a fixed five
    table, box = page.locator("#runs").bounding_box(), page.locator(".scroll").bounding_box()
    assert table["width"] <= box["width"] + 1  # and no wider than the screen
