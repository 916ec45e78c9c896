// runyard web UI: runs table, run page (overview, live charts, logs, files), compare. No build step.
"use strict";
// a token given as ?token= is kept for this tab only and taken out of the address bar at once, so it
// stays in no history entry, bookmark or Referer
const TOKEN = (() => {
  const params = new URLSearchParams(location.search);
  const given = params.get("token");
  if (given) {
    sessionStorage.setItem("runyard-token", given);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
  }
  return given || sessionStorage.getItem("runyard-token");
})();
const COLORS = ["#0b61c4", "#c62828", "#1a7f37", "#b26a00", "#6a1b9a", "#00838f", "#5d4037", "#ad1457"];
const TERMINAL = new Set(["Completed", "Failed", "Canceled"]);
let cleanup = [];

class NotFound extends Error {}

const authHeaders = () => (TOKEN ? { Authorization: "Bearer " + TOKEN } : {});
const fileUrl = (runId, f) => "/api/v1/runs/" + encodeURIComponent(runId) + "/files/" + f.split("/").map(encodeURIComponent).join("/");

async function api(path, options = {}) {
  const res = await fetch("/api/v1" + path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
  if (res.status === 404) throw new NotFound((await res.json().catch(() => ({}))).detail || "not found");
  if (!res.ok) {
    const body = await res.text();
    let detail = body;
    try { detail = JSON.parse(body).detail || JSON.parse(body).error || body; } catch (e) { /* plain text */ }
    throw new Error(detail);
  }
  return res.json();
}

// with a token, a file is fetched with the Authorization header and saved from memory: no token in a link
async function downloadWithToken(event) {
  event.preventDefault();
  const a = event.currentTarget;
  const res = await fetch(a.getAttribute("href"), { headers: authHeaders() });
  if (!res.ok) return;
  const url = URL.createObjectURL(await res.blob());
  const save = document.createElement("a");
  save.href = url;
  save.download = a.getAttribute("download");
  save.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const fmt = (v) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)))) : v == null ? "" : esc(typeof v === "object" ? JSON.stringify(v) : v));
const when = (t) => (t ? new Date(t * 1000).toLocaleString() : "-");
const dur = (s) => (s == null ? "-" : s < 60 ? s.toFixed(1) + "s" : s < 3600 ? Math.floor(s / 60) + "m" + String(Math.floor(s % 60)).padStart(2, "0") + "s" : Math.floor(s / 3600) + "h" + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + "m");
const ago = (t) => { if (!t) return "-"; const s = Date.now() / 1000 - t; return s < 60 ? "just now" : s < 3600 ? Math.floor(s / 60) + "m ago" : s < 86400 ? Math.floor(s / 3600) + "h ago" : Math.floor(s / 86400) + "d ago"; };
const withToken = (url) => (TOKEN ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN) : url);
const stored = (key, fallback) => { try { return JSON.parse(localStorage.getItem("runyard-" + key)) ?? fallback; } catch (e) { return fallback; } };
const store = (key, value) => localStorage.setItem("runyard-" + key, JSON.stringify(value));

// ---- runs table -------------------------------------------------------------------------------
const state = { sort: "created", order: "desc", offset: 0, limit: 50, q: "", search: "", status: "", selected: new Set(), open: new Set() };

// the metrics most runs of this view log, the sweeps' primary metrics first
function defaultColumns(runs) {
  const primary = new Set(runs.map((r) => r.primaryMetric).filter(Boolean));
  const counts = new Map();
  runs.forEach((r) => Object.entries(r.metrics).forEach(([k, m]) => {
    if (typeof m.last === "number") counts.set(k, (counts.get(k) || 0) + 1);  // numbers; lists and tables are not columns
  }));
  const ranked = [...counts.keys()].sort((a, b) => (primary.has(b) - primary.has(a)) || counts.get(b) - counts.get(a) || a.localeCompare(b));
  return ranked.slice(0, 5).map((k) => "m:" + k);
}

function cell(r, col) {
  if (col.startsWith("m:")) { const m = r.metrics[col.slice(2)]; return m ? m.last : null; }
  return r.params[col.slice(2)] ?? null;
}

async function runsPage() {
  const view = document.getElementById("view");
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
      searchError = e.message; qs.delete("filter"); return api("/runs?" + qs);
    }), api("/experiments")]);
  state.experiments = experiments;
  if (!data.total && !state.status && !state.experiment && !state.search) {
    view.innerHTML = `<div class="section empty-state" id="empty"><h3>No runs yet</h3>
      <p>Submit your first run from a shell:</p><pre>runyard submit train.py --experiment first -- --epochs 5</pre>
      <p>or from Python: <code>Experiment(Workspace.from_config(), "first").submit(ScriptRunConfig(".", "train.py"))</code>.
      It appears here as it runs.</p></div>`;
    return;
  }
  const scope = state.experiment || "all";
  const allKeys = [...new Set(data.runs.flatMap((r) => [...Object.keys(r.metrics).map((k) => "m:" + k), ...Object.keys(r.params).map((k) => "p:" + k)]))].sort();
  const columns = stored("columns-" + scope, null) || defaultColumns(data.runs);
  const showOwner = new Set(data.runs.map((r) => r.owner)).size > 1;  // who submitted, once several people do
  const cols = [["run_id", "Run"], ["experiment", "Experiment"], ["status", "Status"], ...(showOwner ? [["", "By"]] : []),
                ["created", "Submitted"], ["duration", "Duration"],
                ...columns.map((c) => [c.startsWith("m:") ? "metric:" + c.slice(2) : c, (c.startsWith("p:") ? "⚙ " : "") + c.slice(2)])];
  const children = new Map();
  data.runs.filter((r) => r.parent).forEach((r) => { if (!children.has(r.parent)) children.set(r.parent, []); children.get(r.parent).push(r); });
  const shown = new Set(data.runs.map((r) => r.runId));
  const matches = (r) => !state.q || [r.runId, r.experiment, r.status, ...columns.map((c) => cell(r, c))].some((v) => String(v ?? "").toLowerCase().includes(state.q.toLowerCase()));
  const row = (r, depth) => `<tr data-run="${esc(r.runId)}" class="${depth ? "child" : ""}">
      <td><input type="checkbox" class="pick" value="${esc(r.runId)}" ${state.selected.has(r.runId) ? "checked" : ""}></td>
      <td>${depth ? "<span class=\"indent\">└</span>" : ""}<a href="#/run/${encodeURIComponent(r.runId)}">${esc(r.runId)}</a>
        ${children.has(r.runId) ? `<button class="expand" data-parent="${esc(r.runId)}">${state.open.has(r.runId) ? "▾" : "▸"} ${children.get(r.runId).length} trials</button>` : ""}</td>
      <td>${esc(r.experiment)}</td><td class="status-${esc(r.status)}">${esc(r.status)}${r.status === "Queued" && r.statusDetail ? `<div class="why" title="${esc(r.statusDetail)}">${esc(r.statusDetail)}</div>` : ""}</td>
      ${showOwner ? `<td class="owner">${esc(r.owner || "-")}</td>` : ""}
      <td title="${esc(when(r.created))}">${esc(ago(r.created))}</td><td>${dur(r.duration)}</td>
      ${columns.map((c) => `<td>${fmt(cell(r, c))}</td>`).join("")}</tr>`;
  const rows = [];
  const top = data.runs.filter((r) => !r.parent || !shown.has(r.parent)).filter(matches);
  if (state.sort.startsWith("p:")) {
    const key = state.sort.slice(2), sign = state.order === "desc" ? -1 : 1;
    const val = (r) => { const v = r.params[key]; const n = Number(v); return v == null ? null : Number.isNaN(n) ? v : n; };
    top.sort((a, b) => { const x = val(a), y = val(b); if (x == null) return 1; if (y == null) return -1; return (x > y ? 1 : x < y ? -1 : 0) * sign; });
  }
  top.forEach((r) => {
    rows.push(row(r, 0));
    if (state.open.has(r.runId)) (children.get(r.runId) || []).forEach((c) => rows.push(row(c, 1)));
  });
  view.innerHTML = `
    <div class="toolbar">
      <input id="search" size="30" placeholder="search: metrics.acc > 0.9 and …" value="${esc(state.search)}"
        title="Searched on the server across every run: metrics.<key>, params.<key>, tags.<key>, status, owner, experiment; = != < <= > >= LIKE ILIKE IN, joined by and">
      <input id="filter" placeholder="filter this page" value="${esc(state.q)}">
      <select id="experiment"><option value="">every experiment</option>${(state.experiments || []).map((e) => `<option ${e === state.experiment ? "selected" : ""}>${esc(e)}</option>`).join("")}</select>
      <select id="status"><option value="">any status</option>${["Queued","Preparing","Starting","Running","Finalizing","Completed","Failed","Canceled"].map((s) => `<option ${s === state.status ? "selected" : ""}>${s}</option>`).join("")}</select>
      <details id="columns"><summary>Columns</summary><div class="picker">${allKeys.map((k) => `<label><input type="checkbox" value="${esc(k)}" ${columns.includes(k) ? "checked" : ""}> ${k.startsWith("p:") ? "⚙ " : ""}${esc(k.slice(2))}</label>`).join("")}</div></details>
      <button id="compare">Compare selected</button>
      <span id="count">${state.q ? `${top.length} shown of ` : ""}${data.total} ${state.search && !searchError ? "matching " : ""}run${data.total === 1 ? "" : "s"}</span>
      <button id="prev" ${state.offset === 0 ? "disabled" : ""}>‹ prev</button>
      <span>${data.total ? state.offset + 1 : 0}–${Math.min(state.offset + state.limit, data.total)}</span>
      <button id="next" ${state.offset + state.limit >= data.total ? "disabled" : ""}>next ›</button>
    </div>
    ${searchError ? `<p class="error" id="search-error">${esc(searchError)}</p>` : ""}
    <div class="scroll"><table id="runs"><thead><tr><th></th>${cols.map(([k, label]) => `<th data-sort="${esc(k)}">${esc(label)}${state.sort === k ? (state.order === "desc" ? " ▾" : " ▴") : ""}</th>`).join("")}</tr></thead>
    <tbody>${rows.join("")}</tbody></table></div>`;
  view.querySelectorAll("th[data-sort]").forEach((th) => th.addEventListener("click", () => {
    const k = th.dataset.sort; if (!k) return;
    state.order = state.sort === k && state.order === "desc" ? "asc" : "desc"; state.sort = k; runsPage();
  }));
  view.querySelector("#filter").addEventListener("change", (e) => { state.q = e.target.value; runsPage(); });
  view.querySelector("#search").addEventListener("change", (e) => { state.search = e.target.value.trim(); state.offset = 0; runsPage(); });
  view.querySelector("#status").addEventListener("change", (e) => { state.status = e.target.value; state.offset = 0; runsPage(); });
  view.querySelector("#experiment").addEventListener("change", (e) => { state.experiment = e.target.value; state.offset = 0; runsPage(); });
  view.querySelector("#prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.limit); runsPage(); });
  view.querySelector("#next").addEventListener("click", () => { state.offset += state.limit; runsPage(); });
  view.querySelectorAll("#columns input").forEach((c) => c.addEventListener("change", () => {
    store("columns-" + scope, [...view.querySelectorAll("#columns input:checked")].map((x) => x.value));
    runsPage().then(() => { view.querySelector("#columns").open = true; });
  }));
  view.querySelectorAll(".expand").forEach((b) => b.addEventListener("click", () => {
    state.open.has(b.dataset.parent) ? state.open.delete(b.dataset.parent) : state.open.add(b.dataset.parent); runsPage();
  }));
  view.querySelectorAll(".pick").forEach((c) => c.addEventListener("change", () => {
    c.checked ? state.selected.add(c.value) : state.selected.delete(c.value);
  }));
  view.querySelector("#compare").addEventListener("click", () => {
    location.hash = "#/compare/" + [...state.selected].map(encodeURIComponent).join(",");
  });
  if (data.runs.some((r) => !TERMINAL.has(r.status))) {  // running rows refresh themselves
    const timer = setTimeout(() => { if (location.hash === "" || location.hash === "#/") runsPage(); }, 2000);
    cleanup.push(() => clearTimeout(timer));
  }
}

function parameters(rd, props) {
  const params = {};
  const args = rd.arguments || [];
  for (let i = 0; i < args.length; i++) {
    if (String(args[i]).startsWith("-")) {
      const next = args[i + 1];
      params[args[i].replace(/^-+/, "")] = next !== undefined && !String(next).startsWith("--") ? (i++, next) : "";
    }
  }
  if (props.hyperparameters) { try { Object.entries(JSON.parse(props.hyperparameters)).forEach(([k, v]) => { params[k.replace(/^-+/, "")] = v; }); } catch (e) { /* not JSON */ } }
  return params;
}

function resolvedArgs(rd) {
  // $AZUREML_DATAREFERENCE_x tokens as the data they stand for
  return (rd.arguments || []).map((a) => String(a).replace(/\$AZUREML_DATAREFERENCE_(\w+)/g, (m, name) => {
    const ref = (rd.dataReferences || {})[name];
    return ref ? `${ref.datastore}/${ref.path_on_datastore || ""} (${ref.mode})` : m;
  })).join(" ");
}

function environmentCell(rd, props) {
  // what the run asked for, and the exact versions the build resolved (the base interpreter's otherwise)
  const env = rd.environment || {};
  const asked = [...(env.pip_packages || []), ...(env.conda_packages || [])];
  let resolved = [];
  try { resolved = JSON.parse(props["runyard.packages"] || "[]"); } catch (e) { resolved = [String(props["runyard.packages"])]; }
  if (!asked.length && !resolved.length) return `${esc(env.name || "default")}: the base interpreter`;
  return `${esc(env.name || "")}${asked.length ? `<br>requested: ${esc(asked.join(", "))}` : ""}${resolved.length ? `<br>resolved: ${esc(resolved.join(", "))}` : ""}`;
}

function inputsRow(rd, props) {
  // each data reference: datastore/path (mode) -> where the run found it on its node
  const refs = Object.entries(rd.dataReferences || {});
  if (!refs.length) return "";
  let paths = {};
  try { paths = JSON.parse(props["runyard.inputs"] || "{}"); } catch (e) { /* not recorded */ }
  return `<tr><td>Inputs</td><td id="inputs">${refs.map(([name, ref]) => `${esc(name)}: ${esc(ref.datastore)}/${esc(ref.path_on_datastore || "")} (${esc(ref.mode)})${paths[name] ? ` → <code>${esc(paths[name])}</code>` : ""}`).join("<br>")}</td></tr>`;
}

function summaryRows(metrics, seriesKeys) {
  // last / min / max of every numeric series (NaN points left out)
  const rows = [];
  for (const [k, v] of Object.entries(metrics)) {
    if (!seriesKeys[k]) continue;
    const values = Array.isArray(v) ? v : [v];
    const numbers = values.filter((x) => typeof x === "number" && Number.isFinite(x));
    if (numbers.length) {
      rows.push(`<tr><td>${esc(k)}</td><td>${fmt(numbers[numbers.length - 1])}</td><td>${fmt(Math.min(...numbers))}</td><td>${fmt(Math.max(...numbers))}</td><td>${numbers.length}</td></tr>`);
    }
  }
  return rows.join("");
}

function objectMetrics(metrics, seriesKeys, runId) {
  // lists, rows, tables and images: shown as what they are, not as charts
  const out = [];
  for (const [k, v] of Object.entries(metrics)) {
    if (seriesKeys[k]) continue;
    if (typeof v === "string" && v.startsWith("outputs/images/")) {
      out.push(`<figure class="image"><img alt="${esc(k)}" data-src="${esc(fileUrl(runId, v))}"><figcaption>${esc(k)}</figcaption></figure>`);
    } else if (v && typeof v === "object" && !Array.isArray(v)) {
      const cols = Object.keys(v);
      const n = Math.max(...cols.map((c) => (Array.isArray(v[c]) ? v[c].length : 1)));
      out.push(`<div class="objtable"><h4>${esc(k)}</h4><table><thead><tr>${cols.map((c) => `<th>${esc(c)}</th>`).join("")}</tr></thead><tbody>${[...Array(Math.min(n, 200)).keys()].map((i) => `<tr>${cols.map((c) => `<td>${fmt(Array.isArray(v[c]) ? v[c][i] : v[c])}</td>`).join("")}</tr>`).join("")}</tbody></table></div>`);
    } else if (Array.isArray(v) && v.some((x) => typeof x !== "number")) {
      out.push(`<div class="objtable"><h4>${esc(k)}</h4><table><tbody>${v.slice(0, 200).map((x, i) => `<tr><td>${i}</td><td>${fmt(x)}</td></tr>`).join("")}</tbody></table></div>`);
    } else if (Array.isArray(v) && !seriesKeys[k]) {
      out.push(`<div class="objtable"><h4>${esc(k)}</h4><table><tbody><tr>${v.slice(0, 200).map((x) => `<td>${fmt(x)}</td>`).join("")}</tr></tbody></table></div>`);
    } else if (!seriesKeys[k]) {
      out.push(`<div class="objtable"><h4>${esc(k)}</h4><p>${fmt(v)}</p></div>`);
    }
  }
  return out.join("");
}

function timeline(history) {
  return history.map((e, i) => {
    const next = history[i + 1];
    const spent = next ? (new Date(next.time) - new Date(e.time)) / 1000 : null;
    return `<span title="${esc(e.time)}">${esc(e.status)} · ${esc(new Date(e.time).toLocaleTimeString())}${spent != null ? ` · ${dur(spent)}` : ""}</span>`;
  }).join("");
}

async function runPage(runId) {
  const view = document.getElementById("view");
  const [d, m] = await Promise.all([api("/runs/" + encodeURIComponent(runId)), api("/runs/" + encodeURIComponent(runId) + "/metrics")]);
  const rd = d.runDefinition;
  const sweep = d.properties["runyard.runType"] === "hyperdrive";  // its controller writes the system log
  const rankLogs = Object.keys(d.logFiles || {}).map((n) => /std_log_rank_(\d+)\.txt$/.exec(n)).filter(Boolean).map((x) => Number(x[1])).sort((a, b) => a - b);
  const params = parameters(rd, d.properties);
  const tags = Object.entries(d.tags || {});
  const props = Object.entries(d.properties).filter(([k]) => !k.startsWith("runyard.") && k !== "ContentSnapshotId" && k !== "hyperparameters" && k !== "primary_metric_config");
  const running = !TERMINAL.has(d.status);
  const layout = rd.communicator === "None" || !rd.communicator ? "single process" : `${rd.nodeCount} node(s) × ${rd.processCountPerNode} process(es), ${rd.communicator}`;
  view.innerHTML = `
    <h2>${esc(d.displayName && d.displayName !== d.runId ? d.displayName + " · " : "")}${esc(d.runId)} <span class="status-${esc(d.status)}" id="run-status">${esc(d.status)}</span>
      ${running ? `<button id="cancel">Cancel</button>` : ""}</h2>
    ${d.statusDetail ? `<p class="why" id="status-detail">${esc(d.status)}: ${esc(d.statusDetail)}</p>` : ""}
    <div class="section"><h3>Status timeline</h3><div class="timeline">${timeline(d.statusHistory)}</div>
      ${d.error ? `<pre class="error" id="error">${esc(d.error.error.message)}</pre>` : ""}</div>
    <div class="grid2">
      <div class="section"><h3>Run</h3><table class="kv">
        <tr><td>Experiment</td><td>${esc(d.experiment)}</td></tr><tr><td>Target</td><td>${esc(d.target)}</td></tr>
        ${d.submittedBy ? `<tr><td>Submitted by</td><td id="owner">${esc(d.submittedBy)}</td></tr>` : ""}
        ${d.properties["runyard.parentRunId"] ? `<tr><td>Parent</td><td><a id="parent" href="#/run/${encodeURIComponent(d.properties["runyard.parentRunId"])}">${esc(d.properties["runyard.parentRunId"])}</a></td></tr>` : ""}
        <tr><td>Script</td><td>${esc(rd.script || rd.command)}</td></tr><tr><td>Arguments</td><td id="arguments">${esc(resolvedArgs(rd))}</td></tr>
        <tr><td>Layout</td><td>${esc(layout)}</td></tr>
        ${inputsRow(rd, d.properties)}
        <tr><td>Environment</td><td id="environment">${environmentCell(rd, d.properties)}</td></tr>
        <tr><td>Placement</td><td>${esc(d.properties["runyard.placement"] || "")}</td></tr>
        ${resilienceRows(d.properties)}</table></div>
      <div class="section"><h3>Parameters</h3><table class="kv" id="params">${Object.entries(params).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${fmt(v)}</td></tr>`).join("") || "<tr><td>-</td><td></td></tr>"}</table>
        <h3>Tags</h3><table class="kv" id="tags">${tags.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join("") || "<tr><td>-</td><td></td></tr>"}</table>
        ${props.length ? `<h3>Properties</h3><table class="kv" id="properties">${props.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join("")}</table>` : ""}</div>
    </div>
    <div class="section"><h3>Summary</h3><table id="summary"><thead><tr><th>metric</th><th>last</th><th>min</th><th>max</th><th>points</th></tr></thead><tbody>${summaryRows(m.metrics, m.series) || "<tr><td colspan=5>No metrics logged (yet)</td></tr>"}</tbody></table></div>
    ${sweep ? `<div class="section" id="sweep-section"><h3>Sweep</h3><div id="sweep"></div></div>` : ""}
    <div class="section" id="children-section" hidden><h3>Child runs</h3><div class="charts" id="children-chart"></div>
      <table class="runs" id="children"></table></div>
    ${sweep ? "" : `<div class="section"><h3>Metrics</h3><div class="toolbar" id="chart-controls"></div><div class="charts" id="charts"></div><div id="objects">${objectMetrics(m.metrics, m.series, runId)}</div></div>
      <div class="section"><h3>System</h3><div class="charts" id="system"></div></div>`}
    <div class="section"><h3>Logs</h3><div class="tabs">${sweep ? "" : rankLogs.map((r) => `<button data-rank="${r}" class="${r === 0 ? "active" : ""}">rank ${r}</button>`).join("")}
      <button data-system="1" id="system-tab" class="${sweep || !rankLogs.length ? "active" : ""}">${sweep ? "sweep" : "preparation"}</button></div>
      <pre class="log" id="log"></pre></div>
    <div class="section"><h3>Files</h3><ul id="files">${d.files.map((f) => `<li><a href="${esc(fileUrl(runId, f))}" download="${esc(f.split("/").pop())}">${esc(f)}</a></li>`).join("")}</ul></div>`;
  if (TOKEN) view.querySelectorAll("#files a").forEach((a) => a.addEventListener("click", downloadWithToken));
  view.querySelectorAll("#objects img[data-src]").forEach(async (img) => {
    const res = await fetch(img.dataset.src, { headers: authHeaders() });
    if (res.ok) img.src = URL.createObjectURL(await res.blob());
  });
  const cancel = view.querySelector("#cancel");
  if (cancel) cancel.addEventListener("click", async () => {
    cancel.disabled = true; cancel.textContent = "Canceling…";
    await api("/runs/" + encodeURIComponent(runId) + "/cancel", { method: "POST" });
    route();
  });
  if (!sweep) {
    let draw = null;
    chartControls(view.querySelector("#chart-controls"), () => draw && draw());
    draw = await runCharts(view.querySelector("#charts"), runId, m.series, running);
    await systemCharts(view.querySelector("#system"), runId);
  }
  await childRuns(view, runId);
  if (sweep) await sweepSummary(view.querySelector("#sweep"), runId);
  const follow = (rank) => {
    cleanup.forEach((f) => f.name === "closeLog" && f());
    const log = view.querySelector("#log");
    log.textContent = "";
    // EventSource cannot send a header: the token rides in this request only, never in the page's address
    const source = new EventSource(withToken(`/api/v1/runs/${encodeURIComponent(runId)}/logs/${rank}/follow`));
    source.onmessage = (e) => { log.textContent += JSON.parse(e.data) + "\n"; log.scrollTop = log.scrollHeight; };
    source.addEventListener("end", (e) => { source.close(); view.querySelector("#run-status").textContent = JSON.parse(e.data); });
    const closeLog = () => source.close();
    cleanup.push(closeLog);
  };
  // snapshot, data references, environment build; for a sweep, its trials starting and ending
  const systemLog = async () => {
    cleanup.forEach((f) => f.name === "closeLog" && f());
    const log = view.querySelector("#log");
    const res = await fetch(`/api/v1/runs/${encodeURIComponent(runId)}/files/system_logs/prepare.txt`, { headers: authHeaders() });
    log.textContent = res.ok ? await res.text() : "(nothing yet)";
  };
  view.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => {
    view.querySelectorAll(".tabs button").forEach((x) => x.classList.remove("active"));
    b.classList.add("active");
    if (b.dataset.system) systemLog(); else follow(Number(b.dataset.rank));
  }));
  if (sweep || !rankLogs.length) await systemLog(); else follow(rankLogs[0]);
}

async function modelsPage() {
  const view = document.getElementById("view");
  const [models, services] = await Promise.all([api("/models"), api("/services")]);
  const runLink = (id) => (id ? `<a href="#/run/${encodeURIComponent(id)}">${esc(id)}</a>` : "-");
  view.innerHTML = `
    <div class="section"><h3>Registered models</h3><div class="scroll"><table id="models"><thead><tr><th>Name</th><th>Version</th><th>File</th>
      <th>From run</th><th>Registered</th><th>Tags</th></tr></thead><tbody>${models.map((m) => `<tr data-model="${esc(m.id)}">
      <td>${esc(m.name)}</td><td>${esc(m.version)}</td><td>${esc(m.file)}</td><td>${runLink(m.runId)}</td><td>${when(m.createdTime)}</td>
      <td>${Object.entries(m.tags).map(([k, v]) => `${esc(k)}=${esc(v)}`).join(", ") || "-"}</td></tr>`).join("")}</tbody></table></div>
      ${models.length ? "" : `<p class="empty">No models yet: run.register_model(...) or Model.register(...)</p>`}</div>
    <div class="section"><h3>Deployed services</h3><div class="scroll"><table id="services"><thead><tr><th>Name</th><th>Type</th><th>State</th>
      <th>Scoring URI</th><th>Models</th></tr></thead><tbody>${services.map((s) => `<tr data-service="${esc(s.name)}">
      <td>${esc(s.name)}</td><td>${esc(s.computeType)}</td><td class="state-${esc(s.state)}">${esc(s.state)}</td>
      <td><code>${esc(s.scoringUri)}</code></td><td>${esc(s.models.join(", "))}</td></tr>`).join("")}</tbody></table></div>
      ${services.length ? "" : `<p class="empty">No services: Model.deploy(...)</p>`}</div>`;
}

// ---- datastores and datasets ------------------------------------------------------------------
async function dataPage() {
  const view = document.getElementById("view");
  const [stores, sets] = await Promise.all([api("/datastores"), api("/datasets")]);
  view.innerHTML = `
    <div class="section"><h3>Datastores</h3><div class="scroll"><table id="datastores"><thead><tr><th>Name</th><th>Type</th><th>Root</th></tr></thead>
      <tbody>${stores.map((s) => `<tr data-datastore="${esc(s.name)}"><td>${esc(s.name)}</td><td>${esc(s.type)}</td><td><code>${esc(s.root)}</code></td></tr>`).join("")}</tbody></table></div></div>
    <div class="section"><h3>Datasets</h3><div class="scroll"><table id="datasets"><thead><tr><th>Name</th><th>Version</th><th>Kind</th><th>Datastore</th>
      <th>Path</th><th>Description</th></tr></thead><tbody>${sets.map((d) => `<tr data-dataset="${esc(d.name)}"><td>${esc(d.name)}</td>
      <td>${esc(d.version)}</td><td>${esc(d.kind)}</td><td>${esc(d.datastore)}</td><td><code>${esc(d.path)}</code></td><td>${esc(d.description || "-")}</td></tr>`).join("")}</tbody></table></div>
      ${sets.length ? "" : `<p class="empty">No datasets: Dataset.File.from_files((datastore, 'folder')).register(ws, name)</p>`}</div>`;
}

// ---- compare ----------------------------------------------------------------------------------
async function comparePage(ids) {
  const view = document.getElementById("view");
  const [details, metrics] = await Promise.all([Promise.all(ids.map((id) => api("/runs/" + encodeURIComponent(id)))),
                                                Promise.all(ids.map((id) => api("/runs/" + encodeURIComponent(id) + "/metrics")))]);
  const params = details.map((d) => parameters(d.runDefinition, d.properties));
  const keys = [...new Set(params.flatMap((p) => Object.keys(p)))].sort();
  const differs = (k) => new Set(params.map((p) => JSON.stringify(p[k] ?? null))).size > 1;
  const metricKeys = [...new Set(metrics.flatMap((m) => Object.keys(m.series)))];
  view.innerHTML = `<h2>Compare ${ids.length} runs</h2>
    <div class="section"><h3>Parameters that differ</h3><div class="scroll"><table id="param-diff"><thead><tr><th>parameter</th>${ids.map((id) => `<th>${esc(id)}</th>`).join("")}</tr></thead>
      <tbody>${keys.filter(differs).map((k) => `<tr class="differs"><td>${esc(k)}</td>${params.map((p) => `<td>${fmt(p[k] ?? "-")}</td>`).join("")}</tr>`).join("") || `<tr><td colspan="${ids.length + 1}">The runs have the same parameters</td></tr>`}</tbody></table></div>
      <p class="empty">${keys.filter((k) => !differs(k)).length} parameter(s) equal in every run</p>
      ${metricKeys.length && keys.some(differs) ? `<div class="toolbar">Parameters → <select id="pc-metric">${metricKeys.map((k) => `<option>${esc(k)}</option>`).join("")}</select></div><div id="parallel"></div>` : ""}</div>
    <div class="section"><h3>Metrics</h3><div class="toolbar" id="chart-controls"></div><div class="charts" id="charts"></div></div>`;
  const el = view.querySelector("#charts");
  const series = await Promise.all(metricKeys.map((key) => Promise.all(ids.map((id, i) => (metrics[i].series[key] ? api(`/runs/${encodeURIComponent(id)}/metrics/${encodeURIComponent(key)}/series`) : null)))));
  const draw = () => {
    el.innerHTML = "";
    metricKeys.forEach((key, k) => chart(el, key, series[k].map((s, i) => s && { label: ids[i].slice(-8), steps: s.steps, values: s.values, times: s.times, bands: s.bands }).filter(Boolean)));
  };
  chartControls(view.querySelector("#chart-controls"), draw);
  draw();
  const pc = view.querySelector("#pc-metric");
  const drawParallel = () => {
    const key = pc.value;
    const last = (v) => (Array.isArray(v) ? v[v.length - 1] : v);
    const rows = ids.map((id, i) => ({ runId: id, params: params[i], value: typeof last(metrics[i].metrics[key]) === "number" ? last(metrics[i].metrics[key]) : null }));
    parallelCoordinates(view.querySelector("#parallel"), rows, keys.filter(differs), key, !/loss|error|perplexity/i.test(key));
  };
  if (pc) { pc.addEventListener("change", drawParallel); drawParallel(); }
}

// ---- router -----------------------------------------------------------------------------------
function notFound(what) {
  document.getElementById("view").innerHTML = `<div class="section" id="not-found"><h3>Not found</h3><p>${esc(what)}</p><p><a href="#/">Back to the runs</a></p></div>`;
}

async function route() {
  cleanup.forEach((f) => f());
  cleanup = [];
  const hash = (location.hash || "#/").split("?")[0];
  try {
    if (hash.startsWith("#/run/")) await runPage(decodeURIComponent(hash.slice(6)));
    else if (hash === "#/models") await modelsPage();
    else if (hash === "#/data") await dataPage();
    else if (hash === "#/box") await boxPage();
    else if (hash.startsWith("#/compare/")) await comparePage(hash.slice(10).split(",").filter(Boolean).map(decodeURIComponent));
    else if (hash === "#/" || hash === "#") await runsPage();
    else notFound(`There is no page ${hash}.`);
  } catch (e) {
    if (e instanceof NotFound) notFound(e.message);
    else document.getElementById("view").innerHTML = `<div class="error">${esc(e.message)}</div>`;
  }
}
window.addEventListener("hashchange", route);
api("/version").then((v) => { document.getElementById("workspace").textContent = "workspace " + v.workspace; }).catch(() => {});
route();
