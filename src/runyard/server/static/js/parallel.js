// Parallel coordinates: one axis per parameter and one for the metric, a line per run coloured by its metric.
// Numbers (also numbers given as text, as command-line values are) sit on a numeric axis in numeric order; a run
// without a parameter meets that axis at "absent", below the others; labels stay inside the plot.
import { esc, fmt } from "./format.js";

const ABSENT = "absent";
const TOP = 34, BOTTOM = 40, SIDE = 16, CHAR = 6.5;

const asNumber = (v) => (typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN);
const present = (v) => v !== undefined && v !== null && v !== "";

function scaleFor(values, height) {
  const given = values.filter(present);
  const span = height - TOP - BOTTOM;
  const absentY = height - BOTTOM + 22;
  if (given.length && given.every((v) => Number.isFinite(asNumber(v)))) {
    const nums = given.map(asNumber);
    const lo = Math.min(...nums), hi = Math.max(...nums);
    const y = (v) => (present(v) ? height - BOTTOM - ((asNumber(v) - lo) / (hi - lo || 1)) * span : absentY);
    const ticks = lo === hi ? [lo] : [lo, (lo + hi) / 2, hi];
    return { y, ticks: ticks.map((t) => [y(t), fmt(t)]), absent: given.length < values.length ? absentY : null };
  }
  const cats = [...new Set(given.map(String))].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const y = (v) => (present(v) ? height - BOTTOM - (cats.indexOf(String(v)) / Math.max(1, cats.length - 1)) * span
    : absentY);
  return { y, ticks: cats.map((c) => [y(c), esc(c)]), absent: given.length < values.length ? absentY : null };
}

export function parallelCoordinates(el, rows, params, metric, maximize) {
  const scored = rows.filter((r) => r.value !== null && r.value !== undefined);
  if (!params.length || !scored.length) {
    el.innerHTML = `<p class="empty">No run has a ${esc(metric)} yet</p>`;
    return;
  }
  const axes = [...params, metric];
  const valueOf = (r, i) => (i === axes.length - 1 ? r.value : r.params[axes[i]]);
  const height = 260;
  const scales = axes.map((a, i) => scaleFor(scored.map((r) => valueOf(r, i)), height));
  // room for the longest tick label beside the last axis (its labels go to its left) and the first axis' name
  const longest = (i) => Math.max(...scales[i].ticks.map(([, t]) => String(t).length), scales[i].absent ? 6 : 0);
  const left = SIDE + Math.min(90, CHAR * Math.max(0, axes[0].length / 2 - 2));
  const right = SIDE + Math.min(120, CHAR * longest(axes.length - 1));
  const width = Math.max(360, el.clientWidth || 640);
  const x = (i) => left + (i * (width - left - right)) / Math.max(1, axes.length - 1);
  const lo = Math.min(...scored.map((r) => r.value)), hi = Math.max(...scored.map((r) => r.value));
  const colour = (v) => {
    const t = (v - lo) / (hi - lo || 1);
    return `hsl(${Math.round((maximize ? t : 1 - t) * 120)}, 70%, 45%)`;
  };
  const lines = scored.map((r) => `<polyline class="pc-line" data-run="${esc(r.runId)}" fill="none"
      stroke="${colour(r.value)}" stroke-width="2" points="${axes.map((a, i) => `${x(i)},${scales[i].y(valueOf(r, i))}`)
        .join(" ")}"><title>${esc(r.runId)}: ${fmt(r.value)}</title></polyline>`).join("");
  const anchor = (i) => (i === 0 ? "start" : i === axes.length - 1 ? "end" : "middle");
  const tickSide = (i) => (i === axes.length - 1 ? ["end", -5] : ["start", 5]);
  const marks = axes.map((a, i) => {
    const [tickAnchor, dx] = tickSide(i);
    const ticks = scales[i].ticks.map(([y, label]) =>
      `<text x="${x(i) + dx}" y="${y + 4}" text-anchor="${tickAnchor}" class="pc-tick">${label}</text>`);
    if (scales[i].absent) {
      ticks.push(`<text x="${x(i) + dx}" y="${scales[i].absent + 4}" text-anchor="${tickAnchor}"
        class="pc-tick pc-absent">${ABSENT}</text>`);
    }
    return `<line x1="${x(i)}" x2="${x(i)}" y1="${TOP}" y2="${height - BOTTOM}" class="pc-axis"/>
      <text x="${x(i)}" y="${TOP - 14}" text-anchor="${anchor(i)}" class="pc-label">${esc(a)}</text>${ticks.join("")}`;
  }).join("");
  el.innerHTML = `<svg id="parallel-plot" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
    ${marks}${lines}</svg>`;
}
