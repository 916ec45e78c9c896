// The Box view (#/box): each GPU of the local target and who holds it, CPU slots and memory in use, the runs
// holding something, and the queue in the order it is served, with each run's reason.
import { api } from "./api.js";
import { ago, esc, runLink } from "./format.js";
import { refresh, scope, view } from "./page.js";

const limit = (v, unit) => (v == null ? "not limited" : `${v}${unit || ""}`);
const asks = (gpus, slots, mb) => [gpus ? `${gpus} GPU` : "", slots ? `${slots} CPU slots` : "", mb ? `${mb} MB` : ""]
  .filter(Boolean).join(" · ") || "no GPU";

function holder(g) {
  if (g.heldBy) return `<td>${runLink(g.heldBy.runId)} (${esc(g.heldBy.owner)})</td>`;
  if (g.otherProcesses.length) {
    return `<td class="foreign">used by a process runyard did not start (pid ${esc(g.otherProcesses.join(", "))})</td>`;
  }
  return `<td class="free">free</td>`;
}

export async function boxPage() {
  const page = scope();
  const box = await api("/box");
  const s = box.settings;
  const gpus = box.gpus.map((g) => `<tr><td>${esc(g.index)}</td><td>${esc(g.uuid)}</td><td>${esc(g.name)}</td>
    ${holder(g)}</tr>`).join("") || "<tr><td colspan=4>No GPU on this machine</td></tr>";
  const use = (box.cpus.limit != null ? `CPU slots: ${box.cpus.used} of ${box.cpus.limit} in use. ` : "")
    + (box.memoryMb.limit != null ? `Memory: ${box.memoryMb.used} of ${box.memoryMb.limit} MB in use.` : "");
  const running = box.running.map((r) => `<tr><td>${runLink(r.runId)}</td><td>${esc(r.owner)}</td>
    <td>${asks(r.gpus.length, r.cores.length, r.memoryMb)}</td><td>since ${esc(ago(r.since))}</td></tr>`).join("");
  const queue = box.queue.map((q, i) => `<tr><td>${i + 1}</td><td>${runLink(q.runId)}</td><td>${esc(q.owner)}</td>
    <td>${q.priority}</td><td>${asks(q.gpus, q.cpus, q.memoryMb)}</td>
    <td class="why-cell">${esc(q.reason || "deciding")}</td></tr>`).join("");
  view().innerHTML = `
    <h2>Box ${esc(box.host)}</h2>
    <p>GPUs ${esc(s.gpus)} · CPU slots ${esc(limit(s.cpus))} · memory ${esc(limit(s.memoryMb, " MB"))}
      · concurrent runs ${esc(limit(s.maxConcurrentRuns))}</p>
    <div class="section"><h3>GPUs</h3><table id="box-gpus"><thead><tr><th>GPU</th><th>UUID</th><th>Name</th>
      <th>Held by</th></tr></thead><tbody>${gpus}</tbody></table><p id="box-use">${use}</p></div>
    <div class="section"><h3>Running (${box.running.length})</h3><table id="box-running"><tbody>
      ${running || "<tr><td>Nothing holds the box</td></tr>"}</tbody></table></div>
    <div class="section"><h3>Queue (${box.queue.length})</h3><table id="box-queue"><thead><tr><th>#</th><th>Run</th>
      <th>Owner</th><th>Priority</th><th>Asks for</th><th>Waiting for</th></tr></thead><tbody>
      ${queue || "<tr><td colspan=6>No run is waiting</td></tr>"}</tbody></table></div>`;
  // the box changes as runs end: look again while it is busy
  if (box.running.length || box.queue.length) page.later(refresh, 2000);
}
