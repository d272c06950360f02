// Paths: for one page, where its visitors came from and went next (/api/paths/transitions),
// and the first steps of every session as a Sankey diagram (/api/paths/flows).

import { download, getJson } from "./api.js";
import { draw, replaceChart, COLORS } from "./charts.js";
import { h, fill, fmtInt, fmtPercent, note, problem } from "./dom.js";

let view;

/** Builds the view in `el`. */
export function mount(el, ctx) {
  view = {
    page: h("input", { type: "text", list: "paths-pages", placeholder: "/pricing", "aria-label": "Page", "data-testid": "paths-page" }),
    pages: h("datalist", { id: "paths-pages" }),
    steps: h("select", { "aria-label": "Steps" }, [2, 3, 4, 5].map((n) => h("option", { value: n, selected: n === 4 }, `${n} steps`))),
    transitions: h("div", { class: "transitions", "data-testid": "transitions" }),
    sankey: h("div", { class: "chart sankey", "data-testid": "sankey" }),
    generation: 0,
  };
  view.page.addEventListener("change", () => loadTransitions(ctx));
  const csv = (path, extra, name) =>
    h("button", { type: "button", class: "link csv", title: "Download as CSV", onclick: () =>
      download(path, { ...ctx.query(), ...extra(), format: "csv" }, `${ctx.state.site}-${name}.csv`).catch((e) => alert(e.reason || e.message)) }, "CSV");
  view.steps.addEventListener("change", () => loadFlows(ctx));
  fill(
    el,
    h("div", { class: "panel-head" }, h("h2", {}, "Paths"), h("label", { class: "field" }, h("span", { class: "label" }, "Page"), view.page), view.pages, csv("/api/paths/transitions", () => ({ page: view.page.value.trim() }), "transitions")),
    view.transitions,
    h("div", { class: "panel-head" }, h("h3", {}, "Session flows"), view.steps, csv("/api/paths/flows", () => ({ steps: view.steps.value, limit: 1000 }), "flows")),
    view.sankey,
  );
}

function side(title, rows) {
  return h(
    "div",
    { class: "side" },
    h("h3", {}, title),
    rows.length
      ? h("ol", { class: "steps" }, rows.map((r) => h("li", {}, h("span", { class: "bar", style: `width:${(r.share || 0) * 100}%` }), h("span", { class: "key-text" }, r.key), h("span", { class: "num" }, `${fmtInt(r.count)} · ${fmtPercent(r.share)}`))))
      : note("None"),
  );
}

async function loadTransitions(ctx) {
  const page = view.page.value.trim();
  if (!page) {
    fill(view.transitions, note("No page views in this period"));
    return;
  }
  try {
    const t = await getJson("/api/paths/transitions", { ...ctx.query(), page });
    fill(
      view.transitions,
      side("Came from", t.before || []),
      h("div", { class: "side center" }, h("b", { class: "big" }, t.page), h("span", {}, `${fmtInt(t.views)} ${t.views === 1 ? "view" : "views"}`)),
      side("Went to", t.after || []),
    );
  } catch (e) {
    fill(view.transitions, problem(e));
  }
}

async function loadFlows(ctx) {
  const mine = ++view.generation;
  try {
    const f = await getJson("/api/paths/flows", { ...ctx.query(), steps: view.steps.value, limit: 50 });
    if (mine !== view.generation) return;
    if (!(f.links || []).length) {
      replaceChart(view.sankey, note("No sessions with more than one page view in this period"));
      return;
    }
    // On a narrow screen the steps run downwards, so the labels have the width.
    const narrow = view.sankey.clientWidth < 560;
    view.sankey.classList.toggle("vertical", narrow);
    await draw(view.sankey, {
      color: COLORS,
      tooltip: { trigger: "item" },
      series: [
        {
          type: "sankey",
          orient: narrow ? "vertical" : "horizontal",
          left: 8,
          right: narrow ? 8 : 90,
          top: 8,
          bottom: narrow ? 24 : 8,
          nodeGap: 10,
          emphasis: { focus: "adjacency" },
          lineStyle: { color: "gradient", opacity: 0.35 },
          label: narrow ? { fontSize: 11, position: "bottom" } : { fontSize: 11 },
          data: f.nodes,
          links: f.links,
        },
      ],
    });
  } catch (e) {
    if (mine !== view.generation) return;
    replaceChart(view.sankey, problem(e));
  }
}

/** Reloads for the current query; the page defaults to the most viewed one. */
export async function refresh(ctx) {
  try {
    const top = await getJson("/api/breakdown", { ...ctx.query(), dimension: "page", limit: 50 });
    const keys = (top.rows || []).map((r) => r.key);
    fill(view.pages, keys.map((k) => h("option", { value: k })));
    if (!view.page.value && keys.length) view.page.value = keys[0];
  } catch {
    // The transitions request below reports the problem.
  }
  loadTransitions(ctx);
  loadFlows(ctx);
}
