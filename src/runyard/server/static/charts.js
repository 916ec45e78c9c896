// runyard web UI: metric charts (uPlot): the x axis and smoothing settings kept in the URL, one chart per metric,
// the live run charts and the DDP straggler view. Loaded before app.js, whose api(), esc() and COLORS it uses.
"use strict";

// ---- charts -----------------------------------------------------------------------------------
// chart settings: from the address (a deep link: #/run/ID?smooth=0.6&logy=1&x=wall), else as last chosen
function hashParams() { const q = location.hash.indexOf("?"); return new URLSearchParams(q < 0 ? "" : location.hash.slice(q + 1)); }
function chartSettings() {
  const saved = stored("chart", { smoothing: 0, logY: false, x: "step" });
  const h = hashParams();
  return { smoothing: h.has("smooth") ? Number(h.get("smooth")) : saved.smoothing,
           logY: h.has("logy") ? h.get("logy") === "1" : saved.logY, x: h.get("x") || saved.x };
}
function setChartSettings(settings) {
  store("chart", settings);
  const base = location.hash.split("?")[0];
  const q = new URLSearchParams({ smooth: settings.smoothing, logy: settings.logY ? 1 : 0, x: settings.x });
  history.replaceState(null, "", location.pathname + location.search + base + "?" + q);
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

// one uPlot chart per metric: a line per rank (or run); smoothing draws the raw line faint beneath
function chart(el, title, seriesList) {
  const settings = chartSettings();
  const xs = [...new Set(seriesList.flatMap((s) => xsOf(s, settings.x)))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const lines = [];
  const data = [xs];
  let gaps = 0;
  const bandFills = [];
  seriesList.forEach((s, i) => {
    if (s.bands && settings.x === "step") {  // downsampled: each bucket's min-max as a faint band, its mean as the line
      const color = COLORS[i % COLORS.length];
      const at = (arr) => { const y = new Array(xs.length).fill(null); s.bands.steps.forEach((x, j) => { if (index.has(x)) y[index.get(x)] = arr[j]; }); return y; };
      data.push(at(s.bands.high)); lines.push({ label: s.label + " max", stroke: color + "55", width: 1, spanGaps: true });
      data.push(at(s.bands.low)); lines.push({ label: s.label + " min", stroke: color + "55", width: 1, spanGaps: true });
      bandFills.push({ series: [data.length - 2, data.length - 1], fill: color + "22" });
    }
    let y = new Array(xs.length).fill(null);
    if (s.bands && settings.x === "step") {  // the line is each bucket's mean: 50,000 noisy points are not a block
      s.bands.steps.forEach((x, j) => { if (index.has(x)) y[index.get(x)] = s.bands.mean[j]; });
    } else {
      xsOf(s, settings.x).forEach((x, j) => { y[index.get(x)] = s.values[j]; });
    }
    gaps += s.values.filter((v) => v == null).length;
    const color = COLORS[i % COLORS.length];
    const span = Boolean(s.bands && settings.x === "step");  // bucket means sit at every 4th x: join them
    if (settings.smoothing > 0) {
      data.push(y); lines.push({ label: s.label + " (raw)", stroke: color + "44", width: 1, spanGaps: span, show: true });
      data.push(ema(y, settings.smoothing)); lines.push({ label: s.label, stroke: color, width: 1.6, spanGaps: span });
    } else {
      data.push(y); lines.push({ label: s.label, stroke: color, width: 1.5, spanGaps: span });
    }
  });
  const box = document.createElement("div");
  box.className = "chart";
  box.dataset.metric = title;
  box.innerHTML = `<h4>${esc(title)}</h4>${gaps ? `<div class="note">${gaps} NaN/inf value(s) shown as gaps</div>` : ""}`;
  el.appendChild(box);
  const width = Math.max(280, Math.min(el.clientWidth - 24, box.clientWidth || 520));
  const integerSteps = settings.x === "step" && xs.every((x) => Number.isInteger(x));
  const css = getComputedStyle(document.documentElement);  // axes in the page's palette (light or dark)
  const ink = css.getPropertyValue("--fg").trim() || "#1d2330";
  const gridInk = css.getPropertyValue("--line").trim() || "#e3e6eb";
  const plot = new uPlot({
    width, height: 240, legend: { show: lines.length > 1 }, bands: bandFills,
    cursor: { drag: { x: true, y: false }, sync: { key: "runyard" } },
    scales: { x: { time: settings.x === "wall" }, y: { distr: settings.logY ? 3 : 1 } },
    axes: [{ stroke: ink, grid: { stroke: gridInk }, ticks: { stroke: gridInk },
             incrs: integerSteps ? [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 1e4, 2e4, 5e4, 1e5, 1e6] : undefined },
           // the y axis as wide as its longest label (system metrics in MB reach 6 digits and more)
           { stroke: ink, grid: { stroke: gridInk }, ticks: { stroke: gridInk },
             size: (self, values) => 18 + 7 * Math.max(4, ...(values || []).map((v) => String(v).length)) }],
    series: [{ label: settings.x }, ...lines],
  }, data, box);
  box.dataset.points = String(xs.length);
  cleanup.push(() => plot.destroy());
  return { box, plot };
}

function chartControls(el, redraw) {
  const s = chartSettings();
  el.innerHTML = `<label>Smoothing <input id="smoothing" type="range" min="0" max="0.99" step="0.01" value="${s.smoothing}"></label>
    <label><input id="logy" type="checkbox" ${s.logY ? "checked" : ""}> log y</label>
    <label>x <select id="xmode">${["step", "relative", "wall"].map((m) => `<option value="${m}" ${m === s.x ? "selected" : ""}>${m === "relative" ? "relative time" : m === "wall" ? "wall time" : "step"}</option>`).join("")}</select></label>`;
  const save = () => { setChartSettings({ smoothing: Number(el.querySelector("#smoothing").value), logY: el.querySelector("#logy").checked, x: el.querySelector("#xmode").value }); redraw(); };
  el.querySelectorAll("input, select").forEach((c) => c.addEventListener("change", save));
}

// every chart of a run, fetched in parallel; a running run's charts gain new points without a reload
async function runCharts(el, runId, seriesKeys, live) {
  const cache = new Map();  // "key|rank" -> {steps, values, times}
  const fetchAll = async () => {
    await Promise.all(Object.entries(seriesKeys).flatMap(([key, ranks]) => ranks.map(async (r) => {
      const id = key + "|" + r;
      const have = cache.get(id);
      const last = have && have.steps.length ? have.steps[have.steps.length - 1] : null;
      const q = `rank=${r}` + (last != null ? `&step_min=${encodeURIComponent(last)}` : "");
      const s = await api(`/runs/${encodeURIComponent(runId)}/metrics/${encodeURIComponent(key)}/series?${q}`);
      if (!have || s.downsampled) { cache.set(id, { steps: s.steps, values: s.values, times: s.times, bands: s.bands }); return; }
      s.steps.forEach((x, i) => { if (x > last) { have.steps.push(x); have.values.push(s.values[i]); have.times.push(s.times[i]); } });
    })));
  };
  const draw = () => {
    el.innerHTML = "";
    for (const [key, ranks] of Object.entries(seriesKeys)) {
      const lines = ranks.map((r) => ({ label: "rank " + r, ...cache.get(key + "|" + r) }));
      if (lines.every((l) => l.steps.length < 2)) continue;  // a value logged once is in the summary, not a lone dot
      chart(el, key, lines);
    }
    stragglers(el, seriesKeys, cache);
  };
  await fetchAll();
  draw();
  if (live) {
    let stopped = false;
    const tick = async () => {
      if (stopped) return;
      const d = await api("/runs/" + encodeURIComponent(runId) + "/metrics");
      Object.entries(d.series).forEach(([k, ranks]) => { seriesKeys[k] = ranks; });
      const summary = document.querySelector("#summary tbody");  // the table above the charts follows them
      const rows = summaryRows(d.metrics, d.series);
      if (summary && rows) summary.innerHTML = rows;
      await fetchAll();
      draw();
      const rec = await api("/runs/" + encodeURIComponent(runId) + "/record");
      if (!TERMINAL.has(rec.status)) setTimeout(tick, 1500);
    };
    setTimeout(tick, 1500);
    cleanup.push(() => { stopped = true; });
  }
  return draw;
}

// which rank is slowest, step by step: every rank logs the same step; the time it logged it, against the
// fastest rank's, is how far behind it runs (runyard keeps each rank's own timestamps)
function stragglers(el, seriesKeys, cache) {
  const entry = Object.entries(seriesKeys).find(([, ranks]) => ranks.length > 1);
  if (!entry) return;
  const [key, ranks] = entry;
  const byRank = ranks.map((r) => ({ rank: r, ...cache.get(key + "|" + r) }));
  const steps = byRank[0].steps.filter((x) => byRank.every((s) => s.steps.includes(x)));
  if (steps.length < 2) return;
  const lag = byRank.map((s) => steps.map((x) => s.times[s.steps.indexOf(x)]));
  const fastest = steps.map((_, j) => Math.min(...lag.map((t) => t[j])));
  const behind = lag.map((t) => t.map((v, j) => v - fastest[j]));
  const lastCount = byRank.map((_, i) => steps.filter((_, j) => behind[i][j] === Math.max(...behind.map((b) => b[j]))).length);
  const median = (xs) => { const v = [...xs].sort((a, b) => a - b); return v[Math.floor(v.length / 2)]; };
  const box = document.createElement("div");
  box.className = "chart stragglers";
  el.appendChild(box);
  chart(box, `stragglers: seconds behind the fastest rank (${key})`, byRank.map((s, i) => ({ label: "rank " + s.rank, steps, values: behind[i], times: steps.map((_, j) => lag[i][j]) })));
  const rows = byRank.map((s, i) => ({ rank: s.rank, median: median(behind[i]), last: lastCount[i] })).sort((a, b) => b.median - a.median);
  box.insertAdjacentHTML("beforeend", `<table id="straggler-table"><thead><tr><th>rank</th><th>median s behind</th><th>steps it was last</th></tr></thead>
    <tbody>${rows.map((r) => `<tr><td>${r.rank}</td><td>${fmt(r.median)}</td><td>${r.last} of ${steps.length}</td></tr>`).join("")}</tbody></table>`);
}

// ---- run page ---------------------------------------------------------------------------------
