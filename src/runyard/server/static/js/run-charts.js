// A run's metric charts at any size: every key gets a box at once; series come from the server already bucketed to
// the chart's width (/charts), a few keys per request, the first screen first. Up to EAGER charts are drawn
// straight away, the rest as they scroll into view; a search box narrows them. Selecting an x range fetches that
// range at full detail; a double click goes back. A running run's charts take new points in place.
import { api, runPath } from "./api.js";
import { chart } from "./charts.js";
import { esc, fmt } from "./format.js";
import { chartWidth } from "./geometry.js";
import { afterPaint, scope } from "./page.js";
import { FIRST_BATCH } from "./run-requests.js";
import { stragglers } from "./stragglers.js";

const EAGER = 150;  // charts drawn without waiting to be scrolled to
const BATCH = 10;
const IN_FLIGHT = 3;  // the browser keeps 6 connections a host: leave room for the rest of the page
const LIVE_EVERY_MS = 1500;

// the keys worth a chart: logged as a number more than once by some rank (once: the summary says it)
const chartable = (overview) => overview.summary.filter((s) => s.count > 1 || overview.series[s.key].length > 1)
  .map((s) => s.key);

export function summaryRows(overview) {
  return overview.summary.map((s) => `<tr><td>${esc(s.key)}</td><td>${fmt(s.last)}</td><td>${fmt(s.min)}</td>
    <td>${fmt(s.max)}</td><td>${s.count}</td></tr>`).join("");
}

// series grouped by key, in `keys` order: key -> [{label, rank, steps, values, times, low?, high?}]
function byKey(keys, series) {
  const grouped = new Map(keys.map((k) => [k, []]));
  series.forEach((s) => grouped.get(s.key)?.push({ label: "rank " + s.rank, ...s }));
  return grouped;
}

export class RunCharts {
  // `first`: the first screen's charts when the page asked for them early (runRequests), `width` the chart width
  // they were asked at (known before the page is laid out: reading it from the grid now would force a layout of
  // the whole page before the first chart; it is checked once that chart is on screen)
  constructor(el, runId, overview, { live = false, onOverview = null, first = null, width = null } = {}) {
    this.el = el;
    this.runId = runId;
    this.overview = overview;
    this.onOverview = onOverview;
    this.scope = scope();
    this.boxes = new Map();  // key -> its box in the grid
    this.data = new Map();  // key -> lines drawn from the whole series
    this.charts = new Map();  // key -> chart handle
    this.zoomed = new Set();
    this.queue = [];
    this.queued = new Set();
    this.inFlight = 0;
    el.innerHTML = `<div class="toolbar"><input id="chart-search" type="search" placeholder="find a metric"
        size="24"><span id="chart-count"></span></div><div class="charts" id="charts"></div>`;
    this.grid = el.querySelector("#charts");
    this.width = width ?? chartWidth(this.grid);
    this.observer = new IntersectionObserver((entries) => entries.forEach((e) => {
      if (e.isIntersecting) this.want([e.target.dataset.metric]);
    }), { rootMargin: "800px 0px" });
    this.scope.add(() => this.observer.disconnect());
    el.querySelector("#chart-search").addEventListener("input", (e) => this.filter(e.target.value));
    let firstDrawn;
    this.ready = new Promise((resolve) => { firstDrawn = resolve; });  // the first screen drawn (or given up)
    this.firstDrawn = firstDrawn;
    if (first) this.takeFirst(first);
    this.addKeys(chartable(overview));
    if (live) this.scope.later(() => this.follow(), LIVE_EVERY_MS);
  }

  addKeys(keys) {
    const fresh = keys.filter((k) => !this.boxes.has(k));
    fresh.forEach((key) => {
      const box = document.createElement("div");
      box.className = "chart pending";
      box.dataset.metric = key;
      box.innerHTML = `<h4>${esc(key)}</h4>`;
      this.grid.appendChild(box);
      this.boxes.set(key, box);
      if (this.boxes.size > EAGER) this.observer.observe(box);
    });
    this.want(fresh.filter((k) => [...this.boxes.keys()].indexOf(k) < EAGER));
    this.el.querySelector("#chart-count").textContent = `${this.boxes.size} chart${this.boxes.size === 1 ? "" : "s"}`;
  }

  filter(text) {
    const q = text.trim().toLowerCase();
    this.boxes.forEach((box, key) => { box.hidden = Boolean(q) && !key.toLowerCase().includes(q); });
  }

  // ask for keys not drawn or asked for yet, a batch at a time
  want(keys) {
    keys.filter((k) => !this.data.has(k) && !this.queued.has(k)).forEach((k) => {
      this.queued.add(k);
      this.queue.push(k);
    });
    this.pump();
  }

  async takeFirst(first) {
    this.inFlight += 1;  // holds the other batches back until the first screen's answer is here
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      this.inFlight -= 1;
      if (this.scope.alive) this.pump();
    };
    let keys = [];
    try {
      const answer = await first;
      keys = answer.keys;
      const lines = [...byKey(keys, answer.series)].filter(([key, l]) => this.boxes.has(key) && l.length);
      const drawing = new Set(lines.map(([key]) => key));
      this.queue = this.queue.filter((k) => !drawing.has(k));  // not asked for again meanwhile
      for (const [i, [key, l]] of lines.entries()) {
        this.draw(key, l);
        if (i === 0) {  // the first chart is built: the next batches are asked for, then it is painted alone
          release();
          await afterPaint();
        }
      }
      afterPaint().then(() => this.fitWidth());
    } catch (e) {
      if (this.scope.alive) console.warn("charts", e);
    } finally {
      keys.forEach((k) => this.queued.delete(k));
      release();
      if (this.data.size) this.firstDrawn();
    }
  }

  pump() {
    // the first screen's few charts alone, so nothing competes with them; then several batches at once, the next
    // asked for as soon as one is answered (the server works on it while this one is drawn)
    while (this.inFlight < (this.data.size ? IN_FLIGHT : 1) && this.queue.length) {
      const size = this.data.size ? BATCH : FIRST_BATCH;
      const keys = this.queue.splice(0, size);
      this.inFlight += 1;
      let answered = false;
      const next = () => {
        if (answered) return;
        answered = true;
        this.inFlight -= 1;
        keys.forEach((k) => this.queued.delete(k));
        if (this.scope.alive) this.pump();
      };
      this.fetch(keys).then((lines) => {
        next();
        lines.forEach((l, key) => this.draw(key, l));
      }).catch((e) => { if (this.scope.alive) console.warn("charts", e); })
        .finally(() => {
          next();
          this.firstDrawn();
        });
    }
    if (!this.queue.length && !this.inFlight) this.firstDrawn();  // nothing to draw
  }

  // key -> [{label, rank, steps, values, times, low?, high?}] for `keys`, optionally a step range only
  async fetch(keys, range = null) {
    const q = new URLSearchParams({ width: this.width });
    keys.forEach((k) => q.append("keys", k));
    if (range) { q.set("step_min", range[0]); q.set("step_max", range[1]); }
    const { series } = await api(runPath(this.runId) + "/charts?" + q);
    return byKey(keys, series);
  }

  draw(key, lines) {
    if (!this.scope.alive || !lines.length) return;
    this.data.set(key, lines);
    const box = this.boxes.get(key);
    box.classList.remove("pending");
    const have = this.charts.get(key);
    if (have && !this.zoomed.has(key) && have.update(lines)) return;
    if (have) have.plot.destroy();
    this.charts.set(key, chart(null, key, lines, {
      box, width: this.width, onZoom: (lo, hi) => this.zoom(key, lo, hi), onReset: () => this.unzoom(key) }));
    this.zoomed.delete(key);
    this.drawStragglers();
  }

  async zoom(key, lo, hi) {
    this.zoomed.add(key);
    const lines = (await this.fetch([key], [Math.floor(lo), Math.ceil(hi)])).get(key);
    if (this.zoomed.has(key) && lines.length) this.charts.get(key).update(lines, false);
  }

  unzoom(key) {
    this.zoomed.delete(key);
    this.charts.get(key).update(this.data.get(key), true);
  }

  // the grid laid out narrower or wider than foreseen (a scrollbar came with the page): charts take its width
  fitWidth() {
    const width = chartWidth(this.grid);
    if (!this.scope.alive || width === this.width) return;
    this.width = width;
    this.charts.forEach((c) => c.plot.setSize({ width, height: c.plot.height }));
  }

  // every chart again (the smoothing or the x axis changed)
  redraw() {
    this.charts.forEach((c) => c.plot.destroy());
    this.charts.clear();
    this.data.forEach((lines, key) => this.draw(key, lines));
  }

  drawStragglers() {
    const key = [...this.data.keys()].find((k) => this.data.get(k).length > 1);
    if (!key) return;
    this.grid.querySelector(".stragglers")?.remove();
    stragglers(this.grid, key, this.data.get(key));
  }

  // a running run: the overview every LIVE_EVERY_MS, and again the series of every drawn key that grew
  async follow() {
    try {
      const next = await api(runPath(this.runId) + "/metric-overview");
      const before = new Map(this.overview.summary.map((s) => [s.key, s.count]));
      this.overview = next;
      if (this.onOverview) this.onOverview(next);
      this.addKeys(chartable(next));
      const grew = next.summary.filter((s) => this.data.has(s.key) && before.get(s.key) !== s.count).map((s) => s.key);
      for (let i = 0; i < grew.length; i += BATCH) {
        const lines = await this.fetch(grew.slice(i, i + BATCH));
        lines.forEach((l, key) => this.draw(key, l));
      }
      const rec = await api(runPath(this.runId) + "/record");
      if (["Completed", "Failed", "Canceled"].includes(rec.status)) return;
    } catch (e) {
      if (!this.scope.alive) return;  // left the page: the aborted request is expected
      console.warn("live charts", e);  // a failed look is retried: a live page never stops following
    }
    this.scope.later(() => this.follow(), LIVE_EVERY_MS);
  }
}
