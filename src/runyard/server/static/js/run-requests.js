// A run page's first screen (its details, its metric overview, the first charts), asked for in one request by the
// router at once: the server works on it while the page's modules load.
import { api, runPath } from "./api.js";
import { chartsLoaded, warmUp } from "./charts.js";
import { chartWidthIn, runGridWidth } from "./geometry.js";
import { palette } from "./palette.js";

export const FIRST_BATCH = 4;  // the charts the first screen shows

// {details, overview, first, width}: promises, and the chart width they were asked at; `first` is the first
// screen's charts, chosen by the server as the page would choose them, at the width its grid will have
export function runRequests(runId) {
  const width = chartWidthIn(runGridWidth());
  const page = api(runPath(runId) + "/page?" + new URLSearchParams({ first: FIRST_BATCH, width }));
  page.catch(() => { /* left the page: each part's reader says so */ });
  palette();  // read while the page is still small (see palette.js), and after the request is on its way
  chartsLoaded.then(() => setTimeout(warmUp, 0)).catch(() => {});  // while the server works (see warmUp)
  return { details: page.then((p) => p.details), overview: page.then((p) => p.overview),
           first: page.then((p) => p.charts), width };
}
