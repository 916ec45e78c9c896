// The runs table: server-side search, sort and paging; a sweep's trials folded under it; metric and parameter
// columns (by default the sweep's primary metric, then series, then one-off values, as many as fit the width; a
// chosen set is kept per experiment).
import { api } from "./api.js";
import { TERMINAL, ago, dur, esc, fmt, store, stored, when } from "./format.js";
import { refresh, scope, view } from "./page.js";

const STATUSES = ["Queued", "Preparing", "Starting", "Running", "Finalizing", "Completed", "Failed", "Canceled"];
const MAX_DEFAULT_COLUMNS = 16;
const state = { sort: "created", order: "desc", offset: 0, limit: 50, q: "", search: "", status: "",
                selected: new Set(), open: new Set() };

// the metrics worth a column, best first: primary metrics of sweeps, then keys some run logged as a series (a
// curve's last value is what people compare), then one-off values; more runs logging a key ranks it higher
export function defaultColumns(runs) {
  const primary = new Set(runs.map((r) => r.primaryMetric).filter(Boolean));
  const counts = new Map(), series = new Set();
  runs.forEach((r) => Object.entries(r.metrics).forEach(([k, m]) => {
    if (typeof m.last !== "number") return;  // numbers; lists and tables are not columns
    counts.set(k, (counts.get(k) || 0) + 1);
    if (m.count > 1) series.add(k);
  }));
  const ranked = [...counts.keys()].sort((a, b) => (primary.has(b) - primary.has(a))
    || (series.has(b) - series.has(a)) || counts.get(b) - counts.get(a) || a.localeCompare(b));
  return ranked.slice(0, MAX_DEFAULT_COLUMNS).map((k) => "m:" + k);
}

function cell(r, col) {
  if (col.startsWith("m:")) { const m = r.metrics[col.slice(2)]; return m ? m.last : null; }
  return r.params[col.slice(2)] ?? null;
}

async function fetchPage() {
  // a parameter column sorts the page here; every other column sorts on the server, across all runs
  const qs = new URLSearchParams({ sort: state.sort.startsWith("p:") ? "created" : state.sort, order: state.order,
                                   offset: state.offset, limit: state.limit });
  if (state.status) qs.set("status", state.status);
  if (state.experiment) qs.set("experiment", state.experiment);
  if (state.search) qs.set("filter", state.search);
  let searchError = "";
  const [data, experiments] = await Promise.all([
    api("/runs?" + qs).catch((e) => {  // a search the server cannot read: say why, show every run meanwhile
      if (!state.search) throw e;
      searchError = e.message;
      qs.delete("filter");
      return api("/runs?" + qs);
    }), api("/experiments")]);
  return { data, experiments, searchError };
}

const EMPTY = `<div class="section empty-state" id="empty"><h3>No runs yet</h3>
  <p>Submit your first run from a shell:</p><pre>runyard submit train.py --experiment first -- --epochs 5</pre>
  <p>or from Python: <code>Experiment(Workspace.from_config(), "first").submit(ScriptRunConfig(".", "train.py"))
  </code>. It appears here as it runs.</p></div>`;

function sortByParameter(top) {
  const key = state.sort.slice(2), sign = state.order === "desc" ? -1 : 1;
  const val = (r) => {
    const v = r.params[key];
    const n = Number(v);
    return v == null ? null : Number.isNaN(n) ? v : n;
  };
  top.sort((a, b) => {
    const x = val(a), y = val(b);
    if (x == null) return 1;
    if (y == null) return -1;
    return (x > y ? 1 : x < y ? -1 : 0) * sign;
  });
}

function toolbar(data, allKeys, columns, shownCount, searchError) {
  const options = (values, chosen) => values.map((v) => `<option ${v === chosen ? "selected" : ""}>${esc(v)}</option>`)
    .join("");
  const picker = allKeys.map((k) => `<label><input type="checkbox" value="${esc(k)}"
    ${columns.includes(k) ? "checked" : ""}> ${k.startsWith("p:") ? "⚙ " : ""}${esc(k.slice(2))}</label>`).join("");
  const plural = data.total === 1 ? "" : "s";
  return `<div class="toolbar">
      <input id="search" size="30" placeholder="search: metrics.acc > 0.9 and …" value="${esc(state.search)}"
        title="Searched on the server across every run: metrics.<key>, params.<key>, tags.<key>, status, owner,
experiment; = != < <= > >= LIKE ILIKE IN, joined by and">
      <input id="filter" placeholder="filter this page" value="${esc(state.q)}">
      <select id="experiment"><option value="">every experiment</option>${options(state.experiments || [],
        state.experiment)}</select>
      <select id="status"><option value="">any status</option>${options(STATUSES, state.status)}</select>
      <details id="columns"><summary>Columns</summary><div class="picker">${picker}</div></details>
      <button id="compare">Compare selected</button>
      <span id="count">${state.q ? `${shownCount} shown of ` : ""}${data.total}
        ${state.search && !searchError ? "matching " : ""}run${plural}</span>
      <button id="prev" ${state.offset === 0 ? "disabled" : ""}>‹ prev</button>
      <span>${data.total ? state.offset + 1 : 0}–${Math.min(state.offset + state.limit, data.total)}</span>
      <button id="next" ${state.offset + state.limit >= data.total ? "disabled" : ""}>next ›</button>
    </div>
    ${searchError ? `<p class="error" id="search-error">${esc(searchError)}</p>` : ""}`;
}

// drop default metric columns from the right until the table fits its box (at least one stays)
function fitColumns(el, fixedCount, metricCount) {
  const table = el.querySelector("#runs"), box = el.querySelector(".scroll");
  let shown = metricCount;
  while (shown > 1 && table.offsetWidth > box.clientWidth) {
    const index = fixedCount + shown;  // +1 for the checkbox column, -1 for the last: cancels out
    table.querySelectorAll("tr").forEach((tr) => tr.children[index]?.remove());
    shown -= 1;
  }
}

export async function runsPage() {
  const page = scope();
  const { data, experiments, searchError } = await fetchPage();
  state.experiments = experiments;
  const el = view();
  if (!data.total && !state.status && !state.experiment && !state.search) {
    el.innerHTML = EMPTY;
    return;
  }
  const scopeKey = "columns-" + (state.experiment || "all");
  const allKeys = [...new Set(data.runs.flatMap((r) => [...Object.keys(r.metrics).map((k) => "m:" + k),
                                                        ...Object.keys(r.params).map((k) => "p:" + k)]))].sort();
  const chosen = stored(scopeKey, null);
  const columns = chosen || defaultColumns(data.runs);
  const showOwner = new Set(data.runs.map((r) => r.owner)).size > 1;  // who submitted, once several people do
  const fixed = [["run_id", "Run"], ["experiment", "Experiment"], ["status", "Status"],
                 ...(showOwner ? [["", "By"]] : []), ["created", "Submitted"], ["duration", "Duration"]];
  const cols = [...fixed, ...columns.map((c) => [c.startsWith("m:") ? "metric:" + c.slice(2) : c,
                                                  (c.startsWith("p:") ? "⚙ " : "") + c.slice(2)])];
  const children = new Map();
  data.runs.filter((r) => r.parent).forEach((r) => {
    if (!children.has(r.parent)) children.set(r.parent, []);
    children.get(r.parent).push(r);
  });
  const shown = new Set(data.runs.map((r) => r.runId));
  const q = state.q.toLowerCase();
  const matches = (r) => !q || [r.runId, r.experiment, r.status, ...columns.map((c) => cell(r, c))]
    .some((v) => String(v ?? "").toLowerCase().includes(q));
  const row = (r, depth) => {
    const kids = children.get(r.runId);
    const expand = kids ? `<button class="expand" data-parent="${esc(r.runId)}">${state.open.has(r.runId) ? "▾" : "▸"}
      ${kids.length} trials</button>` : "";
    const why = r.status === "Queued" && r.statusDetail
      ? `<div class="why" title="${esc(r.statusDetail)}">${esc(r.statusDetail)}</div>` : "";
    return `<tr data-run="${esc(r.runId)}" class="${depth ? "child" : ""}">
      <td><input type="checkbox" class="pick" value="${esc(r.runId)}"
        ${state.selected.has(r.runId) ? "checked" : ""}></td>
      <td>${depth ? "<span class=\"indent\">└</span>" : ""}<a href="#/run/${encodeURIComponent(r.runId)}">
        ${esc(r.runId)}</a> ${expand}</td>
      <td>${esc(r.experiment)}</td><td class="status-${esc(r.status)}">${esc(r.status)}${why}</td>
      ${showOwner ? `<td class="owner">${esc(r.owner || "-")}</td>` : ""}
      <td title="${esc(when(r.created))}">${esc(ago(r.created))}</td><td>${dur(r.duration)}</td>
      ${columns.map((c) => `<td>${fmt(cell(r, c))}</td>`).join("")}</tr>`;
  };
  const top = data.runs.filter((r) => !r.parent || !shown.has(r.parent)).filter(matches);
  if (state.sort.startsWith("p:")) sortByParameter(top);
  const rows = top.flatMap((r) => [row(r, 0), ...(state.open.has(r.runId) ? (children.get(r.runId) || [])
    .map((c) => row(c, 1)) : [])]);
  const arrow = (k) => (state.sort === k ? (state.order === "desc" ? " ▾" : " ▴") : "");
  el.innerHTML = toolbar(data, allKeys, columns, top.length, searchError) + `
    <div class="scroll"><table id="runs"><thead><tr><th></th>${cols.map(([k, label]) =>
      `<th data-sort="${esc(k)}">${esc(label)}${arrow(k)}</th>`).join("")}</tr></thead>
    <tbody>${rows.join("")}</tbody></table></div>`;
  if (!chosen) fitColumns(el, fixed.length, columns.length);
  wire(el, scopeKey);
  // running rows refresh themselves
  if (data.runs.some((r) => !TERMINAL.has(r.status))) page.later(refresh, 2000);
}

function wire(el, scopeKey) {
  const again = () => refresh();
  el.querySelectorAll("th[data-sort]").forEach((th) => th.addEventListener("click", () => {
    const k = th.dataset.sort;
    if (!k) return;
    state.order = state.sort === k && state.order === "desc" ? "asc" : "desc";
    state.sort = k;
    again();
  }));
  const on = (id, fn) => el.querySelector(id).addEventListener("change", (e) => { fn(e.target.value); again(); });
  on("#filter", (v) => { state.q = v; });
  on("#search", (v) => { state.search = v.trim(); state.offset = 0; });
  on("#status", (v) => { state.status = v; state.offset = 0; });
  on("#experiment", (v) => { state.experiment = v; state.offset = 0; });
  el.querySelector("#prev").addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - state.limit);
    again();
  });
  el.querySelector("#next").addEventListener("click", () => { state.offset += state.limit; again(); });
  el.querySelectorAll("#columns input").forEach((c) => c.addEventListener("change", () => {
    store(scopeKey, [...el.querySelectorAll("#columns input:checked")].map((x) => x.value));
    refresh().then(() => { view().querySelector("#columns").open = true; });
  }));
  el.querySelectorAll(".expand").forEach((b) => b.addEventListener("click", () => {
    const id = b.dataset.parent;
    if (state.open.has(id)) state.open.delete(id); else state.open.add(id);
    again();
  }));
  el.querySelectorAll(".pick").forEach((c) => c.addEventListener("change", () => {
    if (c.checked) state.selected.add(c.value); else state.selected.delete(c.value);
  }));
  el.querySelector("#compare").addEventListener("click", () => {
    location.hash = "#/compare/" + [...state.selected].map(encodeURIComponent).join(",");
  });
}
