// Talking to the runyard server: JSON requests with the tab's token, tied to the current view's scope.
import { scope } from "./page.js";

// a token given as ?token= is kept for this tab only and taken out of the address bar at once, so it
// stays in no history entry, bookmark or Referer
export const TOKEN = (() => {
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

export class NotFound extends Error {}

export const authHeaders = () => (TOKEN ? { Authorization: "Bearer " + TOKEN } : {});
export const runPath = (runId) => "/runs/" + encodeURIComponent(runId);
export const fileUrl = (runId, f) =>
  "/api/v1" + runPath(runId) + "/files/" + f.split("/").map(encodeURIComponent).join("/");
export const withToken = (url) =>
  (TOKEN ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN) : url);

// a request of the view shown now: aborted when the user moves on (see page.js)
export async function api(path, options = {}) {
  const res = await fetch("/api/v1" + path, {
    signal: scope().signal, ...options, headers: { ...authHeaders(), ...(options.headers || {}) },
  });
  if (res.status === 404) throw new NotFound((await res.json().catch(() => ({}))).detail || "not found");
  if (!res.ok) {
    const body = await res.text();
    let detail = body;
    try { detail = JSON.parse(body).detail || JSON.parse(body).error || body; } catch (e) { /* plain text */ }
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return res.json();
}

// with a token, a file is fetched with the Authorization header and saved from memory: no token in a link
export async function downloadWithToken(event) {
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

// an image or file body fetched with the token, as a blob: URL
export async function blobUrl(src) {
  const res = await fetch(src, { headers: authHeaders(), signal: scope().signal });
  return res.ok ? URL.createObjectURL(await res.blob()) : null;
}

// a text file of a run (a log), or null while there is none
export async function runText(runId, name) {
  const res = await fetch(fileUrl(runId, name), { headers: authHeaders(), signal: scope().signal });
  return res.ok ? res.text() : null;
}
