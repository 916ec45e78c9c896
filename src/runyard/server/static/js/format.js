// Formatting shared by every view: escaping, numbers, times, durations, and settings kept in localStorage.
export const COLORS = ["#0b61c4", "#c62828", "#1a7f37", "#b26a00", "#6a1b9a", "#00838f", "#5d4037", "#ad1457"];
export const TERMINAL = new Set(["Completed", "Failed", "Canceled"]);

const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ENTITIES[c]);

export function fmt(v) {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
  if (v == null) return "";
  return esc(typeof v === "object" ? JSON.stringify(v) : v);
}

export const when = (t) => (t ? new Date(t * 1000).toLocaleString() : "-");

const pad2 = (n) => String(Math.floor(n)).padStart(2, "0");
export function dur(s) {
  if (s == null) return "-";
  if (s < 60) return s.toFixed(1) + "s";
  if (s < 3600) return Math.floor(s / 60) + "m" + pad2(s % 60) + "s";
  return Math.floor(s / 3600) + "h" + pad2((s % 3600) / 60) + "m";
}

export function ago(t) {
  if (!t) return "-";
  const s = Date.now() / 1000 - t;
  if (s < 60) return "just now";
  if (s < 3600) return Math.floor(s / 60) + "m ago";
  if (s < 86400) return Math.floor(s / 3600) + "h ago";
  return Math.floor(s / 86400) + "d ago";
}

export function stored(key, fallback) {
  try { return JSON.parse(localStorage.getItem("runyard-" + key)) ?? fallback; } catch (e) { return fallback; }
}
export const store = (key, value) => localStorage.setItem("runyard-" + key, JSON.stringify(value));

// a run's link, as every table shows it
export const runLink = (id, text) => `<a href="#/run/${encodeURIComponent(id)}">${esc(text ?? id)}</a>`;
