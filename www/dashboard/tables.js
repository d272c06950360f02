// The breakdown tables: pages (top, entry, exit), sources (sources, channels, campaigns),
// devices (browsers, systems, devices), countries, custom events with a property
// breakdown, and outbound links and downloads — each from /api/breakdown, each with a CSV
// download of what it shows. Clicking a row whose dimension is also a filter filters by it.
//
// Each table is data-testid="table-<dimension>", each row carries data-key, and its
// visitors cell data-testid="row-visitors" (the e2e test reads them).

import { download, getJson } from "./api.js";
import { h, fill, fmtInt, note, problem } from "./dom.js";

/** Cards of tabs: [card title, [[tab label, dimension, filter it sets or null], …]]. */
const CARDS = [
  ["Pages", [["Top pages", "page", "page"], ["Entry pages", "entry", "page"], ["Exit pages", "exit", "page"]]],
  ["Sources", [["Sources", "source", "source"], ["Channels", "source_class", null], ["Campaigns", "campaign", "campaign"]]],
  ["Devices", [["Browsers", "browser", null], ["Systems", "os", null], ["Devices", "device", "device"]]],
  ["Countries", [["Countries", "country", "country"]]],
  ["Links", [["Outbound links", "outbound", null], ["Downloads", "download", null]]],
];

const LIMIT = 10;
const cards = [];
let events;

/** Builds the cards in `el`. */
export function mount(el, ctx) {
  for (const [title, tabs] of CARDS) {
    const card = { title, tabs, active: 0, body: h("div", { class: "table-body" }), tabBar: h("div", { class: "tabs" }), generation: 0 };
    card.csv = h("button", { type: "button", class: "link csv", title: "Download as CSV" }, "CSV");
    card.csv.addEventListener("click", () => csv(ctx, tabs[card.active][1], {}, card));
    renderTabs(ctx, card);
    el.append(h("section", { class: "panel table-card" }, h("div", { class: "panel-head" }, h("h2", {}, title), card.tabBar, card.csv), card.body));
    cards.push(card);
  }
  events = mountEvents(el, ctx);
}

function renderTabs(ctx, card) {
  fill(
    card.tabBar,
    card.tabs.length > 1
      ? card.tabs.map(([label], i) =>
          h("button", { type: "button", class: i === card.active ? "tab on" : "tab", onclick: () => {
            card.active = i;
            renderTabs(ctx, card);
            load(ctx, card);
          } }, label),
        )
      : [],
  );
}

async function csv(ctx, dimension, extra, card) {
  try {
    await download("/api/breakdown", { ...ctx.query(), dimension, ...extra, format: "csv", limit: 1000 }, `${ctx.state.site}-${dimension}.csv`);
  } catch (e) {
    fill(card.body, problem(e));
  }
}

/**
 * A table of breakdown `rows`; `onPick(key)` (when given) makes rows clickable.
 * `countLabel` heads the visitors column.
 */
export function table(dimension, rows, countLabel, onPick) {
  if (!rows.length) return note("No data for this period");
  const max = Math.max(...rows.map((r) => r.visitors || 0), 1);
  // The second column: views of a page; visits that entered or left by it.
  const second = { page: ["Views", "pageviews"], entry: ["Entrances", "sessions"], exit: ["Exits", "sessions"] }[dimension];
  const showEvents = ["event", "event_property", "outbound", "download"].includes(dimension);
  return h(
    "table",
    { class: "breakdown", "data-testid": `table-${dimension}` },
    h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", { class: "num" }, countLabel), second ? h("th", { class: "num" }, second[0]) : null, showEvents ? h("th", { class: "num" }, "Events") : null)),
    h(
      "tbody",
      {},
      rows.map((r) =>
        h(
          "tr",
          {
            dataset: { key: r.key ?? "" },
            class: onPick ? "pick" : "",
            title: onPick ? "Filter by this" : null,
            tabindex: onPick ? "0" : null,
            onclick: onPick ? () => onPick(r.key) : null,
            onkeydown: onPick ? (e) => e.key === "Enter" && onPick(r.key) : null,
          },
          h("td", { class: "key" }, h("span", { class: "bar", style: `width:${((r.visitors || 0) / max) * 100}%` }), h("span", { class: "key-text" }, r.key ?? "(none)")),
          h("td", { class: "num", "data-testid": "row-visitors", dataset: { value: String(r.visitors ?? 0) } }, fmtInt(r.visitors)),
          second ? h("td", { class: "num", dataset: { value: String(r[second[1]] ?? 0) } }, fmtInt(r[second[1]])) : null,
          showEvents ? h("td", { class: "num", dataset: { value: String(r.events ?? 0) } }, fmtInt(r.events)) : null,
        ),
      ),
    ),
  );
}

function countLabel(ctx) {
  return ctx.state.count === "persons" ? "Persons" : "Visitors";
}

async function load(ctx, card) {
  const mine = ++card.generation;
  const [, dimension, filter] = card.tabs[card.active];
  card.body.dataset.state = "loading";
  try {
    const data = await getJson("/api/breakdown", { ...ctx.query(), dimension, limit: LIMIT });
    if (mine !== card.generation) return;
    const pick = filter ? (key) => key !== null && ctx.addFilter(filter, key) : null;
    fill(card.body, table(dimension, data.rows || [], countLabel(ctx), pick));
    card.body.dataset.state = "loaded";
  } catch (e) {
    if (mine !== card.generation) return;
    fill(card.body, problem(e));
    card.body.dataset.state = "error";
  }
}

/** The custom-events card: event names; picking one breaks it down by a property key. */
function mountEvents(el, ctx) {
  const view = { event: "", generation: 0, body: h("div", { class: "table-body" }), props: h("div", { class: "table-body" }) };
  view.key = h("input", { type: "text", placeholder: "property key", "aria-label": "Property key", class: "small" });
  view.key.addEventListener("change", () => loadProps(ctx, view));
  view.heading = h("p", { class: "sub" });
  const csvButton = h("button", { type: "button", class: "link csv", title: "Download as CSV" }, "CSV");
  csvButton.addEventListener("click", () => csv(ctx, "event", {}, view));
  view.form = h("div", { class: "prop-form", hidden: true }, view.heading, view.key);
  el.append(h("section", { class: "panel table-card" }, h("div", { class: "panel-head" }, h("h2", {}, "Custom events"), csvButton), view.body, view.form, view.props));
  return view;
}

async function loadEvents(ctx, view) {
  const mine = ++view.generation;
  try {
    const data = await getJson("/api/breakdown", { ...ctx.query(), dimension: "event", limit: LIMIT });
    if (mine !== view.generation) return;
    fill(view.body, table("event", data.rows || [], countLabel(ctx), (key) => {
      view.event = key;
      view.form.hidden = false;
      view.heading.textContent = `Properties of "${key}":`;
      loadProps(ctx, view);
    }));
  } catch (e) {
    if (mine !== view.generation) return;
    fill(view.body, problem(e));
  }
  if (view.event) loadProps(ctx, view);
}

async function loadProps(ctx, view) {
  const property = view.key.value.trim();
  if (!view.event || !property) {
    fill(view.props, view.event ? note("Type a property key to break this event down") : []);
    return;
  }
  try {
    const data = await getJson("/api/breakdown", { ...ctx.query(), dimension: "event_property", event: view.event, property, limit: LIMIT });
    fill(view.props, table("event_property", data.rows || [], countLabel(ctx), null));
  } catch (e) {
    fill(view.props, problem(e));
  }
}

/** Reloads every table for the current query. */
export function refresh(ctx) {
  for (const card of cards) load(ctx, card);
  loadEvents(ctx, events);
}
