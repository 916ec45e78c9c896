// runyard web UI: a run page's child runs and a sweep's summary (best trials, parallel coordinates).
// Loaded before app.js, whose api(), esc(), fmt() and chart() it uses.
"use strict";

// ---- child runs (a sweep's trials, submit_child, child_run) -------------------------------------
const TOP_CHILDREN_CHARTED = 10;

async function childRuns(view, runId) {
  const c = await api("/runs/" + encodeURIComponent(runId) + "/children");
  if (!c.children.length) return;
  const section = view.querySelector("#children-section");
  section.hidden = false;
  const params = [...new Set(c.children.flatMap((x) => Object.keys(x.hyperparameters)))];
  const metric = c.primaryMetric ? `${c.primaryMetric.name} (${c.primaryMetric.goal === "MAXIMIZE" ? "max" : "min"})` : null;
  section.querySelector("#children").innerHTML = `<thead><tr><th>#</th><th>Run</th><th>Status</th>${metric ? `<th>${esc(metric)}</th>` : ""}
      ${params.map((p) => `<th>${esc(p)}</th>`).join("")}</tr></thead><tbody>${c.children.map((x, i) => `<tr data-run="${esc(x.runId)}">
      <td>${i + 1}</td><td><a href="#/run/${encodeURIComponent(x.runId)}">${esc(x.runId)}</a></td><td class="status-${esc(x.status)}">${esc(x.status)}</td>
      ${metric ? `<td class="best">${x.bestPrimaryMetric === null ? "-" : fmt(x.bestPrimaryMetric)}</td>` : ""}
      ${params.map((p) => `<td>${p in x.hyperparameters ? fmt(x.hyperparameters[p]) : "-"}</td>`).join("")}</tr>`).join("")}</tbody>`;
  if (!c.primaryMetric) return;
  // the primary metric of the best trials over their steps: how the sweep's leaders got there
  const charted = c.children.filter((x) => x.bestPrimaryMetric !== null).slice(0, TOP_CHILDREN_CHARTED);
  const lines = await Promise.all(charted.map((x) => api(`/runs/${encodeURIComponent(x.runId)}/metrics/${encodeURIComponent(c.primaryMetric.name)}/series`)));
  chart(section.querySelector("#children-chart"), c.primaryMetric.name, lines.map((s, i) => ({ label: `#${i + 1} ` + charted[i].runId.slice(-8), steps: s.steps, values: s.values, times: s.times })));
}

// attempts (how each ended, where a restart resumed), an injected fault, what a rerun changed
function resilienceRows(props) {
  const attempts = Object.keys(props).filter((k) => k.startsWith("runyard.attempt.")).sort((a, b) => Number(a.split(".")[2]) - Number(b.split(".")[2]))
    .map((k) => [k.split(".")[2], JSON.parse(props[k])]);
  const rows = [];
  if (attempts.length > 1 || attempts.some(([, a]) => a.requeued)) rows.push(`<tr><td>Attempts</td><td id="attempts">${attempts.map(([n, a]) => `${esc(n)}: ${esc(a.outcome)}${a.resumedFromStep != null ? ` (resumed from step ${esc(a.resumedFromStep)})` : ""}`
    + (a.requeued || []).map((r) => `<br>&nbsp;&nbsp;requeued by the scheduler, resumed from step ${esc(r.resumedFromStep)}`).join("")).join("<br>")}</td></tr>`);
  if (props["runyard.fault"]) {
    const f = JSON.parse(props["runyard.fault"]);
    rows.push(`<tr><td>Injected</td><td id="fault">${esc(f.fault)}: ${f.injected ? `at ${esc(f.seconds)} s, step ${esc(f.step)}` : esc(f.why || "")}</td></tr>`);
  }
  if (props["runyard.rerunOf"]) rows.push(`<tr><td>Rerun of</td><td><a href="#/run/${encodeURIComponent(props["runyard.rerunOf"])}">${esc(props["runyard.rerunOf"])}</a></td></tr>`);
  if (props["runyard.rerunChanges"]) rows.push(`<tr><td>Rerun changes</td><td>${JSON.parse(props["runyard.rerunChanges"]).map(esc).join("<br>")}</td></tr>`);
  return rows.join("");
}

// ---- a sweep: what it searched, how it stopped runs, which run won -------------------------------
async function sweepSummary(el, runId) {
  const [sw, c] = await Promise.all([api("/runs/" + encodeURIComponent(runId) + "/sweep"),
                                     api("/runs/" + encodeURIComponent(runId) + "/children")]);
  const expr = ([kind, args]) => `${kind}(${args.map((a) => JSON.stringify(a)).join(", ")})`;
  const policy = sw.policy.kind === "none" ? "none (every run goes to its end)" :
    `${sw.policy.kind} (${Object.entries(sw.policy).filter(([k, v]) => k !== "kind" && v !== null).map(([k, v]) => `${k} ${v}`).join(", ")})`;
  const best = c.children.find((x) => x.bestPrimaryMetric !== null);
  el.innerHTML = `<table class="kv" id="sweep-settings">
      <tr><td>Primary metric</td><td>${esc(sw.primaryMetric)} (${sw.maximize ? "maximize" : "minimize"})</td></tr>
      <tr><td>Best run</td><td>${best ? `<a id="best-run" href="#/run/${encodeURIComponent(best.runId)}">${esc(best.runId)}</a> (${fmt(best.bestPrimaryMetric)})` : "-"}</td></tr>
      <tr><td>Sampling</td><td>${esc(sw.sampling.kind)}</td></tr>
      <tr><td>Search space</td><td id="search-space">${Object.entries(sw.sampling.space).map(([k, e]) => `${esc(k)} ${esc(expr(e))}`).join("<br>")}</td></tr>
      <tr><td>Policy</td><td id="policy">${esc(policy)}</td></tr>
      <tr><td>Limits</td><td>${sw.maxTotalRuns} runs, ${sw.maxConcurrentRuns} at a time, within ${dur(sw.maxDurationSeconds)}</td></tr></table>
    <h4>Parameters → ${esc(sw.primaryMetric)}</h4><div id="parallel"></div>
    <h4>Early-termination decisions</h4>
    <table id="decisions"><tbody>${sw.decisions.map((d) => `<tr><td><a href="#/run/${encodeURIComponent(d.runId)}">${esc(d.runId)}</a></td><td>${esc(d.why)}</td></tr>`).join("") || "<tr><td>No run was stopped early</td></tr>"}</tbody></table>`;
  const params = [...new Set(c.children.flatMap((x) => Object.keys(x.hyperparameters)))];
  parallelCoordinates(el.querySelector("#parallel"), c.children.map((x) => ({ runId: x.runId, params: x.hyperparameters, value: x.bestPrimaryMetric })),
                      params, sw.primaryMetric, sw.maximize);
}

// parallel coordinates: one axis per parameter and one for the metric, a line per run coloured by its metric
function parallelCoordinates(el, rows, params, metric, maximize) {
  const scored = rows.filter((r) => r.value !== null && r.value !== undefined);
  if (!params.length || !scored.length) { el.innerHTML = `<p class="empty">No trial has a ${esc(metric)} yet</p>`; return; }
  const axes = [...params, metric];
  const width = Math.max(320, el.clientWidth || 600), height = 220, pad = 28;
  const x = (i) => pad + (i * (width - 2 * pad)) / Math.max(1, axes.length - 1);
  const scales = axes.map((a, i) => {
    const values = scored.map((r) => (i === axes.length - 1 ? r.value : r.params[a]));
    const numeric = values.every((v) => typeof v === "number");
    if (numeric) {
      const lo = Math.min(...values), hi = Math.max(...values);
      return { label: (v) => fmt(v), y: (v) => height - pad - ((v - lo) / (hi - lo || 1)) * (height - 2 * pad), ticks: [lo, hi] };
    }
    const cats = [...new Set(values.map(String))];
    return { label: (v) => esc(v), y: (v) => height - pad - (cats.indexOf(String(v)) / Math.max(1, cats.length - 1)) * (height - 2 * pad), ticks: cats };
  });
  const lo = Math.min(...scored.map((r) => r.value)), hi = Math.max(...scored.map((r) => r.value));
  const colour = (v) => { const t = (v - lo) / (hi - lo || 1); const good = maximize ? t : 1 - t; return `hsl(${Math.round(good * 120)}, 70%, 45%)`; };
  const lines = scored.map((r) => `<polyline class="pc-line" data-run="${esc(r.runId)}" fill="none" stroke="${colour(r.value)}" stroke-width="2"
      points="${axes.map((a, i) => `${x(i)},${scales[i].y(i === axes.length - 1 ? r.value : r.params[a])}`).join(" ")}"><title>${esc(r.runId)}: ${fmt(r.value)}</title></polyline>`).join("");
  const axisMarks = axes.map((a, i) => `<line x1="${x(i)}" x2="${x(i)}" y1="${pad}" y2="${height - pad}" class="pc-axis"/>
      <text x="${x(i)}" y="${pad - 10}" text-anchor="middle" class="pc-label">${esc(a)}</text>
      ${scales[i].ticks.map((t) => `<text x="${x(i) + 4}" y="${scales[i].y(t) + 4}" class="pc-tick">${scales[i].label(t)}</text>`).join("")}`).join("");
  el.innerHTML = `<svg id="parallel-plot" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${axisMarks}${lines}</svg>`;
}

// ---- models and deployed services -------------------------------------------------------------
