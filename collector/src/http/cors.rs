//! CORS for `/collect` and the beacon's files: the configured sites' origins
//! ([`crate::sites`]) get an answer naming the origin itself (never `*`). `/collect`
//! allows credentials for them so the server cookie works when the collector is on a
//! sibling host of the page (the beacon sends with `credentials: 'include'`).
//!
//! `/spoor.js` and `/spoor_bg.wasm` ([`assets`]) answer CORS too, without credentials: a
//! `<script type="module">` and the wasm glue's `fetch` load them in CORS mode, so a page
//! on another origin than the collector's is blocked without it. Only the sites' origins,
//! not `*`: the files are public anyway, but a page that is not a configured site could
//! not send events either, and one rule for both keeps the answer predictable.
//!
//! **Opaque origins.** A page in a sandboxed frame (`sandbox="allow-scripts"` without
//! `allow-same-origin`), a `data:` document and the like have an opaque origin: their
//! requests say `Origin: null`, which cannot show which site they belong to. Both rules
//! above answer it with `Access-Control-Allow-Origin: null` and never
//! `Access-Control-Allow-Credentials`:
//! - for the beacon's files this gives nothing away: they are public, the same bytes for
//!   everyone, fetched without cookies, and anyone can read them with curl;
//! - `/collect` accepts such a batch only when every event's page is on the site's hosts,
//!   as for any other batch, and stores it without reading or setting the server cookie
//!   ([`routes::collect`](crate::http::routes::collect)); without credentials a response to
//!   `null` carries nothing of the visitor's. What it lets through is what a request
//!   without `Origin` (curl, a server) could send anyway; `--refuse-opaque-origin`
//!   ([`Config::refuse_opaque_origin`](crate::config::Config::refuse_opaque_origin)) turns
//!   it off for both rules, and such batches are counted in `/metrics`
//!   (`spoor_opaque_origin_batches_total`). `docs/OPERATIONS.md` (Sites and CORS) has the
//!   trade-off.
//!
//! The beacon sends `text/plain`, which needs no preflight; an API client sending
//! `application/json` from a page is preflighted, and the `OPTIONS` answer allows exactly
//! `POST` with a `Content-Type` header. A preflight from an unknown origin is answered
//! `403` without CORS headers, so the browser never sends the request.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::error::AppError;
use crate::state::AppState;

/// How long a browser may cache a preflight answer, in seconds.
pub const MAX_AGE_SECS: u32 = 600;

/// The `Origin` of a page with an opaque origin (a sandboxed frame).
pub const OPAQUE: &str = "null";

/// Whether a request with `Origin: origin` may be answered: a configured site's origin
/// (with credentials on `/collect`), or an opaque one unless the collector refuses them
/// (without credentials, see the module docs).
fn answered(state: &AppState, origin: &str) -> Option<Answer> {
    if origin == OPAQUE {
        (!state.config.refuse_opaque_origin).then_some(Answer::Opaque)
    } else {
        state
            .config
            .sites
            .allows_origin(origin)
            .then_some(Answer::Site)
    }
}

/// Which CORS answer an origin gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// A configured site's origin: named, with credentials on `/collect`.
    Site,
    /// `null`: named, never with credentials.
    Opaque,
}

/// Middleware on `/collect`: answers preflights, and adds CORS headers to the answers for
/// configured origins.
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let allowed = origin
        .as_deref()
        .and_then(|o| Some((o, answered(&state, o)?)));
    if request.method() == Method::OPTIONS {
        return match allowed {
            Some((origin, answer)) => {
                let mut response = StatusCode::NO_CONTENT.into_response();
                let h = response.headers_mut();
                allow(h, origin, answer);
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static("POST"),
                );
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static("content-type"),
                );
                h.insert(
                    header::ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from(MAX_AGE_SECS),
                );
                response
            }
            None => {
                AppError::Forbidden("origin: not a configured site's origin".into()).into_response()
            }
        };
    }
    let mut response = next.run(request).await;
    if let Some((origin, answer)) = allowed {
        allow(response.headers_mut(), origin, answer);
    }
    response
}

/// Names `origin` in the answer; credentials only for a site's own origin.
fn allow(headers: &mut HeaderMap, origin: &str, answer: Answer) {
    if let Ok(value) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        if answer == Answer::Site {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }
    headers.append(header::VARY, HeaderValue::from_static("origin"));
}

/// Middleware on the beacon's files: adds `Access-Control-Allow-Origin` (the origin itself,
/// no credentials) when the request's `Origin` is a configured site's or `null` (unless
/// opaque origins are refused), and `Vary: Origin` always, since the answer depends on it.
pub async fn assets(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .filter(|v| v.to_str().is_ok_and(|o| answered(&state, o).is_some()))
        .cloned();
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    response
}
