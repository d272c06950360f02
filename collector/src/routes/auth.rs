//! Who may read reports: the admin-token gate in front of `/api/*` and `/dashboard*`.
//!
//! With a token configured ([`Config::admin_token`](crate::config::Config::admin_token),
//! `--admin-token` / `SPOOR_ADMIN_TOKEN`) an `/api/*` request must carry
//! `Authorization: Bearer <token>`; a missing or wrong token is answered 401 with a reason
//! and `WWW-Authenticate: Bearer`. The dashboard's own files (HTML, scripts, styles: no
//! data) are then served to anyone, because a browser cannot put a bearer token on a page
//! load: the page asks for the token and sends it with every API call, so without it the
//! dashboard shows nothing but the token form.
//!
//! Without a token only a loopback client may read the API or load the dashboard; every
//! other client gets 403. "Client" is the resolved [`Peer`]: behind a trusted proxy that is
//! the forwarded client, so a proxy on the same host does not make the whole internet local.
//!
//! Dashboard responses also carry a Content-Security-Policy ([`DASHBOARD_CSP`]: own files
//! only, never framed), `X-Frame-Options: DENY` and `Referrer-Policy: no-referrer`.
//!
//! The token is compared in constant time (through SHA-256 digests, so its length does not
//! leak either), and its `Debug` form is redacted so it never reaches a log.

use std::fmt;
use std::str::FromStr;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::extract::peer::Peer;
use crate::state::AppState;

/// The secret that grants read access to reports and the dashboard.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// Whether `candidate` is this token, in time independent of where they differ.
    pub fn matches(&self, candidate: &str) -> bool {
        let want = Sha256::digest(self.0.as_bytes());
        let got = Sha256::digest(candidate.as_bytes());
        want.iter()
            .zip(got.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

impl FromStr for AdminToken {
    type Err = String;

    /// A token is at least 16 visible ASCII characters (what fits a header unchanged).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() < 16 {
            return Err("must be at least 16 characters".into());
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("must be visible ASCII characters without spaces".into());
        }
        Ok(AdminToken(s.to_string()))
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

/// Middleware over the whole router. An [`Area::Api`] request goes through only with the
/// admin token when one is configured; an [`Area::Dashboard`] request goes through when a
/// token is configured (the page asks for it). Without a token, both need a loopback
/// client. [`Area::Public`] requests pass untouched.
pub async fn guard(
    State(state): State<AppState>,
    peer: Result<Peer, AppError>,
    request: Request,
    next: Next,
) -> Response {
    let area = Area::of(request.uri().path());
    let token_configured = state.config.admin_token.is_some();
    if area == Area::Public {
        return next.run(request).await;
    }
    if area == Area::Dashboard && token_configured {
        return confined(next.run(request).await);
    }
    let verdict = match &state.config.admin_token {
        Some(token) => match bearer(&request) {
            Some(given) if token.matches(given) => Ok(()),
            Some(_) => Err(AppError::Unauthorized("the admin token is wrong".into())),
            None => Err(AppError::Unauthorized(
                "an admin token is required: send Authorization: Bearer <token>".into(),
            )),
        },
        None => match peer {
            Ok(peer) if peer.ip.is_loopback() || is_mapped_loopback(&peer) => Ok(()),
            Ok(_) => Err(AppError::Forbidden(
                "reports are readable only from 127.0.0.1 unless SPOOR_ADMIN_TOKEN is set".into(),
            )),
            Err(e) => Err(e),
        },
    };
    match verdict {
        Ok(()) if area == Area::Dashboard => confined(next.run(request).await),
        Ok(()) => next.run(request).await,
        Err(e) => {
            let unauthorized = matches!(e, AppError::Unauthorized(_));
            let mut response = e.into_response();
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

/// `::ffff:127.0.0.1` (an IPv4 loopback client on a dual-stack socket).
fn is_mapped_loopback(peer: &Peer) -> bool {
    match peer.ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        std::net::IpAddr::V4(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_matches_only_itself() {
        let t: AdminToken = "0123456789abcdef-secret".parse().unwrap();
        assert!(t.matches("0123456789abcdef-secret"));
        assert!(!t.matches("0123456789abcdef-secreT"));
        assert!(!t.matches("0123456789abcdef-secret2"));
        assert!(!t.matches(""));
    }

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
    }

    #[test]
    fn short_or_spaced_tokens_are_refused_and_debug_hides_the_token() {
        assert!("short".parse::<AdminToken>().is_err());
        assert!("0123456789 abcdef".parse::<AdminToken>().is_err());
        let t: AdminToken = "  0123456789abcdef  ".parse().unwrap();
        assert!(t.matches("0123456789abcdef"));
        assert!(!format!("{t:?}").contains("0123"));
    }
}
