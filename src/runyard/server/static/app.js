// runyard web UI: runs table, run page (timeline, logs, files, charts), compare. No build step.
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
let cleanup = [];

const authHeaders = () => (TOKEN ? { Authorization: "Bearer " + TOKEN } : {});
const fileUrl = (runId, f) => "/api/v1/runs/" + encodeURIComponent(runId) + "/files/" + f.split("/").map(encodeURIComponent).join("/");

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

async function api(path) {
  const res = await fetch("/api/v1" + path, { headers: authHeaders() });
  if (!res.ok) throw new Error(res.status + " " + (await res.text()));
  return res.json();
}
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const fmt = (v) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : v == null ? "" : esc(v));
const when = (t) => (t ? new Date(t * 1000).toLocaleString() : "-");
const dur = (s) => (s == null ? "-" : s < 60 ? s.toFixed(1) + "s" : Math.floor(s / 60) + "m" + String(Math.floor(s % 60)).padStart(2, "0") + "s");
const withToken = (url) => (TOKEN ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN) : url);

// ---- runs table -------------------------------------------------------------------------------
const state = { sort: "created", order: "desc", offset: 0, limit: 50, q: "", status: "", selected: new Set() };

async function runsPage() {
  const view = document.getElementById("view");
  const qs = new URLSearchParams({ sort: state.sort, order: state.order, offset: state.offset, limit: state.limit });
  if (state.q) qs.set("q", state.q);
  if (state.status) qs.set("status", state.status);
  const data = await api("/runs?" + qs);
  const keys = [...new Set(data.runs.flatMap((r) => Object.keys(r.metrics)))].slice(0, 5);
  const cols = [["run_id", "Run"], ["experiment", "Experiment"], ["status", "Status"], [null, "Target"],
                ["created", "Submitted"], ["duration", "Duration"], ...keys.map((k) => ["metric:" + k, k])];
  view.innerHTML = `
    <div class="toolbar">
      <input id="filter" placeholder="filter runs" value="${esc(state.q)}">
      <select id="status"><option value="">any status</option>${["Queued","Preparing","Starting","Running","Finalizing","Completed","Failed","Canceled"].map((s) => `<option ${s === state.status ? "selected" : ""}>${s}</option>`).join("")}</select>
      <button id="compare">Compare selected</button>
      <span id="count">${data.total} runs</span>
      <button id="prev" ${state.offset === 0 ? "disabled" : ""}>‹ prev</button>
      <span>${data.total ? state.offset + 1 : 0}–${Math.min(state.offset + state.limit, data.total)}</span>
      <button id="next" ${state.offset + state.limit >= data.total ? "disabled" : ""}>next ›</button>
    </div>
    <table id="runs"><thead><tr><th></th>${cols.map(([k, label]) => `<th data-sort="${esc(k ?? "")}">${esc(label)}${state.sort === k ? (state.order === "desc" ? " ▾" : " ▴") : ""}</th>`).join("")}</tr></thead>
    <tbody>${data.runs.map((r) => `<tr data-run="${esc(r.runId)}">
      <td><input type="checkbox" class="pick" value="${esc(r.runId)}" ${state.selected.has(r.runId) ? "checked" : ""}></td>
      <td><a href="#/run/${encodeURIComponent(r.runId)}">${esc(r.runId)}</a></td><td>${esc(r.experiment)}</td>
      <td class="status-${esc(r.status)}">${esc(r.status)}</td><td>${esc(r.target)}</td><td>${when(r.created)}</td>
      <td>${dur(r.duration)}</td>${keys.map((k) => `<td>${r.metrics[k] ? fmt(r.metrics[k].last) : ""}</td>`).join("")}</tr>`).join("")}
    </tbody></table>`;
  view.querySelectorAll("th[data-sort]").forEach((th) => th.addEventListener("click", () => {
    const k = th.dataset.sort; if (!k) return;
    state.order = state.sort === k && state.order === "desc" ? "asc" : "desc"; state.sort = k; runsPage();
  }));
  view.querySelector("#filter").addEventListener("change", (e) => { state.q = e.target.value; state.offset = 0; runsPage(); });
  view.querySelector("#status").addEventListener("change", (e) => { state.status = e.target.value; state.offset = 0; runsPage(); });
  view.querySelector("#prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.limit); runsPage(); });
  view.querySelector("#next").addEventListener("click", () => { state.offset += state.limit; runsPage(); });
  view.querySelectorAll(".pick").forEach((c) => c.addEventListener("change", () => {
    c.checked ? state.selected.add(c.value) : state.selected.delete(c.value);
  }));
  view.querySelector("#compare").addEventListener("click", () => {
    location.hash = "#/compare/" + [...state.selected].map(encodeURIComponent).join(",");
  });
}

// ---- charts -----------------------------------------------------------------------------------
function chart(el, title, seriesList) {
  // seriesList: [{label, steps, values}] -> one uPlot chart, x = step, drag to zoom, double-click to reset
  const xs = [...new Set(seriesList.flatMap((s) => s.steps))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys = seriesList.map((s) => { const y = new Array(xs.length).fill(null); s.steps.forEach((x, i) => { y[index.get(x)] = s.values[i]; }); return y; });
  const box = document.createElement("div");
  box.className = "chart";
  box.dataset.metric = title;
  box.innerHTML = `<h4>${esc(title)}</h4>`;
  el.appendChild(box);
  const plot = new uPlot({ width: 460, height: 220, scales: { x: { time: false } }, cursor: { drag: { x: true, y: false } },
    series: [{ label: "step" }, ...seriesList.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true }))],
  }, [xs, ...ys], box);
  box.dataset.points = String(xs.length);
  cleanup.push(() => plot.destroy());
}

async function runCharts(el, runId, series) {
  for (const [key, ranks] of Object.entries(series)) {
    const lines = await Promise.all(ranks.map((r) => api(`/runs/${encodeURIComponent(runId)}/metrics/${encodeURIComponent(key)}/series?rank=${r}`)));
    chart(el, key, lines.map((s) => ({ label: "rank " + s.rank, steps: s.steps, values: s.values })));
  }
}

// ---- run page ---------------------------------------------------------------------------------
async function runPage(runId) {
  const view = document.getElementById("view");
  const d = await api("/runs/" + encodeURIComponent(runId));
  const m = await api("/runs/" + encodeURIComponent(runId) + "/metrics");
  const rd = d.runDefinition;
  const ranks = [...Array(rd.nodeCount * rd.processCountPerNode).keys()];
  const sweep = d.properties["runyard.runType"] === "hyperdrive";  // its controller writes the system log
  view.innerHTML = `
    <h2>${esc(d.runId)} <span class="status-${esc(d.status)}" id="run-status">${esc(d.status)}</span></h2>
    <div class="section"><h3>Status timeline</h3><div class="timeline">${d.statusHistory.map((e) => `<span title="${esc(e.time)}">${esc(e.status)} · ${esc(new Date(e.time).toLocaleTimeString())}</span>`).join("")}</div>
      ${d.error ? `<div class="error">${esc(d.error.error.message)}</div>` : ""}</div>
    <div class="section"><h3>Run</h3><table class="kv">
      <tr><td>Experiment</td><td>${esc(d.experiment)}</td></tr><tr><td>Target</td><td>${esc(d.target)}</td></tr>
      ${d.properties["runyard.parentRunId"] ? `<tr><td>Parent</td><td><a id="parent" href="#/run/${encodeURIComponent(d.properties["runyard.parentRunId"])}">${esc(d.properties["runyard.parentRunId"])}</a>
        ${d.properties.hyperparameters ? ` with ${esc(d.properties.hyperparameters)}` : ""}</td></tr>` : ""}
      <tr><td>Script</td><td>${esc(rd.script)}</td></tr><tr><td>Arguments</td><td id="arguments">${esc(rd.arguments.join(" "))}</td></tr>
      <tr><td>Layout</td><td>${esc(rd.nodeCount)} node(s) × ${esc(rd.processCountPerNode)} process(es), backend ${esc(rd.communicator)}</td></tr>
      <tr><td>Environment</td><td>${esc(d.properties["runyard.packages"] || "base interpreter")}</td></tr>
      <tr><td>Placement</td><td>${esc(d.properties["runyard.placement"] || "")}</td></tr></table></div>
    <div class="section" id="children-section" hidden><h3>Child runs</h3><div class="charts" id="children-chart"></div>
      <table class="runs" id="children"></table></div>
    <div class="section"><h3>Metrics</h3><div class="charts" id="charts"></div></div>
    <div class="section"><h3>Logs</h3><div class="tabs">${ranks.map((r) => `<button data-rank="${r}" class="${r === 0 && !sweep ? "active" : ""}">rank ${r}</button>`).join("")}
      <button data-system="1" id="system-tab" class="${sweep ? "active" : ""}">${sweep ? "sweep" : "preparation"}</button></div>
      <pre class="log" id="log"></pre></div>
    <div class="section"><h3>Files</h3><ul id="files">${d.files.map((f) => `<li><a href="${esc(fileUrl(runId, f))}" download="${esc(f.split("/").pop())}">${esc(f)}</a></li>`).join("")}</ul></div>`;
  if (TOKEN) view.querySelectorAll("#files a").forEach((a) => a.addEventListener("click", downloadWithToken));
  await runCharts(view.querySelector("#charts"), runId, m.series);
  await childRuns(view, runId);
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
  // snapshot, data references, environment build; for a sweep, its trials starting and stopping
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
  if (sweep) await systemLog(); else follow(0);
}

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
  chart(section.querySelector("#children-chart"), c.primaryMetric.name, lines.map((s, i) => ({ label: charted[i].runId, steps: s.steps, values: s.values })));
}

// ---- models and deployed services -------------------------------------------------------------
async function modelsPage() {
  const view = document.getElementById("view");
  const [models, services] = await Promise.all([api("/models"), api("/services")]);
  const runLink = (id) => (id ? `<a href="#/run/${encodeURIComponent(id)}">${esc(id)}</a>` : "-");
  view.innerHTML = `
    <div class="section"><h3>Registered models</h3><table id="models"><thead><tr><th>Name</th><th>Version</th><th>File</th>
      <th>From run</th><th>Registered</th><th>Tags</th></tr></thead><tbody>${models.map((m) => `<tr data-model="${esc(m.id)}">
      <td>${esc(m.name)}</td><td>${esc(m.version)}</td><td>${esc(m.file)}</td><td>${runLink(m.runId)}</td><td>${when(m.createdTime)}</td>
      <td>${Object.entries(m.tags).map(([k, v]) => `${esc(k)}=${esc(v)}`).join(", ") || "-"}</td></tr>`).join("")}</tbody></table>
      ${models.length ? "" : `<p class="empty">No models yet: run.register_model(...) or Model.register(...)</p>`}</div>
    <div class="section"><h3>Deployed services</h3><table id="services"><thead><tr><th>Name</th><th>Type</th><th>State</th>
      <th>Scoring URI</th><th>Models</th></tr></thead><tbody>${services.map((s) => `<tr data-service="${esc(s.name)}">
      <td>${esc(s.name)}</td><td>${esc(s.computeType)}</td><td class="state-${esc(s.state)}">${esc(s.state)}</td>
      <td><code>${esc(s.scoringUri)}</code></td><td>${esc(s.models.join(", "))}</td></tr>`).join("")}</tbody></table>
      ${services.length ? "" : `<p class="empty">No services: Model.deploy(...)</p>`}</div>`;
}

// ---- datastores and datasets ------------------------------------------------------------------
async function dataPage() {
  const view = document.getElementById("view");
  const [stores, sets] = await Promise.all([api("/datastores"), api("/datasets")]);
  view.innerHTML = `
    <div class="section"><h3>Datastores</h3><table id="datastores"><thead><tr><th>Name</th><th>Type</th><th>Root</th></tr></thead>
      <tbody>${stores.map((s) => `<tr data-datastore="${esc(s.name)}"><td>${esc(s.name)}</td><td>${esc(s.type)}</td><td><code>${esc(s.root)}</code></td></tr>`).join("")}</tbody></table></div>
    <div class="section"><h3>Datasets</h3><table id="datasets"><thead><tr><th>Name</th><th>Version</th><th>Kind</th><th>Datastore</th>
      <th>Path</th><th>Description</th></tr></thead><tbody>${sets.map((d) => `<tr data-dataset="${esc(d.name)}"><td>${esc(d.name)}</td>
      <td>${esc(d.version)}</td><td>${esc(d.kind)}</td><td>${esc(d.datastore)}</td><td><code>${esc(d.path)}</code></td><td>${esc(d.description || "-")}</td></tr>`).join("")}</tbody></table>
      ${sets.length ? "" : `<p class="empty">No datasets: Dataset.File.from_files((datastore, 'folder')).register(ws, name)</p>`}</div>`;
}

// ---- compare ----------------------------------------------------------------------------------
async function comparePage(ids) {
  const view = document.getElementById("view");
  const all = await Promise.all(ids.map((id) => api("/runs/" + encodeURIComponent(id) + "/metrics")));
  const keys = [...new Set(all.flatMap((m) => Object.keys(m.series)))];
  view.innerHTML = `<h2>Compare ${ids.length} runs</h2><div class="toolbar">Metric <select id="key">${keys.map((k) => `<option>${esc(k)}</option>`).join("")}</select></div><div class="charts" id="charts"></div>`;
  const draw = async (key) => {
    const el = view.querySelector("#charts");
    el.innerHTML = "";
    const lines = await Promise.all(ids.map((id, i) => (all[i].series[key] ? api(`/runs/${encodeURIComponent(id)}/metrics/${encodeURIComponent(key)}/series`) : null)));
    chart(el, key, lines.map((s, i) => s && { label: ids[i], steps: s.steps, values: s.values }).filter(Boolean));
  };
  view.querySelector("#key").addEventListener("change", (e) => draw(e.target.value));
  if (keys.length) await draw(keys[0]);
}

// ---- router -----------------------------------------------------------------------------------
async function route() {
  cleanup.forEach((f) => f());
  cleanup = [];
  const hash = location.hash || "#/";
  try {
    if (hash.startsWith("#/run/")) await runPage(decodeURIComponent(hash.slice(6)));
    else if (hash === "#/models") await modelsPage();
    else if (hash === "#/data") await dataPage();
    else if (hash.startsWith("#/compare/")) await comparePage(hash.slice(10).split(",").filter(Boolean).map(decodeURIComponent));
    else await runsPage();
  } catch (e) {
    document.getElementById("view").innerHTML = `<div class="error">${esc(e.message)}</div>`;
  }
}
window.addEventListener("hashchange", route);
api("/version").then((v) => { document.getElementById("workspace").textContent = "workspace " + v.workspace; }).catch(() => {});
route();
