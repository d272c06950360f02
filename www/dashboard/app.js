// The dashboard's entry: holds what is being looked at (site, range, filters, how people
// are counted), keeps it in the address bar, and asks every view to refresh when it
// changes. Each view owns one section of index.html and shows its own errors, so one
// failing endpoint never blanks the page.

import { getJson, setToken } from "./api.js";
import { h, fill, note } from "./dom.js";
import * as summary from "./summary.js";
import * as timeseries from "./timeseries.js";
import * as tables from "./tables.js";
import * as paths from "./paths.js";
import * as funnel from "./funnel.js";
import * as visitors from "./visitors.js";
import * as person from "./person.js";

/** Filters the query API understands, in the order their chips are shown. */
export const FILTERS = ["page", "source", "campaign", "country", "device"];

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

const state = {
  site: params.get("site") || "",
  period: params.get("period") || (params.get("from") ? "custom" : "30d"),
  from: params.get("from") || "",
  to: params.get("to") || "",
  count: params.get("count") === "persons" ? "persons" : "visitors",
  identity: params.get("identity") === "strict" ? "strict" : "inclusive",
  interval: params.get("interval") || "",
  metric: "visitors",
  filters: Object.fromEntries(FILTERS.filter((f) => params.get(f)).map((f) => [f, params.get(f)])),
};

/** `YYYY-MM-DD` of `date` in UTC (the API's days are UTC days). */
function day(date) {
  return date.toISOString().slice(0, 10);
}

/** The `from`/`to` the chosen period stands for. */
function range() {
  const today = new Date();
  const back = (n) => day(new Date(today.getTime() - n * 86_400_000));
  switch (state.period) {
    case "today":
      return { from: day(today), to: day(today) };
    case "7d":
      return { from: back(6), to: day(today) };
    case "custom":
      return { from: state.from || back(29), to: state.to || day(today) };
    default:
      return { from: back(29), to: day(today) };
  }
}

/** What every report is asked with: site, range, counting and filters. */
function query() {
  return { site: state.site, ...range(), count: state.count, identity: state.identity, ...state.filters };
}

/** The interval the chart uses: as chosen, else hourly for one day and daily otherwise. */
function interval() {
  if (state.interval) return state.interval;
  const { from, to } = range();
  return from === to ? "hour" : "day";
}

const ctx = {
  state,
  query,
  interval,
  addFilter(name, value) {
    if (!FILTERS.includes(name) || value === null || value === undefined) return;
    state.filters[name] = String(value);
    changed();
  },
  removeFilter(name) {
    delete state.filters[name];
    changed();
  },
  setMetric(metric) {
    state.metric = metric;
    summary.highlight(metric);
    timeseries.refresh(ctx);
  },
  openPerson(visitor) {
    person.open(ctx, visitor);
  },
  refreshVisitors() {
    visitors.refresh(ctx);
  },
};

function saveToAddress() {
  const p = new URLSearchParams();
  if (state.site) p.set("site", state.site);
  if (state.period !== "30d") p.set("period", state.period);
  if (state.period === "custom") {
    const { from, to } = range();
    p.set("from", from);
    p.set("to", to);
  }
  if (state.count !== "visitors") p.set("count", state.count);
  if (state.identity !== "inclusive") p.set("identity", state.identity);
  if (state.interval) p.set("interval", state.interval);
  for (const [k, v] of Object.entries(state.filters)) p.set(k, v);
  const qs = p.toString();
  history.replaceState(null, "", qs ? `?${qs}` : location.pathname);
}

function renderChips() {
  const chips = Object.entries(state.filters).map(([name, value]) =>
    h(
      "span",
      { class: "chip", dataset: { filter: name } },
      h("span", { class: "chip-name" }, `${name} is `),
      h("b", {}, value),
      h("button", { type: "button", "aria-label": `Remove ${name} filter`, onclick: () => ctx.removeFilter(name) }, "×"),
    ),
  );
  fill($("filters"), chips);
  $("filters").hidden = chips.length === 0;
}

function syncControls() {
  $("period").value = state.period;
  $("custom-range").hidden = state.period !== "custom";
  const { from, to } = range();
  $("from").value = from;
  $("to").value = to;
  for (const [id, value] of [["count", state.count], ["identity", state.identity], ["interval", interval()]]) {
    for (const b of $(id).querySelectorAll("button")) b.classList.toggle("on", b.dataset.value === value);
  }
}

/** Everything depends on what changed: refresh every view. */
function changed() {
  saveToAddress();
  syncControls();
  renderChips();
  if (!state.site) {
    fill($("summary"), note("No site has sent events yet: open the demo site at / (or a page with the beacon), click around, then reload this page."));
    $("summary").dataset.state = "empty";
    return;
  }
  summary.refresh(ctx);
  timeseries.refresh(ctx);
  tables.refresh(ctx);
  paths.refresh(ctx);
  funnel.refresh(ctx);
  visitors.refresh(ctx);
  refreshRealtime();
}

async function refreshRealtime() {
  if (!state.site) return;
  try {
    const rt = await getJson("/api/realtime", { site: state.site });
    $("realtime-count").textContent = String(rt.visitors ?? 0);
    const pages = (rt.pages || []).map((p) => `${p.key}: ${p.visitors}`);
    $("realtime-count").parentElement.title = ["Visitors in the last 5 minutes", ...pages].join("\n");
  } catch {
    $("realtime-count").textContent = "–";
  }
}

async function loadSites() {
  const select = $("site");
  let sites = [];
  try {
    sites = (await getJson("/api/sites")).sites || [];
  } catch (e) {
    console.warn("sites", e);
  }
  if (state.site && !sites.includes(state.site)) sites.unshift(state.site);
  if (!state.site) state.site = sites[0] || "";
  fill(select, sites.length ? sites.map((s) => h("option", { value: s }, s)) : h("option", { value: "" }, "no sites yet"));
  select.value = state.site;
}

function wire() {
  $("site").addEventListener("change", (e) => {
    state.site = e.target.value;
    person.close();
    changed();
  });
  $("period").addEventListener("change", (e) => {
    const was = range();
    state.period = e.target.value;
    if (state.period === "custom") Object.assign(state, was);
    changed();
  });
  for (const id of ["from", "to"]) {
    $(id).addEventListener("change", (e) => {
      if (!e.target.value) return;
      state[id] = e.target.value;
      changed();
    });
  }
  for (const [id, key] of [["count", "count"], ["identity", "identity"], ["interval", "interval"]]) {
    $(id).addEventListener("click", (e) => {
      const b = e.target.closest("button");
      if (!b) return;
      state[key] = b.dataset.value;
      changed();
    });
  }
  window.addEventListener("spoor:unauthorized", (e) => {
    $("auth").hidden = false;
    $("auth-reason").textContent = `${e.detail}.`;
  });
  $("auth").addEventListener("submit", async (e) => {
    e.preventDefault();
    setToken($("auth-token").value.trim());
    $("auth").hidden = true;
    await loadSites();
    changed();
  });
}

// Script errors are kept where a test (or a curious reader) can see them.
window.spoorErrors = [];
window.addEventListener("error", (e) => window.spoorErrors.push(String(e.message)));
window.addEventListener("unhandledrejection", (e) => window.spoorErrors.push(String(e.reason)));

async function start() {
  summary.mount($("summary"), ctx);
  tables.mount($("tables"), ctx);
  paths.mount($("paths"), ctx);
  funnel.mount($("funnel"), ctx);
  visitors.mount($("visitors"), ctx);
  person.mount($("person"), ctx);
  wire();
  await loadSites();
  changed();
  setInterval(refreshRealtime, 30_000);
  document.body.dataset.ready = "true";
}

start();
