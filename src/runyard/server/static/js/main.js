// runyard web UI: the router. Each address is a view (runs, a run, compare, models, data, box); moving to another
// view ends the last one's scope (its requests, timers and streams) before the next one starts. No build step.
import { NotFound, api } from "./api.js";
import { boxPage } from "./box.js";
import { comparePage } from "./compare.js";
import { esc } from "./format.js";
import { nextScope, setRenderer, view } from "./page.js";
import { dataPage, modelsPage } from "./registry.js";
import { runPage } from "./run.js";
import { runsPage } from "./runs.js";

function notFound(what) {
  view().innerHTML = `<div class="section" id="not-found"><h3>Not found</h3><p>${esc(what)}</p>
    <p><a href="#/">Back to the runs</a></p></div>`;
}

function show(hash) {
  if (hash.startsWith("#/run/")) return runPage(decodeURIComponent(hash.slice(6)));
  if (hash === "#/models") return modelsPage();
  if (hash === "#/data") return dataPage();
  if (hash === "#/box") return boxPage();
  if (hash.startsWith("#/compare/")) {
    return comparePage(hash.slice(10).split(",").filter(Boolean).map(decodeURIComponent));
  }
  if (hash === "#/" || hash === "#") return runsPage();
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
api("/version", { signal: null }).then((v) => {
  const ws = document.getElementById("workspace");
  ws.textContent = "workspace " + v.workspace;
  ws.title = v.workspacePath || v.workspace;
}).catch(() => {});
route();
