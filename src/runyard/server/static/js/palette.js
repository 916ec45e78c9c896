// What a canvas draws with (chart ink, grid lines): the page's CSS colours, read once per light/dark scheme. Read it
// before a large view is written: once that view is in the page, the first read costs a style pass over all of it.
const palettes = new Map();

export function palette() {
  const dark = window.matchMedia("(prefers-color-scheme: dark)").matches;
  if (!palettes.has(dark)) {
    const css = getComputedStyle(document.documentElement);
    palettes.set(dark, { ink: css.getPropertyValue("--fg").trim() || "#1d2330",
                         gridInk: css.getPropertyValue("--line").trim() || "#e3e6eb" });
  }
  return palettes.get(dark);
}
