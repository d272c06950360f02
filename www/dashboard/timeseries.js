// The time-series chart: one metric (the selected summary card) per hour or day of the
// range, from /api/timeseries, drawn as an ECharts line with the area under it.

import { getJson } from "./api.js";
import { draw, replaceChart, COLORS } from "./charts.js";
import { fmtDuration, fmtInt, fmtPercent, problem } from "./dom.js";
import { METRICS } from "./summary.js";

let generation = 0;

function valueOf(point, metric) {
  if (metric === "views_per_session") return point.sessions ? point.pageviews / point.sessions : 0;
  return point[metric] ?? 0;
}

function formatter(metric) {
  if (metric === "bounce_rate") return fmtPercent;
  if (metric === "mean_duration_ms") return fmtDuration;
  if (metric === "views_per_session") return (x) => x.toFixed(2);
  return fmtInt;
}

/** Redraws the chart for the current query and metric. */
export async function refresh(ctx) {
  const mine = ++generation;
  const el = document.getElementById("timeseries");
  const metric = ctx.state.metric;
  const title = (METRICS.find(([key]) => key === metric) || [metric, metric])[1];
  document.getElementById("chart-title").textContent = title;
  const interval = ctx.interval();
  el.dataset.state = "loading";
  let data;
  try {
    data = await getJson("/api/timeseries", { ...ctx.query(), interval });
  } catch (e) {
    if (mine !== generation) return;
    replaceChart(el, problem(e));
    el.dataset.state = "error";
    return;
  }
  if (mine !== generation) return;
  const points = data.points || [];
  const fmt = formatter(metric);
  const label = (t) => (interval === "hour" ? t.slice(5, 16).replace("T", " ") : t.slice(0, 10));
  await draw(el, {
    color: COLORS,
    grid: { left: 16, right: 20, top: 16, bottom: 8, containLabel: true },
    tooltip: { trigger: "axis", valueFormatter: fmt },
    xAxis: { type: "category", boundaryGap: false, data: points.map((p) => label(p.t)), axisLabel: { hideOverlap: true } },
    yAxis: { type: "value", minInterval: metric === "bounce_rate" ? 0 : 1, axisLabel: { formatter: fmt } },
    series: [
      {
        name: title,
        type: "line",
        smooth: false,
        showSymbol: points.length < 40,
        areaStyle: { opacity: 0.12 },
        data: points.map((p) => valueOf(p, metric)),
      },
    ],
  });
  el.dataset.state = "loaded";
}
