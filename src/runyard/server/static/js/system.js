// The run page's System view: a chart per system metric (10-second means; x: seconds in), a line per node, GPU
// or rank, drawn beside the metrics and the straggler view so a slow rank can be matched with what its GPU did.
import { api, runPath } from "./api.js";
import { chart } from "./charts.js";

function systemGroups(system) {
  const groups = new Map();  // chart title -> lines
  const t0 = Math.min(...Object.values(system).flatMap((nodes) => Object.values(nodes).map((s) => s.time[0])));
  for (const [key, nodes] of Object.entries(system)) {
    // a GPU's label is its index, or <index>_mig_<slice> for a MIG slice; a rank's own GPU series name the GPU too
    const gpu = key.match(/^system\/gpu_(\d+(?:_mig_\d+)?)_(.+)$/);
    const rankGpu = key.match(/^system\/rank_(\d+)_gpu_(\d+(?:_mig_\d+)?)_(.+)$/);
    const rank = key.match(/^system\/rank_(\d+)_(.+)$/);
    const title = gpu ? `system/gpu_${gpu[2]}` : rankGpu ? `system/rank_gpu_${rankGpu[3]}`
      : rank ? `system/rank_${rank[2]}` : key;
    for (const [node, s] of Object.entries(nodes)) {
      const label = gpu ? `${node} GPU ${gpu[1]}` : rankGpu ? `rank ${rankGpu[1]} GPU ${rankGpu[2]}`
        : rank ? `rank ${rank[1]}` : node;
      if (!groups.has(title)) groups.set(title, []);
      groups.get(title).push({ label, steps: s.time.map((t) => Math.round(t - t0)), times: s.time, values: s.mean });
    }
  }
  return [...groups.entries()].sort(([a], [b]) => a.localeCompare(b));
}

export async function systemCharts(el, runId) {
  if (!el) return;
  const { system } = await api(runPath(runId) + "/system");
  const groups = systemGroups(system);
  el.innerHTML = groups.length ? "" : `<p class="note" id="no-system">No system metrics (yet): each node writes them
    every 10 s while the run goes on.</p>`;
  for (const [title, lines] of groups) chart(el, title, lines);
}
