// Metric charts (uPlot): the x axis and smoothing settings kept in the URL, and one chart per metric with a line per
// rank (or run). A bucketed series (see the server's /charts) draws its mean as the line and min..max as a band.
import { COLORS, esc, stored, store } from "./format.js";
import { scope } from "./page.js";
import { palette } from "./palette.js";

// uPlot, fetched early by index.html (a preload) and run from here, not as a script of the page: a view's first
// requests need not wait while a browser that has not seen it yet compiles it (~75 ms on a 2-core machine), and its
// load or error event cannot fire before anyone listens. Whatever draws a chart waits for this.
export const chartsLoaded = new Promise((resolve, reject) => {
  const script = document.createElement("script");
  script.src = document.getElementById("uplot").href;
  script.addEventListener("load", () => resolve());
  script.addEventListener("error", () => reject(new Error("the chart library (uPlot) did not load; reload the page")));
  document.head.appendChild(script);
});

// chart settings: from the address (a deep link: #/run/ID?smooth=0.6&logy=1&x=wall), else as last chosen
function hashParams() {
  const q = location.hash.indexOf("?");
  return new URLSearchParams(q < 0 ? "" : location.hash.slice(q + 1));
}

export function chartSettings() {
  const saved = stored("chart", { smoothing: 0, logY: false, x: "step" });
  const h = hashParams();
  return {
    smoothing: h.has("smooth") ? Number(h.get("smooth")) : saved.smoothing,
    logY: h.has("logy") ? h.get("logy") === "1" : saved.logY,
    x: h.get("x") || saved.x,
  };
}

function setChartSettings(settings) {
  store("chart", settings);
  const base = location.hash.split("?")[0];
  const q = new URLSearchParams({ smooth: settings.smoothing, logy: settings.logY ? 1 : 0, x: settings.x });
  history.replaceState(null, "", location.pathname + location.search + base + "?" + q);
}

export function chartControls(el, redraw) {
  const s = chartSettings();
  const modes = { step: "step", relative: "relative time", wall: "wall time" };
  el.innerHTML = `<label>Smoothing <input id="smoothing" type="range" min="0" max="0.99" step="0.01"
      value="${s.smoothing}"></label>
    <label><input id="logy" type="checkbox" ${s.logY ? "checked" : ""}> log y</label>
    <label>x <select id="xmode">${Object.entries(modes).map(([m, text]) =>
      `<option value="${m}" ${m === s.x ? "selected" : ""}>${text}</option>`).join("")}</select></label>`;
  const save = () => {
    setChartSettings({ smoothing: Number(el.querySelector("#smoothing").value),
                       logY: el.querySelector("#logy").checked, x: el.querySelector("#xmode").value });
    redraw();
  };
  el.querySelectorAll("input, select").forEach((c) => c.addEventListener("change", save));
}

function ema(values, alpha) {
  if (!alpha) return values;
  let last = null;
  return values.map((v) => (v == null ? null : (last = last == null ? v : alpha * last + (1 - alpha) * v)));
}

function xsOf(s, mode) {
  if (mode === "wall") return s.times;
  if (mode === "relative") return s.times.map((t) => t - (s.times[0] ?? 0));
  return s.steps;
}

// uPlot's columns: one x column (the union of every series' x) and a y column per drawn line
function columns(seriesList, settings) {
  const single = seriesList.length === 1;  // the usual chart: its own x column as it is, no merge
  const xs = single ? xsOf(seriesList[0], settings.x)
    : [...new Set(seriesList.flatMap((s) => xsOf(s, settings.x)))].sort((a, b) => a - b);
  const index = single ? null : new Map(xs.map((x, i) => [x, i]));
  const at = (s, arr) => {
    if (single) return arr;
    const y = new Array(xs.length).fill(null);
    xsOf(s, settings.x).forEach((x, j) => { y[index.get(x)] = arr[j]; });
    return y;
  };
  const data = [xs], lines = [], bands = [];
  let gaps = 0;
  seriesList.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const bucketed = Boolean(s.low);  // each bucket's min..max as a faint band, so a spike still shows
    if (bucketed) {
      data.push(at(s, s.high)); lines.push({ label: s.label + " max", stroke: color + "55", width: 1 });
      data.push(at(s, s.low)); lines.push({ label: s.label + " min", stroke: color + "55", width: 1 });
      bands.push({ series: [data.length - 2, data.length - 1], fill: color + "22" });
    }
    const y = at(s, s.values);
    gaps += s.values.filter((v) => v == null).length;
    const spanGaps = seriesList.length > 1;  // another series' x between two of this one's points is no gap
    if (settings.smoothing > 0) {
      data.push(y); lines.push({ label: s.label + " (raw)", stroke: color + "44", width: 1, spanGaps });
      data.push(ema(y, settings.smoothing)); lines.push({ label: s.label, stroke: color, width: 1.6, spanGaps });
    } else {
      data.push(y); lines.push({ label: s.label, stroke: color, width: 1.5, spanGaps });
    }
  });
  return { xs, data, lines, bands, gaps };
}

const INTEGER_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 1e4, 2e4, 5e4, 1e5, 1e6, 1e7];

function options(width, built, settings, hooks) {
  const { ink, gridInk } = palette();
  const integerSteps = settings.x === "step" && built.xs.every((x) => Number.isInteger(x));
  const axis = { stroke: ink, grid: { stroke: gridInk }, ticks: { stroke: gridInk } };
  return {
    width, height: 240, legend: { show: built.lines.length > 1 }, bands: built.bands, hooks,
    cursor: { drag: { x: true, y: false }, sync: { key: "runyard" } },
    scales: { x: { time: settings.x === "wall" }, y: { distr: settings.logY ? 3 : 1 } },
    axes: [{ ...axis, incrs: integerSteps ? INTEGER_INCRS : undefined },
           // the y axis as wide as its longest label (system metrics in MB reach 6 digits and more)
           { ...axis, size: (self, values) => 18 + 7 * Math.max(4, ...(values || []).map((v) => String(v).length)) }],
    series: [{ label: settings.x }, ...built.lines],
  };
}

// The first chart a page draws costs ~50 ms more than the next ones on a 2-core machine (uPlot's drawing code compiled
// and warmed, its canvas set up). A small chart drawn off the page while the first series are on their way pays that
// in time the page would spend waiting; it is gone before anything is painted.
export function warmUp() {
  const settings = chartSettings();
  const line = { label: "", steps: [0, 1, 2, 3], values: [0, 1, 0.5, 2], low: [0, 0.5, 0.2, 1], high: [0, 2, 1, 3] };
  const built = columns([line, { ...line, label: " " }], settings);
  const plot = new uPlot(options(320, built, settings, {}), built.data, document.createElement("div"));
  setTimeout(() => plot.destroy(), 0);  // after its drawing, queued as a microtask
}

// A chart in its own box, appended to `el` (or drawn into `box` when given, e.g. a placeholder). `onZoom(lo, hi)`
// is called when the user selects an x range (step mode) and `onReset()` on a double click. `width`, when the caller
// knows it, spares a layout read per chart (many charts drawn in a row would each force one).
export function chart(el, title, seriesList, { box = null, onZoom = null, onReset = null, width = null } = {}) {
  const settings = chartSettings();
  if (!box) {
    box = document.createElement("div");
    box.className = "chart";
    el.appendChild(box);
  }
  box.dataset.metric = title;
  box.innerHTML = `<h4>${esc(title)}</h4><div class="note" hidden></div>`;
  const note = box.querySelector(".note");
  let built = columns(seriesList, settings);
  const showGaps = () => {
    note.hidden = !built.gaps;
    note.textContent = `${built.gaps} NaN/inf value(s) shown as gaps`;
    box.dataset.points = String(built.xs.length);
  };
  showGaps();
  const hooks = {};
  if (onZoom && settings.x === "step") {
    hooks.setSelect = [(u) => {
      if (u.select.width < 2) return;
      onZoom(u.posToVal(u.select.left, "x"), u.posToVal(u.select.left + u.select.width, "x"));
    }];
  }
  const px = width ?? Math.max(280, Math.min((el || box.parentElement).clientWidth - 24, box.clientWidth || 520));
  const plot = new uPlot(options(px, built, settings, hooks), built.data, box);
  if (onReset) plot.over.addEventListener("dblclick", () => onReset());
  scope().add(() => plot.destroy());
  return {
    box, plot,
    // new data for the same lines (a live run's new points, a zoomed range); the x range kept unless reset
    update(next, resetScales = true) {
      const again = columns(next, settings);
      if (again.lines.length !== built.lines.length) return false;
      built = again;
      plot.setData(built.data, resetScales);
      showGaps();
      return true;
    },
  };
}
