//! CORS for `/collect` and the beacon's files: only the configured sites' origins
//! ([`crate::sites`]) get an answer, always the origin itself (never `*`). `/collect`
//! allows credentials so the server cookie works when the collector is on a sibling host
//! of the page (the beacon sends with `credentials: 'include'`).
//!
//! `/spoor.js` and `/spoor_bg.wasm` ([`assets`]) answer CORS too, without credentials: a
//! `<script type="module">` and the wasm glue's `fetch` load them in CORS mode, so a page
//! on another origin than the collector's is blocked without it. Only the sites' origins,
//! not `*`: the files are public anyway, but a page that is not a configured site could
//! not send events either, and one rule for both keeps the answer predictable.
//!
//! The beacon sends `text/plain`, which needs no preflight; an API client sending
//! `application/json` from a page is preflighted, and the `OPTIONS` answer allows exactly
//! `POST` with a `Content-Type` header. A preflight from an unknown origin is answered
//! `403` without CORS headers, so the browser never sends the request.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::state::AppState;

/// How long a browser may cache a preflight answer, in seconds.
pub const MAX_AGE_SECS: u32 = 600;

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
        .filter(|o| state.config.sites.allows_origin(o));
    if request.method() == Method::OPTIONS {
        return match allowed {
            Some(origin) => {
                let mut response = StatusCode::NO_CONTENT.into_response();
                let h = response.headers_mut();
                allow(h, origin);
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
    if let Some(origin) = allowed {
        allow(response.headers_mut(), origin);
    }
    response
}

fn allow(headers: &mut HeaderMap, origin: &str) {
    if let Ok(value) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    headers.append(header::VARY, HeaderValue::from_static("origin"));
}

/// Middleware on the beacon's files: adds `Access-Control-Allow-Origin` (the origin itself,
/// no credentials) when the request's `Origin` is a configured site's, and `Vary: Origin`
/// always, since the answer depends on it.
pub async fn assets(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .filter(|v| {
            v.to_str()
                .is_ok_and(|o| state.config.sites.allows_origin(o))
        })
        .cloned();
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    response
}
