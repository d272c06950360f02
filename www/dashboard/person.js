// The person view: one person across devices from /api/persons/{visitor} — their visitor
// ids, the user ids they logged in as, every link between them with its evidence (a wrong
// one can be undone: DELETE /api/links/{id}), and their timeline.

import { getJson, request } from "./api.js";
import { h, fill, fmtPercent, fmtTime, note, problem } from "./dom.js";

let panel;
let current = null;

/** Takes over `el` (a side sheet, hidden until a person is opened). */
export function mount(el) {
  panel = el;
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") close();
  });
}

/** Hides the view. */
export function close() {
  if (!panel) return;
  panel.hidden = true;
  current = null;
}

function list(title, items) {
  return h("div", {}, h("h3", {}, title), items.length ? h("ul", { class: "ids" }, items.map((i) => h("li", {}, h("code", {}, i)))) : note("None"));
}

function linksTable(ctx, links) {
  if (!links.length) return note("No links: this visitor id stands alone");
  return h(
    "div",
    { class: "scroll-x" },
    h(
      "table",
      { class: "breakdown links" },
      h("thead", {}, h("tr", {}, ["Evidence", "Between", "Confidence", "When", ""].map((t) => h("th", {}, t)))),
      h(
        "tbody",
        {},
        links.map((l) =>
          h(
            "tr",
            { class: l.active ? "" : "inactive", dataset: { link: String(l.id) } },
            h("td", {}, l.kind),
            h("td", { class: "key-text" }, `${l.a} ↔ ${l.b}`),
            h("td", { class: "num" }, fmtPercent(l.confidence)),
            h("td", {}, fmtTime(l.at_ms)),
            h("td", {}, l.active ? h("button", { type: "button", class: "link danger", onclick: () => undo(ctx, l) }, "Undo") : "undone"),
          ),
        ),
      ),
    ),
  );
}

async function undo(ctx, link) {
  if (!confirm(`Undo the ${link.kind} link between ${link.a} and ${link.b}?`)) return;
  try {
    await request("DELETE", `/api/links/${encodeURIComponent(link.id)}`);
  } catch (e) {
    alert(`Not undone: ${e.reason || e.message}`);
    return;
  }
  if (current) open(ctx, current);
  ctx.refreshVisitors();
}

/** Shows the person `visitor` belongs to. */
export async function open(ctx, visitor) {
  current = visitor;
  panel.hidden = false;
  const closeButton = h("button", { type: "button", class: "link close", "aria-label": "Close", onclick: close }, "×");
  fill(panel, h("div", { class: "panel-head" }, h("h2", {}, `Person of ${visitor}`), closeButton), note("Loading…"));
  let p;
  try {
    p = await getJson(`/api/persons/${encodeURIComponent(visitor)}`, { site: ctx.state.site, identity: ctx.state.identity });
  } catch (e) {
    fill(panel, h("div", { class: "panel-head" }, h("h2", {}, `Person of ${visitor}`), closeButton), problem(e));
    return;
  }
  if (current !== visitor) return;
  const timeline = (p.timeline || []).slice().reverse();
  fill(
    panel,
    h("div", { class: "panel-head" }, h("h2", { "data-testid": "person-id" }, `Person ${p.person}`), closeButton),
    h("div", { class: "two" }, list("Visitor ids", p.visitors || []), list("Logged in as", p.users || [])),
    h("h3", {}, "Links"),
    linksTable(ctx, p.links || []),
    h("h3", {}, `Timeline (${timeline.length} events, newest first)`),
    timeline.length
      ? h("ol", { class: "events timeline" }, timeline.map((e) => h("li", {}, h("time", {}, fmtTime(e.ts)), h("span", { class: `kind kind-${e.kind}` }, e.kind), h("span", { class: "key-text" }, e.path || ""), h("code", { title: "evidence" }, `${e.visitor} · ${e.evidence}`))))
      : note("No events"),
  );
}
