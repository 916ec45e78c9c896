"""The compare page in Debian's Chromium: a parameter a run did not pass shows the script's default (read from
its parser) or "not passed", never `undefined`; numeric parameters sit on numeric axes in numeric order; no label
leaves the plot; values logged once are a table, not charts. Screenshots with 2, 5 and 20 runs, light and dark."""

from __future__ import annotations

import json
import time

import pytest

from runyard import Experiment
from runyard.core import ScriptRunConfig
from runyard.status import RunStatus
from runyard.store.base import RunRecord, SpoolEvent
from tests.web import SCREENSHOTS

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(__import__("importlib").util.find_spec("fastapi") is None,
                                 reason="the server extra is not installed")]

SCRIPT = """
import argparse
from runyard import Run
p = argparse.ArgumentParser()
p.add_argument('--learning-rate', type=float, default=0.1)
p.add_argument('--layers', type=int)
p.add_argument('--hidden', type=int, default=64)
args = p.parse_args()
run = Run.get_context()
for step in range(4):
    run.log('accuracy', args.learning_rate * (step + 1) + (args.layers or 0) / 100, step=step)
run.log('final_accuracy', 0.9 + (args.layers or 0) / 100)
"""


def _inside(page, selector: str, frame: str) -> list[str]:
    """The texts matching `selector` that reach outside `frame`'s box (measured in one go in the page)."""
    return page.evaluate("""([selector, frame]) => {
        const box = document.querySelector(frame).getBoundingClientRect();
        return [...document.querySelectorAll(selector)].filter((t) => {
            const b = t.getBoundingClientRect();
            return b.left < box.left - 0.5 || b.right > box.right + 0.5;
        }).map((t) => t.textContent);
    }""", [selector, frame])


def test_compare_says_defaults_orders_numbers_keeps_labels_inside_and_tables_lone_values(ui, workspace, project):
    base, page = ui
    src = project("train.py", SCRIPT)
    exp = Experiment(workspace, "compare")
    given = [["--learning-rate", 0.2, "--layers", 6], ["--layers", 5], ["--layers", 10, "--hidden", 128]]
    runs = [exp.submit(ScriptRunConfig(str(src), "train.py", arguments=a)) for a in given]
    for r in runs:
        r.wait_for_completion(raise_on_error=True)
    page.goto(f"{base}/#/compare/{','.join(r.id for r in runs)}")
    page.locator("#param-diff tbody tr").first.wait_for()
    diff = {row.split("\t")[0]: row.split("\t")[1:] for row in page.locator("#param-diff tbody").inner_text()
            .splitlines()}
    assert diff["learning-rate"] == ["0.2", "0.1 (default)", "0.1 (default)"], diff
    assert diff["hidden"] == ["64 (default)", "64 (default)", "128"], diff
    assert diff["layers"] == ["6", "5", "10"]
    assert "undefined" not in page.locator("#view").inner_text()
    values = page.locator("#values tbody").inner_text()
    assert values.startswith("final_accuracy") and page.locator(".chart[data-metric='final_accuracy']").count() == 0
    page.locator(".chart[data-metric='accuracy'] canvas").wait_for()
    page.locator("#parallel-plot").wait_for()
    # the layers axis: 5 < 7.5 < 10 from the bottom up (numbers, not text sorted as text)
    axis = page.locator("#parallel-plot .pc-tick").all_inner_texts()
    ys = {t: page.locator("#parallel-plot .pc-tick", has_text=t).first.bounding_box()["y"] for t in ("5", "10")}
    assert ys["10"] < ys["5"], (axis, ys)
    assert not _inside(page, "#parallel-plot text", "#parallel-plot"), "labels cut at the plot's edge"


def _fake_runs(workspace, count: int) -> list[str]:
    """`count` finished runs written into the store, a parameter missing from every third."""
    ids = []
    for i in range(count):
        run_id = f"cmp_{1700000000 + i}_abcdefgh"
        args = ["--lr", str(round(0.01 * (i + 1), 3))] + ([] if i % 3 == 2 else ["--batch-size", str(16 * (1 + i % 4))])
        workspace.store.create_run(RunRecord(run_id=run_id, experiment="many", status=RunStatus.COMPLETED,
                                             target="local", created_time=time.time() + i,
                                             spec_json=json.dumps({"arguments": args})))
        events = [SpoolEvent("scalar", "loss", 1.0 / (s + 1 + i), s, 0, 1.7e9 + s) for s in range(20)]
        events.append(SpoolEvent("scalar", "val_accuracy", 0.5 + i / 50, None, 0, 1.7e9 + 30))
        workspace.store.ingest(run_id, events, "rank-0.1.jsonl", 0, 1)
        ids.append(run_id)
    return ids


@pytest.mark.parametrize("count", [2, 5, 20])
def test_compare_screenshots_light_and_dark(ui, workspace, count):
    base, page = ui
    ids = _fake_runs(workspace, count)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        page.goto("about:blank")  # a fresh load in each scheme, not a redraw racing the checks below
        page.emulate_media(color_scheme=scheme)
        page.goto(f"{base}/#/compare/{','.join(ids)}")
        page.locator(".chart[data-metric='loss'] canvas").wait_for()
        assert "undefined" not in page.locator("#view").inner_text()
        assert not _inside(page, "#parallel-plot text", "#parallel-plot")
        page.screenshot(path=str(SCREENSHOTS / f"compare-{count}-{scheme}.png"), full_page=True)
