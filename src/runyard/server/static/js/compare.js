// Compare runs: the parameters that differ (a parameter a run did not pass shows its resolved default where the
// run recorded it, else "not passed"), parameters against a metric, values logged once side by side, and every
// series overlaid.
import { api, runPath } from "./api.js";
import { chart, chartControls } from "./charts.js";
import { esc, fmt } from "./format.js";
import { chartWidth } from "./geometry.js";
import { view } from "./page.js";
import { parallelCoordinates } from "./parallel.js";
import { parameters } from "./run-details.js";

const NOT_PASSED = { notPassed: true };

// what each run ran with: the arguments it was given, then the values its parser resolved (defaults included)
function effectiveParameters(d) {
  const passed = parameters(d.runDefinition, d.properties);
  let resolved = {};
  try { resolved = JSON.parse(d.properties["runyard.resolvedArguments"] || "{}"); } catch (e) { /* none */ }
  const out = {};
  Object.entries(resolved).forEach(([k, v]) => { out[k] = { value: v, isDefault: true }; });
  Object.entries(passed).forEach(([k, v]) => { out[k] = { value: v, isDefault: false }; });
  return out;
}

const shown = (p) => (p === NOT_PASSED ? `<span class="absent">not passed</span>`
  : p.isDefault ? `${p.value === null ? "None" : fmt(p.value)} <span class="default">(default)</span>` : fmt(p.value));
const same = (a, b) => String(a?.value ?? "\u0000") === String(b?.value ?? "\u0000");

export async function comparePage(ids) {
  const [details, overviews] = await Promise.all([
    Promise.all(ids.map((id) => api(runPath(id)))),
    Promise.all(ids.map((id) => api(runPath(id) + "/metric-overview")))]);
  const params = details.map(effectiveParameters);
  const keys = [...new Set(params.flatMap((p) => Object.keys(p)))].sort();
  const at = (i, k) => params[i][k] ?? NOT_PASSED;
  const differs = (k) => ids.some((_, i) => !same(at(i, k), at(0, k)));
  const counts = new Map();  // key -> most points any run logged
  overviews.forEach((o) => o.summary.forEach((s) => counts.set(s.key, Math.max(counts.get(s.key) || 0, s.count))));
  const seriesKeys = [...counts.keys()].filter((k) => counts.get(k) > 1).sort();
  const onceKeys = [...counts.keys()].filter((k) => counts.get(k) === 1).sort();
  const last = (i, k) => overviews[i].summary.find((s) => s.key === k)?.last ?? null;
  const heads = ids.map((id) => `<th title="${esc(id)}">${esc(id)}</th>`).join("");
  const diffRows = keys.filter(differs).map((k) => `<tr class="differs"><td>${esc(k)}</td>
    ${ids.map((_, i) => `<td>${shown(at(i, k))}</td>`).join("")}</tr>`).join("");
  const onceRows = onceKeys.map((k) => `<tr><td>${esc(k)}</td>${ids.map((_, i) => `<td>${last(i, k) == null
    ? `<span class="absent">absent</span>` : fmt(last(i, k))}</td>`).join("")}</tr>`).join("");
  const metricChoices = [...seriesKeys, ...onceKeys];
  view().innerHTML = `<h2>Compare ${ids.length} runs</h2>
    <div class="section"><h3>Parameters that differ</h3><div class="scroll"><table id="param-diff"><thead><tr>
      <th>parameter</th>${heads}</tr></thead><tbody>${diffRows
        || `<tr><td colspan="${ids.length + 1}">The runs have the same parameters</td></tr>`}</tbody></table></div>
      <p class="empty">${keys.filter((k) => !differs(k)).length} parameter(s) equal in every run</p>
      ${metricChoices.length && keys.some(differs) ? `<div class="toolbar">Parameters → <select id="pc-metric">
        ${metricChoices.map((k) => `<option>${esc(k)}</option>`).join("")}</select></div><div id="parallel"></div>`
        : ""}</div>
    ${onceRows ? `<div class="section"><h3>Values</h3><div class="scroll"><table id="values"><thead><tr><th>metric</th>
      ${heads}</tr></thead><tbody>${onceRows}</tbody></table></div></div>` : ""}
    <div class="section"><h3>Metrics</h3><div class="toolbar" id="chart-controls"></div>
      <div class="charts" id="charts"></div></div>`;
  const pc = view().querySelector("#pc-metric");
  if (pc) {
    const drawParallel = () => {
      const key = pc.value;
      const rows = ids.map((id, i) => ({
        runId: id, value: last(i, key),
        params: Object.fromEntries(keys.map((k) => [k, params[i][k]?.value])) }));
      parallelCoordinates(view().querySelector("#parallel"), rows, keys.filter(differs), key,
                          !/loss|error|perplexity/i.test(key));
    };
    pc.addEventListener("change", drawParallel);
    drawParallel();
  }
  // a run's line is named by its id's last 8 characters, or its whole id where those are not unique
  const short = ids.map((id) => id.slice(-8));
  const labels = new Set(short).size === ids.length ? short : ids;
  const el = view().querySelector("#charts");
  const width = chartWidth(el);
  const fetched = await Promise.all(ids.map((id) => {
    if (!seriesKeys.length) return { series: [] };
    const q = new URLSearchParams({ width });
    seriesKeys.forEach((k) => q.append("keys", k));
    return api(runPath(id) + "/charts?" + q);
  }));
  const draw = () => {
    el.innerHTML = "";
    seriesKeys.forEach((key) => {
      const lines = fetched.flatMap((f, i) => f.series.filter((s) => s.key === key && s.rank === 0)
        .map((s) => ({ ...s, label: labels[i] })));
      if (lines.length) chart(el, key, lines);
    });
  };
  chartControls(view().querySelector("#chart-controls"), draw);
  draw();
}
