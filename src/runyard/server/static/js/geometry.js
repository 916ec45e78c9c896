// Sizes known before anything is drawn: the pixel width a chart gets in a grid (what the server is asked to bucket
// a series to), and the run page's metric grid width before the page is laid out.
import { view } from "./page.js";

// the chart width in a grid `gridPx` wide: as many 460 px columns as fit, 12 px apart, less the box's padding
export function chartWidthIn(gridPx) {
  const full = Math.max(300, (gridPx || 1000));
  const perRow = Math.max(1, Math.floor((full + 12) / (460 + 12)));
  return Math.max(280, Math.floor((full - 12 * (perRow - 1)) / perRow) - 24);
}

// the pixel width a chart in `el` gets
export const chartWidth = (el) => chartWidthIn(el.clientWidth);

// the run page's metric grid before it is drawn: the view's width, less main's padding and a section's padding and
// border
export const runGridWidth = () => view().clientWidth - 2 * 20 - 2 * (12 + 1);
