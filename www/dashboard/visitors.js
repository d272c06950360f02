// The visitor log: the latest sessions from /api/visitors, newest first. A row opens its
// event list; the visitor's name opens the person view.

import { download, getJson } from "./api.js";
import { h, fill, fmtDuration, fmtInt, fmtTime, note, problem } from "./dom.js";

let body;
let generation = 0;

/** Builds the view in `el`. */
export function mount(el, ctx) {
  body = h("div", { class: "log", "data-testid": "visitor-log" });
  const csv = h("button", { type: "button", class: "link csv", title: "Download as CSV", onclick: () =>
    download("/api/visitors", { ...ctx.query(), limit: 1000, format: "csv" }, `${ctx.state.site}-visitors.csv`).catch((e) => fill(body, problem(e))) }, "CSV");
  fill(el, h("div", { class: "panel-head" }, h("h2", {}, "Visitor log"), csv), body);
}

function sessionItem(ctx, s) {
  const events = h(
    "ol",
    { class: "events", hidden: true },
    (s.events || []).map((e) => h("li", {}, h("time", {}, fmtTime(e.ts).slice(11)), h("span", { class: `kind kind-${e.kind}` }, e.kind), h("span", { class: "key-text" }, e.name ? `${e.name} ${e.path || ""}` : e.path || ""))),
  );
  const who = h("button", { type: "button", class: "link person-link", title: "Open this person", dataset: { visitor: s.visitor }, onclick: (ev) => {
    ev.stopPropagation();
    ctx.openPerson(s.visitor);
  } }, s.person && s.person !== s.visitor ? `${s.visitor} (person ${s.person})` : s.visitor);
  return h(
    "li",
    { class: "session", dataset: { session: s.session || "" } },
    h(
      "div",
      { class: "session-head", onclick: () => (events.hidden = !events.hidden), title: "Show the events" },
      h("time", {}, fmtTime(s.start)),
      who,
      h("span", { class: "path" }, s.entry === s.exit || !s.exit ? s.entry || "" : `${s.entry} → ${s.exit}`),
      h("span", { class: "meta" }, `${fmtInt(s.pageviews)} views · ${fmtDuration(s.duration_ms)}${s.bounce ? " · bounced" : ""}`),
      h("span", { class: "meta" }, [s.device, s.browser, s.os, s.source].filter(Boolean).join(" · ")),
    ),
    events,
  );
}

/** Reloads the log for the current query. */
export async function refresh(ctx) {
  const mine = ++generation;
  try {
    const data = await getJson("/api/visitors", { ...ctx.query(), limit: 50 });
    if (mine !== generation) return;
    const sessions = data.sessions || [];
    fill(body, sessions.length ? h("ol", { class: "sessions" }, sessions.map((s) => sessionItem(ctx, s))) : note("No visits in this period"));
  } catch (e) {
    if (mine !== generation) return;
    fill(body, problem(e));
  }
}
