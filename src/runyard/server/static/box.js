// runyard web UI: the Box view (#/box): each GPU of the local target and who holds it, CPU slots and memory in
// use, the runs holding something, and the queue in the order it is served, with each run's reason.
// Loaded before app.js, whose helpers (api, esc, ago, cleanup, route) it uses when the view is shown.
"use strict";

async function boxPage() {
  const view = document.getElementById("view");
  const box = await api("/box");
  const limit = (v, unit) => (v == null ? "not limited" : `${v}${unit || ""}`);
  const asks = (gpus, slots, mb) => [gpus ? `${gpus} GPU` : "", slots ? `${slots} CPU slots` : "", mb ? `${mb} MB` : ""]
    .filter(Boolean).join(" · ") || "no GPU";
  const runLink = (id) => `<a href="#/run/${encodeURIComponent(id)}">${esc(id)}</a>`;
  const holder = (g) => (g.heldBy ? `<td>${runLink(g.heldBy.runId)} (${esc(g.heldBy.owner)})</td>`
    : g.otherProcesses.length ? `<td class="foreign">used by a process runyard did not start (pid ${esc(g.otherProcesses.join(", "))})</td>`
      : `<td class="free">free</td>`);
  view.innerHTML = `
    <h2>Box ${esc(box.host)}</h2>
    <p>GPUs ${esc(box.settings.gpus)} · CPU slots ${esc(limit(box.settings.cpus))} · memory ${esc(limit(box.settings.memoryMb, " MB"))}
      · concurrent runs ${esc(limit(box.settings.maxConcurrentRuns))}</p>
    <div class="section"><h3>GPUs</h3><table id="box-gpus"><thead><tr><th>GPU</th><th>UUID</th><th>Name</th><th>Held by</th></tr></thead><tbody>
      ${box.gpus.map((g) => `<tr><td>${esc(g.index)}</td><td>${esc(g.uuid)}</td><td>${esc(g.name)}</td>${holder(g)}</tr>`).join("") || "<tr><td colspan=4>No GPU on this machine</td></tr>"}
    </tbody></table>
    <p id="box-use">${box.cpus.limit != null ? `CPU slots: ${box.cpus.used} of ${box.cpus.limit} in use. ` : ""}${box.memoryMb.limit != null ? `Memory: ${box.memoryMb.used} of ${box.memoryMb.limit} MB in use.` : ""}</p></div>
    <div class="section"><h3>Running (${box.running.length})</h3><table id="box-running"><tbody>
      ${box.running.map((r) => `<tr><td>${runLink(r.runId)}</td><td>${esc(r.owner)}</td><td>${asks(r.gpus.length, r.cores.length, r.memoryMb)}</td><td>since ${esc(ago(r.since))}</td></tr>`).join("") || "<tr><td>Nothing holds the box</td></tr>"}
    </tbody></table></div>
    <div class="section"><h3>Queue (${box.queue.length})</h3><table id="box-queue"><thead><tr><th>#</th><th>Run</th><th>Owner</th><th>Priority</th><th>Asks for</th><th>Waiting for</th></tr></thead><tbody>
      ${box.queue.map((q, i) => `<tr><td>${i + 1}</td><td>${runLink(q.runId)}</td><td>${esc(q.owner)}</td><td>${q.priority}</td><td>${asks(q.gpus, q.cpus, q.memoryMb)}</td><td class="why-cell">${esc(q.reason || "deciding")}</td></tr>`).join("") || "<tr><td colspan=6>No run is waiting</td></tr>"}
    </tbody></table></div>`;
  if (box.running.length || box.queue.length) {  // the box changes as runs end: look again while it is busy
    const timer = setTimeout(() => { if (location.hash === "#/box") boxPage(); }, 2000);
    cleanup.push(() => clearTimeout(timer));
  }
}
