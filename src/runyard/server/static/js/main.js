// runyard web UI: the router. Each address is a view (runs, a run, compare, models, data, box); moving to another
// view ends the last one's scope (its requests, timers and streams) before the next one starts. No build step.
import { NotFound, api } from "./api.js";
import { chartsLoaded } from "./charts.js";
import { esc } from "./format.js";
import { nextScope, setRenderer, view } from "./page.js";
import { runRequests } from "./run-requests.js";

// each view's module is loaded when first shown (index.html preloads them); a run page's first requests go out
// before its module is read and before the chart library is ready, so the server works while the browser compiles.
// The views that draw charts (a run, compare) wait for that library; the others do not.
function notFound(what) {
  view().innerHTML = `<div class="section" id="not-found"><h3>Not found</h3><p>${esc(what)}</p>
    <p><a href="#/">Back to the runs</a></p></div>`;
}

async function show(hash) {
  if (hash.startsWith("#/run/")) {
    const runId = decodeURIComponent(hash.slice(6));
    const requests = runRequests(runId);  // out before the chart library is ready
    const [run] = await Promise.all([import("./run.js"), chartsLoaded]);
    return run.runPage(runId, requests);
  }
  if (hash === "#/models") return (await import("./registry.js")).modelsPage();
  if (hash === "#/data") return (await import("./registry.js")).dataPage();
  if (hash === "#/box") return (await import("./box.js")).boxPage();
  if (hash.startsWith("#/compare/")) {
    const runIds = hash.slice(10).split(",").filter(Boolean).map(decodeURIComponent);
    const [compare] = await Promise.all([import("./compare.js"), chartsLoaded]);
    return compare.comparePage(runIds);
  }
  if (hash === "#/" || hash === "#") return (await import("./runs.js")).runsPage();
  notFound(`There is no page ${hash}.`);
  return null;
}

async function route() {
  const page = nextScope();
  try {
    await show((location.hash || "#/").split("?")[0]);
  } catch (e) {
    if (!page.alive) return;  // left while it loaded: its aborted requests are no error
    if (e instanceof NotFound) notFound(e.message);
    else view().innerHTML = `<div class="error">${esc(e.message)}</div>`;
  }
}

setRenderer(route);
window.addEventListener("hashchange", route);
// charts take their ink from the palette when drawn: draw the view again when the system switches light/dark
window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", route);
// the workspace's name in the header, asked for once the first view is drawn (it is not worth a request that the
// first screen's requests would queue behind)
const firstView = route();
firstView.finally(() => api("/version", { signal: null }).then((v) => {
  const ws = document.getElementById("workspace");
  ws.textContent = "workspace " + v.workspace;
  ws.title = v.workspacePath || v.workspace;
}).catch(() => {}));
