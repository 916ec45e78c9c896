// A run's page: status and timeline, what ran and with what, the metric summary and charts, system metrics,
// child runs (a sweep's trials and summary), logs (followed live) and files.
import { TOKEN, api, blobUrl, downloadWithToken, fileUrl, runPath, runText, withToken } from "./api.js";
import { chartControls } from "./charts.js";
import { TERMINAL, esc, fmt, runLink } from "./format.js";
import { refresh, scope, view } from "./page.js";
import { environmentCell, inputsRow, objectMetrics, parameters, resilienceRows, resolvedArgs, timeline }
  from "./run-details.js";
import { RunCharts, summaryRows } from "./run-charts.js";
import { runRequests } from "./run-requests.js";
import { childRuns, sweepSummary } from "./sweep.js";
import { systemCharts } from "./system.js";

const HIDDEN_PROPERTIES = new Set(["ContentSnapshotId", "hyperparameters", "primary_metric_config"]);

const kvRows = (entries) => entries.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${fmt(v)}</td></tr>`).join("")
  || "<tr><td>-</td><td></td></tr>";

function runTable(d) {
  const rd = d.runDefinition;
  const layout = rd.communicator === "None" || !rd.communicator ? "single process"
    : `${rd.nodeCount} node(s) × ${rd.processCountPerNode} process(es), ${rd.communicator}`;
  const parent = d.properties["runyard.parentRunId"];
  return `<table class="kv">
    <tr><td>Experiment</td><td>${esc(d.experiment)}</td></tr><tr><td>Target</td><td>${esc(d.target)}</td></tr>
    ${d.submittedBy ? `<tr><td>Submitted by</td><td id="owner">${esc(d.submittedBy)}</td></tr>` : ""}
    ${parent ? `<tr><td>Parent</td><td id="parent">${runLink(parent)}</td></tr>` : ""}
    <tr><td>Script</td><td>${esc(rd.script || rd.command)}</td></tr>
    <tr><td>Arguments</td><td id="arguments">${esc(resolvedArgs(rd))}</td></tr>
    <tr><td>Layout</td><td>${esc(layout)}</td></tr>
    ${inputsRow(rd, d.properties)}
    <tr><td>Environment</td><td id="environment">${environmentCell(rd, d.properties)}</td></tr>
    <tr><td>Placement</td><td>${esc(d.properties["runyard.placement"] || "")}</td></tr>
    ${resilienceRows(d.properties)}</table>`;
}

function logTabs(d, sweep) {
  const ranks = Object.keys(d.logFiles || {}).map((n) => /std_log_rank_(\d+)\.txt$/.exec(n)).filter(Boolean)
    .map((x) => Number(x[1])).sort((a, b) => a - b);
  const rankTabs = sweep ? "" : ranks.map((r) =>
    `<button data-rank="${r}" class="${r === ranks[0] ? "active" : ""}">rank ${r}</button>`).join("");
  const systemTab = `<button data-system="1" id="system-tab" class="${sweep || !ranks.length ? "active" : ""}">
    ${sweep ? "sweep" : "preparation"}</button>`;
  return { ranks, html: `<div class="tabs">${rankTabs}${systemTab}</div><pre class="log" id="log"></pre>` };
}

// `requests`: runRequests(runId), sent already by the router while this module loaded
export async function runPage(runId, requests = runRequests(runId)) {
  const page = scope();
  // the first screen's charts are asked for with the run's details, not after them (a sweep shows none: unused)
  const { first, width } = requests;
  const [d, overview] = await Promise.all([requests.details, requests.overview]);
  const sweep = d.properties["runyard.runType"] === "hyperdrive";  // its controller writes the system log
  const params = parameters(d.runDefinition, d.properties);
  const props = Object.entries(d.properties).filter(([k]) => !k.startsWith("runyard.") && !HIDDEN_PROPERTIES.has(k));
  const running = !TERMINAL.has(d.status);
  const logs = logTabs(d, sweep);
  const title = d.displayName && d.displayName !== d.runId ? d.displayName + " · " : "";
  const el = view();
  el.innerHTML = `
    <h2>${esc(title)}${esc(d.runId)} <span class="status-${esc(d.status)}" id="run-status">${esc(d.status)}</span>
      ${running ? `<button id="cancel">Cancel</button>` : ""}</h2>
    ${d.statusDetail ? `<p class="why" id="status-detail">${esc(d.status)}: ${esc(d.statusDetail)}</p>` : ""}
    <div class="section"><h3>Status timeline</h3><div class="timeline">${timeline(d.statusHistory)}</div>
      ${d.error ? `<pre class="error" id="error">${esc(d.error.error.message)}</pre>` : ""}</div>
    <div class="grid2">
      <div class="section"><h3>Run</h3>${runTable(d)}</div>
      <div class="section"><h3>Parameters</h3><table class="kv" id="params">${kvRows(Object.entries(params))}</table>
        <h3>Tags</h3><table class="kv" id="tags">${kvRows(Object.entries(d.tags || {}))}</table>
        ${props.length ? `<h3>Properties</h3><table class="kv" id="properties">${kvRows(props)}</table>` : ""}</div>
    </div>
    <div class="section"><h3>Summary</h3><div class="summary-box"><table id="summary"><thead><tr><th>metric</th>
      <th>last</th><th>min</th><th>max</th><th>points</th></tr></thead><tbody>${summaryRows(overview)
        || "<tr><td colspan=5>No metrics logged (yet)</td></tr>"}</tbody></table></div></div>
    ${sweep ? `<div class="section" id="sweep-section"><h3>Sweep</h3><div id="sweep"></div></div>` : ""}
    <div class="section" id="children-section" hidden><h3>Child runs</h3><div class="charts" id="children-chart"></div>
      <table class="runs" id="children"></table></div>
    ${sweep ? "" : `<div class="section"><h3>Metrics</h3><div class="toolbar" id="chart-controls"></div>
      <div id="metric-charts"></div><div id="objects">${objectMetrics(overview.values, runId)}</div></div>
      <div class="section"><h3>System</h3><div class="charts" id="system"></div></div>`}
    <div class="section"><h3>Logs</h3>${logs.html}</div>
    <div class="section"><h3>Files</h3><ul id="files">${d.files.map((f) => `<li><a href="${esc(fileUrl(runId, f))}"
      download="${esc(f.split("/").pop())}">${esc(f)}</a></li>`).join("")}</ul></div>`;
  if (TOKEN) el.querySelectorAll("#files a").forEach((a) => a.addEventListener("click", downloadWithToken));
  el.querySelectorAll("#objects img[data-src]").forEach(async (img) => {
    const url = await blobUrl(img.dataset.src);
    if (url) img.src = url;
  });
  const cancel = el.querySelector("#cancel");
  if (cancel) cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    cancel.textContent = "Canceling…";
    await api(runPath(runId) + "/cancel", { method: "POST" });
    refresh();
  });
  if (running || sweep) followLogs(el, runId, logs.ranks, sweep, page);  // a live log never waits for charts
  let below = Promise.resolve();  // what is below the first screen waits until its charts are drawn
  if (!sweep) {
    const summary = el.querySelector("#summary tbody");
    const charts = new RunCharts(el.querySelector("#metric-charts"), runId, overview, {
      live: running, first, width,
      onOverview: (next) => { const rows = summaryRows(next); if (rows) summary.innerHTML = rows; } });
    chartControls(el.querySelector("#chart-controls"), () => charts.redraw());
    below = charts.ready;
    below.then(() => {
      if (!page.alive) return;
      if (!running) followLogs(el, runId, logs.ranks, sweep, page);
      systemCharts(el.querySelector("#system"), runId).catch(() => { /* left the page */ });
    });
  }
  await below;
  if (!page.alive) return;
  await childRuns(el, runId);
  if (sweep) await sweepSummary(el.querySelector("#sweep"), runId);
}

function followLogs(el, runId, ranks, sweep, page) {
  const log = el.querySelector("#log");
  let close = () => {};
  page.add(() => close());
  const follow = (rank) => {
    close();
    log.textContent = "";
    // EventSource cannot send a header: the token rides in this request only, never in the page's address
    const source = new EventSource(withToken(`/api/v1${runPath(runId)}/logs/${rank}/follow`));
    source.onmessage = (e) => { log.textContent += JSON.parse(e.data) + "\n"; log.scrollTop = log.scrollHeight; };
    source.addEventListener("end", (e) => {
      source.close();
      el.querySelector("#run-status").textContent = JSON.parse(e.data);
    });
    close = () => source.close();
  };
  // snapshot, data references, environment build; for a sweep, its trials starting and ending
  const systemLog = async () => {
    close();
    const text = await runText(runId, "system_logs/prepare.txt").catch(() => null);
    log.textContent = text ?? "(nothing yet)";
  };
  el.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => {
    el.querySelectorAll(".tabs button").forEach((x) => x.classList.remove("active"));
    b.classList.add("active");
    if (b.dataset.system) systemLog(); else follow(Number(b.dataset.rank));
  }));
  if (sweep || !ranks.length) systemLog(); else follow(ranks[0]);
}
