// A run's child runs (a sweep's trials, submit_child, child_run) and a sweep's summary: what it searched, how it
// stopped runs, which run won.
import { api, runPath } from "./api.js";
import { chart } from "./charts.js";
import { dur, esc, fmt, runLink } from "./format.js";
import { parallelCoordinates } from "./parallel.js";

const TOP_CHILDREN_CHARTED = 10;

export async function childRuns(el, runId) {
  const c = await api(runPath(runId) + "/children");
  if (!c.children.length) return;
  const section = el.querySelector("#children-section");
  section.hidden = false;
  const params = [...new Set(c.children.flatMap((x) => Object.keys(x.hyperparameters)))];
  const pm = c.primaryMetric;
  const metric = pm ? `${pm.name} (${pm.goal === "MAXIMIZE" ? "max" : "min"})` : null;
  const row = (x, i) => `<tr data-run="${esc(x.runId)}"><td>${i + 1}</td><td>${runLink(x.runId)}</td>
    <td class="status-${esc(x.status)}">${esc(x.status)}</td>
    ${metric ? `<td class="best">${x.bestPrimaryMetric === null ? "-" : fmt(x.bestPrimaryMetric)}</td>` : ""}
    ${params.map((p) => `<td>${p in x.hyperparameters ? fmt(x.hyperparameters[p]) : "-"}</td>`).join("")}</tr>`;
  section.querySelector("#children").innerHTML = `<thead><tr><th>#</th><th>Run</th><th>Status</th>
    ${metric ? `<th>${esc(metric)}</th>` : ""}${params.map((p) => `<th>${esc(p)}</th>`).join("")}</tr></thead>
    <tbody>${c.children.map(row).join("")}</tbody>`;
  if (!pm) return;
  // the primary metric of the best trials over their steps: how the sweep's leaders got there
  const charted = c.children.filter((x) => x.bestPrimaryMetric !== null).slice(0, TOP_CHILDREN_CHARTED);
  const q = new URLSearchParams({ keys: pm.name, width: 600 });
  const found = await Promise.all(charted.map((x) => api(runPath(x.runId) + "/charts?" + q)));
  const lines = found.map((f, i) => f.series.find((s) => s.rank === 0) && {
    ...f.series.find((s) => s.rank === 0), label: `#${i + 1} ` + charted[i].runId.slice(-8) }).filter(Boolean);
  if (lines.length) chart(section.querySelector("#children-chart"), pm.name, lines);
}

const expression = ([kind, args]) => `${kind}(${args.map((a) => JSON.stringify(a)).join(", ")})`;

export async function sweepSummary(el, runId) {
  const [sw, c] = await Promise.all([api(runPath(runId) + "/sweep"), api(runPath(runId) + "/children")]);
  const settings = Object.entries(sw.policy).filter(([k, v]) => k !== "kind" && v !== null)
    .map(([k, v]) => `${k} ${v}`);
  const policy = sw.policy.kind === "none" ? "none (every run goes to its end)"
    : `${sw.policy.kind} (${settings.join(", ")})`;
  const best = c.children.find((x) => x.bestPrimaryMetric !== null);
  const space = Object.entries(sw.sampling.space).map(([k, e]) => `${esc(k)} ${esc(expression(e))}`).join("<br>");
  const decisions = sw.decisions.map((d) => `<tr><td>${runLink(d.runId)}</td><td>${esc(d.why)}</td></tr>`).join("");
  el.innerHTML = `<table class="kv" id="sweep-settings">
      <tr><td>Primary metric</td><td>${esc(sw.primaryMetric)} (${sw.maximize ? "maximize" : "minimize"})</td></tr>
      <tr><td>Best run</td><td>${best ? `<a id="best-run" href="#/run/${encodeURIComponent(best.runId)}">`
        + `${esc(best.runId)}</a> (${fmt(best.bestPrimaryMetric)})` : "-"}</td></tr>
      <tr><td>Sampling</td><td>${esc(sw.sampling.kind)}</td></tr>
      <tr><td>Search space</td><td id="search-space">${space}</td></tr>
      <tr><td>Policy</td><td id="policy">${esc(policy)}</td></tr>
      <tr><td>Limits</td><td>${sw.maxTotalRuns} runs, ${sw.maxConcurrentRuns} at a time,
        within ${dur(sw.maxDurationSeconds)}</td></tr></table>
    <h4>Parameters → ${esc(sw.primaryMetric)}</h4><div id="parallel"></div>
    <h4>Early-termination decisions</h4>
    <table id="decisions"><tbody>${decisions || "<tr><td>No run was stopped early</td></tr>"}</tbody></table>`;
  const params = [...new Set(c.children.flatMap((x) => Object.keys(x.hyperparameters)))];
  const rows = c.children.map((x) => ({ runId: x.runId, params: x.hyperparameters, value: x.bestPrimaryMetric }));
  parallelCoordinates(el.querySelector("#parallel"), rows, params, sw.primaryMetric, sw.maximize);
}
