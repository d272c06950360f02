// The charting library: Apache ECharts, vendored by scripts/build-dashboard.sh into
// vendor/ and loaded on first use. If it is missing, charts say how to build it and the
// rest of the dashboard still works.

import { note } from "./dom.js";

let loading = null;

/** ECharts, or null when vendor/echarts.esm.min.mjs is not there. */
export function echarts() {
  if (!loading) {
    loading = import("./vendor/echarts.esm.min.mjs").catch((e) => {
      console.error("ECharts did not load", e);
      return null;
    });
  }
  return loading;
}

const charts = new WeakMap();

/**
 * Draws `option` into `el` (reusing the chart already there), or explains why it cannot.
 * The chart follows `el`'s size.
 */
export async function draw(el, option) {
  const lib = await echarts();
  if (!lib) {
    el.replaceChildren(note("Charts are unavailable: run scripts/build-dashboard.sh", "error"));
    return null;
  }
  let chart = charts.get(el);
  if (!chart || chart.isDisposed()) {
    el.replaceChildren();
    chart = lib.init(el, null, { renderer: "canvas" });
    charts.set(el, chart);
    new ResizeObserver(() => chart.resize()).observe(el);
  }
  // No animation: a report should show its final numbers at once (and screenshots too).
  chart.setOption({ animation: false, ...option }, true);
  return chart;
}

/** The dashboard's palette (ECharts takes it as `color`). */
export const COLORS = ["#5b5bd6", "#21a67a", "#e5484d", "#f5a524", "#3e9fd6", "#9b59b6"];

/** Puts `node` (a note or an error) in `el` in place of its chart, if it had one. */
export function replaceChart(el, node) {
  const chart = charts.get(el);
  if (chart && !chart.isDisposed()) chart.dispose();
  charts.delete(el);
  el.replaceChildren(node);
}
