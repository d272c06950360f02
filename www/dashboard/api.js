// The dashboard's only way to the collector: JSON requests to /api/* as the signed-in admin.
//
// Opening the one-time sign-in URL the collector prints at start sets its session cookie
// (HttpOnly, SameSite=Strict), which every same-origin request here carries; scripts never
// see it. Without a session, a pasted admin token lives in sessionStorage and goes out as
// `Authorization: Bearer`. A 401 raises the `spoor:unauthorized` window event, which app.js
// answers by showing the token form. Every failure becomes an ApiError carrying the
// collector's `{"error": …}` reason, for the views to show.

const TOKEN_KEY = "spoor-admin-token";

/** A request the collector refused or could not answer; `reason` is its explanation. */
export class ApiError extends Error {
  constructor(status, reason) {
    super(reason);
    this.status = status;
    this.reason = reason;
  }
}

/** The admin token of this tab, or null. */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Keeps `value` as this tab's admin token (an empty value forgets it). */
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

function headers(extra = {}) {
  const h = { Accept: "application/json", ...extra };
  const t = token();
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

/** `path` with `params` as its query string; empty and null values are left out. */
export function apiUrl(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(key, String(value));
  }
  const qs = query.toString();
  return qs ? `${path}?${qs}` : path;
}

async function failure(resp) {
  let reason = `${resp.status} ${resp.statusText}`.trim();
  try {
    const body = await resp.json();
    if (body && typeof body.error === "string") reason = body.error;
  } catch {
    // Not JSON (a plain 404 from the file server, say): keep the status line.
  }
  if (resp.status === 401) {
    window.dispatchEvent(new CustomEvent("spoor:unauthorized", { detail: reason }));
  }
  return new ApiError(resp.status, reason);
}

/** Sends `method path?params` (with a JSON `body` if given); resolves to the JSON answer. */
export async function request(method, path, params = {}, body = undefined) {
  let resp;
  try {
    resp = await fetch(apiUrl(path, params), {
      method,
      credentials: "same-origin",
      headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, `the collector did not answer (${e.message})`);
  }
  if (!resp.ok) throw await failure(resp);
  if (resp.status === 204) return null;
  return resp.json();
}

/** `GET path?params` as JSON. */
export function getJson(path, params = {}) {
  return request("GET", path, params);
}

/**
 * Downloads `GET path?params` as the file `filename`. Fetched here rather than by a plain
 * link, so a pasted admin token goes with it.
 */
export async function download(path, params, filename) {
  const resp = await fetch(apiUrl(path, params), {
    credentials: "same-origin",
    headers: headers({ Accept: "text/csv" }),
  });
  if (!resp.ok) throw await failure(resp);
  const url = URL.createObjectURL(await resp.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
