//! Who may read reports: the admin gate in front of `/api/*`, `/metrics` and
//! `/dashboard*`.
//!
//! Every request there must first be addressed to one of the collector's public hostnames
//! ([`host`]: against DNS rebinding); a foreign, missing or malformed `Host` is answered 403
//! with a reason. Then:
//! - `/dashboard*` (the dashboard's own files: HTML, scripts, styles, no data) is served,
//!   and `/dashboard/signin?code=…` exchanges a one-time code for a session ([`session`]);
//! - `/api/*` and `/metrics` need a credential: `Authorization: Bearer <token>` with the
//!   configured or the generated admin token ([`token`]), or a valid session cookie.
//!   Without a credential: 401 with a reason and `WWW-Authenticate: Bearer`;
//! - only with `--insecure-loopback-admin` does a loopback client need no credential, and
//!   then only when it names the host by a loopback name (`localhost`, `127.0.0.1`,
//!   `[::1]`). "Loopback" is the resolved [`Peer`]: a client a trusted proxy did not
//!   name is unknown, never local.
//!
//! A request let in by a session or by the loopback opt-in (what a browser brings along by
//! itself) that is not `GET`/`HEAD` must also come from the dashboard's own origin
//! (`Origin` naming the requested host and port, or `Sec-Fetch-Site: same-origin`), so
//! another site's page cannot make the browser erase data (CSRF).
//!
//! Every refusal is counted in `/metrics` (`spoor_admin_refused_total{reason}`).
//! Dashboard responses also carry a Content-Security-Policy ([`DASHBOARD_CSP`]: own files
//! only, never framed), `X-Frame-Options: DENY` and `Referrer-Policy: no-referrer`.

pub mod host;
pub mod session;
pub mod token;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub use token::{AdminToken, Credentials};

use crate::http::error::AppError;
use crate::http::extract::peer::Peer;
use crate::state::AppState;
use crate::store::{IdentityState, StoreError};
use session::{SESSION_KEY_SECRET, Sessions};

/// What the gate checks credentials against; shared through [`AppState`].
#[derive(Debug)]
pub struct Admin {
    /// The accepted bearer tokens.
    pub credentials: Credentials,
    /// Sign-in codes and the session cookie's key.
    pub sessions: Sessions,
}

impl Admin {
    /// Loads the credentials and the session key from `store`, making and storing a token
    /// when none is configured or stored; returns that new token too (show it once).
    pub async fn open(
        store: &dyn IdentityState,
        configured: Option<AdminToken>,
    ) -> Result<(Admin, Option<AdminToken>), StoreError> {
        let (credentials, created) = Credentials::open(store, configured).await?;
        let sessions = Sessions::new(store.secret(SESSION_KEY_SECRET).await?);
        Ok((
            Admin {
                credentials,
                sessions,
            },
            created,
        ))
    }
}

/// The bearer credential of `Authorization`, if the header is there and uses that scheme.
fn bearer(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, credential) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credential.trim())
}

/// What part of the collector a request path belongs to, as far as the gate cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// `/api` and everything under it: the data.
    Api,
    /// `/dashboard` and everything under it: the dashboard's files.
    Dashboard,
    /// `/metrics`: the collector's counters.
    Metrics,
    /// Everything else (collection, health, the beacon, the demo site): public.
    Public,
}

impl Area {
    /// The area of `path`. The path is percent-decoded and empty and `.` segments are
    /// skipped first, the way the static file service reads it, so `/%64ashboard/` or
    /// `//dashboard/` cannot slip past.
    pub fn of(path: &str) -> Area {
        let decoded = percent_decode(path);
        let first = decoded
            .split('/')
            .find(|segment| !segment.is_empty() && *segment != ".");
        match first {
            Some("api") => Area::Api,
            Some("dashboard") => Area::Dashboard,
            Some("metrics") => Area::Metrics,
            _ => Area::Public,
        }
    }
}

/// `path` with `%XX` escapes decoded (bytes that do not form UTF-8 are replaced).
fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let value = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Middleware over the whole router: lets [`Area::Public`] requests through untouched and
/// every other one only as the module documentation says.
pub async fn guard(
    State(state): State<AppState>,
    peer: Result<Peer, AppError>,
    request: Request,
    next: Next,
) -> Response {
    let area = Area::of(request.uri().path());
    if area == Area::Public {
        return next.run(request).await;
    }
    match admit(&state, peer.ok(), &request, area) {
        Ok(()) if area == Area::Dashboard => confined(next.run(request).await),
        Ok(()) => next.run(request).await,
        Err(Refusal { reason, error }) => {
            state.metrics.admin_refused(reason);
            let unauthorized = matches!(error, AppError::Unauthorized(_));
            let mut response = error.into_response();
            if unauthorized {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"spoor\""),
                );
            }
            response
        }
    }
}

/// Why the gate refused a request: a metrics label and the answer.
struct Refusal {
    reason: &'static str,
    error: AppError,
}

fn refuse(reason: &'static str, error: AppError) -> Result<(), Refusal> {
    Err(Refusal { reason, error })
}

/// The gate's decision for a request to `area` (not [`Area::Public`]).
fn admit(
    state: &AppState,
    peer: Option<Peer>,
    request: &Request,
    area: Area,
) -> Result<(), Refusal> {
    let config = &state.config;
    let Some(host) = host::request_host(request) else {
        return refuse(
            "host_missing",
            AppError::Forbidden("a Host header naming this collector is required".into()),
        );
    };
    if !config.public_hosts.allows(&host, config.listen) {
        return refuse(
            "host_foreign",
            AppError::Forbidden(format!(
                "{host:?} is not one of this collector's public hostnames \
                 (--public-hosts / SPOOR_PUBLIC_HOSTS)"
            )),
        );
    }
    if area == Area::Dashboard {
        // The dashboard's files hold no data; the page signs in or asks for the token.
        return Ok(());
    }
    if let Some(given) = bearer(request) {
        if state.admin.credentials.accepts(given) {
            return Ok(());
        }
        return refuse(
            "token_wrong",
            AppError::Unauthorized("the admin token is wrong".into()),
        );
    }
    // A session cookie, or the loopback opt-in, is something a browser brings along by
    // itself, to requests any site's page makes: writes must come from the dashboard.
    let signed_in = state
        .admin
        .sessions
        .signed_in(request.headers(), session::now_secs());
    let local = config.insecure_loopback_admin
        && host::is_loopback_name(&host)
        && peer.is_some_and(|p| p.is_loopback());
    if signed_in || local {
        if is_safe(request.method()) || same_origin(request) {
            return Ok(());
        }
        return refuse(
            "cross_origin",
            AppError::Forbidden(
                "a request that changes data without a bearer token must come from the \
                 dashboard's own origin (Origin or Sec-Fetch-Site: same-origin)"
                    .into(),
            ),
        );
    }
    refuse(
        "credential_missing",
        AppError::Unauthorized(
            "sign in first: open the sign-in URL the collector printed at start, or send \
             Authorization: Bearer <token>"
                .into(),
        ),
    )
}

/// Methods that read only.
fn is_safe(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// Whether the browser says `request` comes from a page of the collector itself:
/// `Sec-Fetch-Site: same-origin`, or an `Origin` with the host and port of `Host`. (The
/// scheme is not compared: behind a proxy the collector does not see it, and the host is
/// what another site cannot fake.)
fn same_origin(request: &Request) -> bool {
    let headers = request.headers();
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"same-origin")
    {
        return true;
    }
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    match (text(header::ORIGIN), text(header::HOST)) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| host::same_authority(authority, host)),
        _ => false,
    }
}

/// What the dashboard's pages may do: load only the collector's own files, never be framed
/// by another site (its buttons undo links), and keep its address (filters, visitor ids)
/// out of `Referer`. Inline styles are allowed: the charts and the table bars set them.
pub const DASHBOARD_CSP: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data: blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// `response` with the dashboard's confinement headers.
fn confined(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DASHBOARD_CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_and_the_dashboard_are_protected_however_spelled() {
        for path in [
            "/api",
            "/api/summary",
            "/dashboard",
            "/dashboard/",
            "/dashboard/app.js",
            "//dashboard/index.html",
            "/./api/sites",
            "/%64ashboard/index.html",
            "/%61pi/summary",
        ] {
            assert_ne!(Area::of(path), Area::Public, "{path}");
        }
        assert_eq!(Area::of("/%64ashboard/index.html"), Area::Dashboard);
        assert_eq!(Area::of("/./api/sites"), Area::Api);
        for path in [
            "/",
            "/collect",
            "/healthz",
            "/spoor.js",
            "/pricing.html",
            "/apiary",
            "/dashboards",
            "/files/api",
        ] {
            assert_eq!(Area::of(path), Area::Public, "{path}");
        }
        assert_eq!(Area::of("/metrics"), Area::Metrics);
        assert_eq!(Area::of("/%6detrics"), Area::Metrics);
    }

    fn request(method: &str, headers: &[(&str, &str)]) -> Request {
        let mut r = Request::builder().method(method).uri("/api/erase");
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn same_origin_is_the_fetch_metadata_or_an_origin_naming_host_and_port() {
        let host = ("host", "127.0.0.1:8080");
        assert!(same_origin(&request(
            "DELETE",
            &[host, ("sec-fetch-site", "same-origin")]
        )));
        assert!(same_origin(&request(
            "DELETE",
            &[host, ("origin", "http://127.0.0.1:8080")]
        )));
        for foreign in [
            "http://evil.example",
            "http://127.0.0.1:9999",
            "http://127.0.0.1",
            "null",
            "http://127.0.0.1:8080.evil.example",
        ] {
            assert!(
                !same_origin(&request("DELETE", &[host, ("origin", foreign)])),
                "{foreign}"
            );
        }
        assert!(!same_origin(&request(
            "DELETE",
            &[host, ("sec-fetch-site", "same-site")]
        )));
        assert!(!same_origin(&request("DELETE", &[host])));
    }
}
