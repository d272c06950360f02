//! Dashboard sessions: the one-time sign-in codes the collector prints at start, and the
//! signed cookie a code is exchanged for.
//!
//! A code is 256 random bits, kept in memory only (as its SHA-256) for [`SIGNIN_TTL`], and
//! works once: `GET /dashboard/signin?code=…` removes it, sets the session cookie and
//! redirects to `/dashboard/`. A replayed, expired or unknown code is answered 403. A
//! restart forgets every code (and prints a new one).
//!
//! The cookie [`COOKIE`] carries its expiry and an HMAC-SHA256 of it under a key kept in the
//! store ([`SESSION_KEY_SECRET`]): nothing else, since there is one admin. It is
//! `HttpOnly` (scripts cannot read it), `SameSite=Strict` (other sites' pages cannot use
//! it), `Path=/`, lives [`SESSION_TTL`] (`Max-Age`, and the signed expiry, so a copied
//! value dies too), and is `Secure` when the request came over https. Deleting the key
//! (`admin-token --reset`) signs every session out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::token::hex;
use crate::http::error::AppError;
use crate::http::extract::peer::Peer;
use crate::state::AppState;
use crate::store::{StoreError, random_bytes};

/// Name of the store secret that signs session cookies.
pub const SESSION_KEY_SECRET: &str = "admin-session-key";
/// The session cookie's name.
pub const COOKIE: &str = "spoor_admin";
/// How long a session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);
/// How long a sign-in code stays valid.
pub const SIGNIN_TTL: Duration = Duration::from_secs(60 * 60);
/// Most sign-in codes waiting at once; the oldest is dropped beyond it.
const MAX_CODES: usize = 16;

/// The session signing key and the sign-in codes not used yet.
pub struct Sessions {
    /// HMAC-SHA256 keyed with the store's session key (HMAC takes a key of any length, so
    /// it is always there; `None` would refuse every session).
    key: Option<Hmac<Sha256>>,
    /// SHA-256 of each code, with when it expires.
    codes: Mutex<HashMap<[u8; 32], Instant>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sessions(<redacted>)")
    }
}

impl Sessions {
    /// Sessions signed with `key` (64 bytes from the store).
    pub fn new(key: [u8; 64]) -> Sessions {
        Sessions {
            key: <Hmac<Sha256> as Mac>::new_from_slice(&key).ok(),
            codes: Mutex::new(HashMap::new()),
        }
    }

    /// A new one-time sign-in code, valid for [`SIGNIN_TTL`].
    pub fn issue_code(&self) -> Result<String, StoreError> {
        let code = hex(&random_bytes::<32>()?);
        let now = Instant::now();
        let mut codes = self.codes.lock().unwrap_or_else(|p| p.into_inner());
        codes.retain(|_, expires| *expires > now);
        if codes.len() >= MAX_CODES {
            if let Some(oldest) = codes.iter().min_by_key(|(_, e)| **e).map(|(k, _)| *k) {
                codes.remove(&oldest);
            }
        }
        codes.insert(Sha256::digest(code.as_bytes()).into(), now + SIGNIN_TTL);
        Ok(code)
    }

    /// Uses `code` up: true when it was issued, is still valid, and was not used before.
    pub fn redeem(&self, code: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(code.as_bytes()).into();
        let mut codes = self.codes.lock().unwrap_or_else(|p| p.into_inner());
        codes
            .remove(&digest)
            .is_some_and(|expires| expires > Instant::now())
    }

    fn mac(&self, expires: u64) -> Option<Hmac<Sha256>> {
        let mut mac = self.key.clone()?;
        mac.update(b"spoor admin session\0");
        mac.update(expires.to_string().as_bytes());
        Some(mac)
    }

    /// The cookie value of a session made at `now` (seconds since the epoch).
    pub fn cookie_value(&self, now: u64) -> String {
        let expires = now + SESSION_TTL.as_secs();
        let tag = self
            .mac(expires)
            .map(|m| hex(&m.finalize().into_bytes()))
            .unwrap_or_default();
        format!("{expires}.{tag}")
    }

    /// Whether `value` is a session this key signed that has not expired at `now`.
    pub fn verify(&self, value: &str, now: u64) -> bool {
        let Some((expires, tag)) = value.split_once('.') else {
            return false;
        };
        let (Ok(expires), Some(tag)) = (expires.parse::<u64>(), unhex(tag)) else {
            return false;
        };
        expires > now
            && self
                .mac(expires)
                .is_some_and(|m| m.verify_slice(&tag).is_ok())
    }

    /// Whether `headers` carry a valid session cookie at `now`.
    pub fn signed_in(&self, headers: &HeaderMap, now: u64) -> bool {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(name, value)| name == COOKIE && self.verify(value, now))
    }
}

/// Seconds since the epoch, by the wall clock.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The query of the sign-in URL.
#[derive(Debug, serde::Deserialize)]
pub struct SigninQuery {
    /// The one-time code.
    #[serde(default)]
    code: String,
}

/// `GET /dashboard/signin?code=…`: exchanges a one-time code for a session cookie and
/// goes to the dashboard. (The gate has checked `Host` already.)
pub async fn signin(
    State(state): State<AppState>,
    peer: Result<Peer, AppError>,
    Query(query): Query<SigninQuery>,
) -> Response {
    let sessions = &state.admin.sessions;
    if !sessions.redeem(&query.code) {
        state.metrics.admin_refused("signin_code");
        return AppError::Forbidden(
            "this sign-in link is unknown, expired or used already: restart the collector \
             for a new one, or paste the admin token into the dashboard"
                .into(),
        )
        .into_response();
    }
    let https = peer.is_ok_and(|p| p.https);
    let cookie = format!(
        "{COOKIE}={}; Max-Age={}; Path=/; HttpOnly; SameSite=Strict{}",
        sessions.cookie_value(now_secs()),
        SESSION_TTL.as_secs(),
        if https { "; Secure" } else { "" }
    );
    let mut response = Redirect::to("/dashboard/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_works_once() {
        let s = Sessions::new([7; 64]);
        let code = s.issue_code().unwrap();
        assert!(!s.redeem("not-a-code"));
        assert!(s.redeem(&code));
        assert!(!s.redeem(&code), "a replayed code is refused");
    }

    #[test]
    fn a_session_is_valid_until_it_expires_and_only_under_its_key() {
        let s = Sessions::new([7; 64]);
        let value = s.cookie_value(1_000);
        assert!(s.verify(&value, 1_000));
        assert!(s.verify(&value, 1_000 + SESSION_TTL.as_secs() - 1));
        assert!(!s.verify(&value, 1_000 + SESSION_TTL.as_secs()));
        assert!(!Sessions::new([8; 64]).verify(&value, 1_000), "another key");
        let (expires, tag) = value.split_once('.').unwrap();
        let longer = format!("{}.{tag}", expires.parse::<u64>().unwrap() + 100_000);
        assert!(!s.verify(&longer, 1_000), "the expiry is signed");
        for junk in ["", ".", "abc", "1.zz", "99999999999.00"] {
            assert!(!s.verify(junk, 1_000), "{junk:?}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=b; {COOKIE}={value}")).unwrap(),
        );
        assert!(s.signed_in(&headers, 1_000));
    }
}
