// The summary cards: the period's headline numbers from /api/summary, each with its change
// against the previous period of equal length. Clicking a card charts that metric.
// Every number carries data-testid="summary-<metric>" and its exact value in data-value.
// Below the cards, a notice counts the page views from browsers where the beacon could not
// run (the loader's no-wasm fallback, `fallback` in the answer), with why.

import { getJson } from "./api.js";
import { h, fill, fmtInt, fmtPercent, fmtDuration, problem } from "./dom.js";

/** The cards, in order: API field, title, formatter, whether a rise is bad news. */
export const METRICS = [
  ["visitors", "Unique visitors", fmtInt, false],
  ["persons", "Persons", fmtInt, false],
  ["pageviews", "Total pageviews", fmtInt, false],
  ["sessions", "Visits", fmtInt, false],
  ["views_per_session", "Views per visit", (x) => (Number.isFinite(x) ? x.toFixed(2) : "–"), false],
  ["bounce_rate", "Bounce rate", fmtPercent, true],
  ["mean_duration_ms", "Visit duration", fmtDuration, false],
];

/** What each fallback reason means (collector/src/payload/fallback.rs). */
const FALLBACK = {
  csp: "a Content-Security-Policy blocked WebAssembly (add 'wasm-unsafe-eval' to script-src)",
  fetch: "spoor_bg.wasm could not be fetched",
  compile: "spoor_bg.wasm was not valid WebAssembly",
  storage: "storage was refused",
  unsupported: "the browser lacks WebAssembly",
  error: "another error",
};

let root;
let generation = 0;

/** The fallback notice, or null when every page view came from the beacon. */
function fallbackNotice(rows) {
  if (!rows || !rows.length) return null;
  const total = rows.reduce((n, r) => n + r.pageviews, 0);
  const why = rows.map((r) => `${FALLBACK[r.reason] || r.reason} (${fmtInt(r.pageviews)})`).join("; ");
  return h(
    "p",
    { class: "note note-fallback", "data-testid": "summary-fallback", dataset: { value: String(total) } },
    `${fmtInt(total)} page ${total === 1 ? "view" : "views"} came from browsers where the beacon could not run, counted without cookies. Why: ${why}.`,
  );
}

/** Takes over `el`. */
export function mount(el, ctx) {
  root = el;
  root.addEventListener("click", (e) => {
    const card = e.target.closest("[data-metric]");
    if (card) ctx.setMetric(card.dataset.metric);
  });
}

function change(value, riseIsBad) {
  if (value === null || value === undefined || !Number.isFinite(value)) {
    return h("span", { class: "change flat" }, "new");
  }
  const pct = Math.round(value * 100);
  const dir = pct > 0 ? "up" : pct < 0 ? "down" : "flat";
  const good = dir === "flat" ? "" : (dir === "up") !== riseIsBad ? " good" : " bad";
  const arrow = dir === "up" ? "↑" : dir === "down" ? "↓" : "→";
  return h("span", { class: `change ${dir}${good}`, title: "against the previous period" }, `${arrow} ${Math.abs(pct)}%`);
}

/** Marks the card of the metric the chart shows. */
export function highlight(metric) {
  for (const card of root.querySelectorAll("[data-metric]")) {
    card.classList.toggle("on", card.dataset.metric === metric);
  }
}

/** Loads the numbers for the current query. */
export async function refresh(ctx) {
  const mine = ++generation;
  root.dataset.state = "loading";
  let s;
  try {
    s = await getJson("/api/summary", ctx.query());
  } catch (e) {
    if (mine !== generation) return;
    fill(root, problem(e));
    root.dataset.state = "error";
    return;
  }
  if (mine !== generation) return;
  const views = Number.isFinite(s.views_per_session) ? s.views_per_session : s.sessions ? s.pageviews / s.sessions : 0;
  const values = { ...s, views_per_session: views };
  fill(
    root,
    METRICS.map(([key, title, format, riseIsBad]) =>
      h(
        "button",
        { type: "button", class: "card", dataset: { metric: key } },
        h("span", { class: "card-title" }, title),
        h("span", { class: "card-value", "data-testid": `summary-${key}`, dataset: { value: String(values[key] ?? "") } }, format(values[key])),
        s.change ? change(s.change[key], riseIsBad) : null,
      ),
    ),
    fallbackNotice(s.fallback),
  );
  highlight(ctx.state.metric);
  root.dataset.state = "loaded";
}
