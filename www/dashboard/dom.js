// Small helpers to build DOM nodes and format numbers, shared by every view.

/**
 * Creates `<tag>` with `attrs` (`class`, `dataset`, `on*` listeners, anything else as an
 * attribute or property) and `children` (nodes or strings; null and false are skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Replaces `el`'s children. */
export function fill(el, ...children) {
  el.replaceChildren();
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) el.append(child);
  }
  return el;
}

/** A muted "no data" / error line for a view that has nothing to show. */
export function note(text, kind = "empty") {
  return h("p", { class: `note note-${kind}` }, text);
}

/** What a failed request shows in place of its view. */
export function problem(error) {
  const reason = error && error.reason ? error.reason : String(error && error.message);
  const status = error && error.status ? ` (${error.status})` : "";
  return note(`Cannot load this: ${reason}${status}`, "error");
}

/** `1234` -> `1,234`; non-numbers as a dash. */
export function fmtInt(n) {
  return Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–";
}

/** `0.4567` -> `46%`. */
export function fmtPercent(x) {
  return Number.isFinite(x) ? `${Math.round(x * 100)}%` : "–";
}

/** Milliseconds as `1h 02m`, `3m 05s` or `42s`. */
export function fmtDuration(ms) {
  if (!Number.isFinite(ms)) return "–";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

/** A Unix-ms time as local `YYYY-MM-DD HH:MM:SS`. */
export function fmtTime(ms) {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return "–";
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
