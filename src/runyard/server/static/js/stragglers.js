// Which rank is slowest, step by step: every rank logs the same step; the time it logged it, against the fastest
// rank's, is how far behind it runs (runyard keeps each rank's own timestamps).
import { chart } from "./charts.js";
import { fmt } from "./format.js";

const median = (xs) => { const v = [...xs].sort((a, b) => a - b); return v[Math.floor(v.length / 2)]; };

export function stragglers(el, key, byRank) {
  const sets = byRank.map((s) => new Map(s.steps.map((x, j) => [x, s.times[j]])));
  const steps = byRank[0].steps.filter((x) => sets.every((m) => m.has(x)));
  if (steps.length < 2) return;
  const lag = sets.map((m) => steps.map((x) => m.get(x)));
  const fastest = steps.map((_, j) => Math.min(...lag.map((t) => t[j])));
  const behind = lag.map((t) => t.map((v, j) => v - fastest[j]));
  const slowest = steps.map((_, j) => Math.max(...behind.map((b) => b[j])));
  const lastCount = behind.map((b) => b.filter((v, j) => v === slowest[j]).length);
  const box = document.createElement("div");
  box.className = "chart stragglers";
  el.appendChild(box);
  chart(box, `stragglers: seconds behind the fastest rank (${key})`,
        byRank.map((s, i) => ({ label: s.label, steps, values: behind[i], times: lag[i] })));
  const rows = byRank.map((s, i) => ({ rank: s.rank, median: median(behind[i]), last: lastCount[i] }))
    .sort((a, b) => b.median - a.median);
  box.insertAdjacentHTML("beforeend", `<table id="straggler-table"><thead><tr><th>rank</th><th>median s behind</th>
    <th>steps it was last</th></tr></thead><tbody>${rows.map((r) => `<tr><td>${r.rank}</td><td>${fmt(r.median)}</td>
    <td>${r.last} of ${steps.length}</td></tr>`).join("")}</tbody></table>`);
}
