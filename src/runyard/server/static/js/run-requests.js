// A run page's first requests (its details, its metric overview, the first screen's charts), sent by the router
// at once: the server works on them while the page's modules load.
import { api, runPath } from "./api.js";
import { chartWidthIn, runGridWidth } from "./geometry.js";

export const FIRST_BATCH = 4;  // the charts the first screen shows

// {details, overview, first, width}: promises, and the chart width they were asked at; `first` is the first
// screen's charts, chosen by the server as the page would choose them, at the width its grid will have
export function runRequests(runId) {
  const width = chartWidthIn(runGridWidth());
  const first = api(runPath(runId) + "/charts?" + new URLSearchParams({ first: FIRST_BATCH, width }));
  first.catch(() => { /* left the page, or an older server: the charts ask again */ });
  return { details: api(runPath(runId)), overview: api(runPath(runId) + "/metric-overview"), first, width };
}
