// The funnel builder: steps (`page:/path` or `event:name`), a time window, run it with
// /api/funnel, save it by name with POST /api/funnels and load saved ones.

import { download, getJson, request } from "./api.js";
import { draw, replaceChart, COLORS } from "./charts.js";
import { h, fill, fmtInt, fmtPercent, note, problem } from "./dom.js";

const WINDOWS = [
  ["1 hour", 3_600_000],
  ["1 day", 86_400_000],
  ["7 days", 604_800_000],
  ["30 days", 2_592_000_000],
];

let view;

function stepRow(kind = "page", value = "") {
  const row = h(
    "div",
    { class: "step-row" },
    h("select", { "aria-label": "Step type" }, h("option", { value: "page", selected: kind === "page" }, "Page"), h("option", { value: "event", selected: kind === "event" }, "Event")),
    h("input", { type: "text", value, placeholder: kind === "page" ? "/pricing" : "signup", "aria-label": "Step" }),
    h("button", { type: "button", class: "link", "aria-label": "Remove step", onclick: () => row.remove() }, "×"),
  );
  return row;
}

function steps() {
  return [...view.steps.querySelectorAll(".step-row")]
    .map((row) => [row.querySelector("select").value, row.querySelector("input").value.trim()])
    .filter(([, value]) => value)
    .map(([kind, value]) => `${kind}:${value}`);
}

function setSteps(list) {
  fill(view.steps, list.map((s) => {
    const i = s.indexOf(":");
    return stepRow(s.slice(0, i), s.slice(i + 1));
  }));
}

/** Builds the view in `el`. */
export function mount(el, ctx) {
  view = {
    steps: h("div", { class: "step-list" }),
    window: h("select", { "aria-label": "Window" }, WINDOWS.map(([label, ms]) => h("option", { value: ms, selected: ms === 86_400_000 }, `within ${label}`))),
    name: h("input", { type: "text", placeholder: "name", "aria-label": "Funnel name", class: "small" }),
    saved: h("select", { "aria-label": "Saved funnels" }),
    status: h("p", { class: "sub" }),
    chart: h("div", { class: "chart funnel-chart" }),
    result: h("div", { "data-testid": "funnel-result" }),
  };
  view.edited = false;
  view.steps.addEventListener("input", () => (view.edited = true));
  view.saved.addEventListener("change", () => {
    const f = view.funnels?.find((x) => x.name === view.saved.value);
    if (!f) return;
    view.edited = true;
    setSteps(f.steps);
    view.window.value = String(f.window_ms);
    view.name.value = f.name;
    run(ctx);
  });
  fill(
    el,
    h("div", { class: "panel-head" }, h("h2", {}, "Funnel"), view.saved),
    view.steps,
    h(
      "div",
      { class: "row" },
      h("button", { type: "button", onclick: () => {
        view.edited = true;
        view.steps.append(stepRow());
      } }, "+ Step"),
      view.window,
      h("button", { type: "button", class: "primary", onclick: () => run(ctx) }, "Run"),
      view.name,
      h("button", { type: "button", onclick: () => save(ctx) }, "Save"),
      h("button", { type: "button", class: "link csv", title: "Download as CSV", onclick: () => {
        const params = { ...ctx.query(), steps: steps().join(","), window_ms: view.window.value, format: "csv" };
        download("/api/funnel", params, `${ctx.state.site}-funnel.csv`).catch((e) => (view.status.textContent = `No CSV: ${e.reason || e.message}`));
      } }, "CSV"),
    ),
    view.status,
    view.chart,
    view.result,
  );
}

async function run(ctx) {
  const list = steps();
  if (list.length < 2) {
    view.status.textContent = "A funnel needs at least two steps.";
    fill(view.result);
    replaceChart(view.chart, note(""));
    return;
  }
  view.status.textContent = "";
  try {
    const f = await getJson("/api/funnel", { ...ctx.query(), steps: list.join(","), window_ms: view.window.value });
    const rows = f.steps || [];
    // Who reached each step: persons, or visitors where the API counts those.
    const who = "Reached";
    fill(
      view.result,
      h(
        "table",
        { class: "breakdown" },
        h("thead", {}, h("tr", {}, h("th", {}, "Step"), h("th", { class: "num" }, who), h("th", { class: "num" }, "Conversion"), h("th", { class: "num" }, "Dropped"))),
        h("tbody", {}, rows.map((r) => h("tr", {}, h("td", { class: "key" }, h("span", { class: "key-text" }, r.step)), h("td", { class: "num" }, fmtInt(r.persons)), h("td", { class: "num" }, fmtPercent(r.conversion)), h("td", { class: "num" }, fmtInt(r.dropoff))))),
      ),
    );
    await draw(view.chart, {
      color: COLORS,
      grid: { left: 8, right: 16, top: 16, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: rows.map((r) => r.step), axisLabel: { interval: 0, overflow: "truncate", width: 90 } },
      yAxis: { type: "value", minInterval: 1 },
      series: [{ type: "bar", name: who, data: rows.map((r) => r.persons), barMaxWidth: 60, label: { show: true, position: "top" } }],
    });
  } catch (e) {
    fill(view.result, problem(e));
    replaceChart(view.chart, note(""));
  }
}

async function save(ctx) {
  const name = view.name.value.trim();
  if (!name) {
    view.status.textContent = "Give the funnel a name to save it.";
    return;
  }
  try {
    await request("POST", "/api/funnels", {}, { site: ctx.state.site, name, steps: steps(), window_ms: Number(view.window.value) });
    view.status.textContent = `Saved "${name}".`;
    await loadSaved(ctx);
    view.saved.value = name;
  } catch (e) {
    view.status.textContent = `Not saved: ${e.reason || e.message}`;
  }
}

async function loadSaved(ctx) {
  try {
    view.funnels = (await getJson("/api/funnels", { site: ctx.state.site })).funnels || [];
  } catch {
    view.funnels = [];
  }
  fill(view.saved, h("option", { value: "" }, view.funnels.length ? "Saved funnels…" : "No saved funnels"), view.funnels.map((f) => h("option", { value: f.name }, f.name)));
}

/** Until the steps are edited, suggests the period's most common path through the site. */
async function suggest(ctx) {
  if (view.edited) return;
  try {
    const flows = await getJson("/api/paths/flows", { ...ctx.query(), steps: 4, limit: 1 });
    const pages = ((flows.sequences || [])[0] || {}).pages || [];
    setSteps(pages.length >= 2 ? pages.map((p) => `page:${p}`) : ["page:", "page:"]);
  } catch {
    setSteps(["page:", "page:"]);
  }
}

/** Reloads saved funnels and reruns the current one for the current query. */
export async function refresh(ctx) {
  await Promise.all([loadSaved(ctx), suggest(ctx)]);
  run(ctx);
}
