//! `POST /ingest`: a batch from a site's own server, authenticated by the site's key.
//!
//! The seed's setting: a web server that tracks its users by cookie, login session and
//! address sends what happened on their behalf. The body is the `/collect` batch (same
//! events, same rules, same answers); with the site's key
//! ([`Config::ingest_keys`](crate::config::Config::ingest_keys)) as
//! `Authorization: Bearer <key>` or `X-Spoor-Key: <key>`, compared in constant time:
//! - the bot filter does not apply (no `screen` needed), nor the `Origin` check or the
//!   per-client rate limit: the key is the credential;
//! - each event may carry the browser's `ip` and `user_agent` ([`payload::server`]): its
//!   browser, OS, device and country come from them, and so does its network fingerprint;
//!   the address is never stored;
//! - the visitor is the event's `visitor` (the site's own visitor id, such as its cookie),
//!   else one derived from its `session` (the site's login session id) by a keyed hash,
//!   `ss_` and 32 hex digits, stable for as long as the key; else the network fingerprint of
//!   `ip` and `user_agent` (a daily visitor, as for a cookieless browser). An event with
//!   none of the three fails. The session id itself is stored only as that hash, since a
//!   login session id may be a live credential; the `visitor` is stored as given;
//! - `user_id` (on any event), or an `identify` event's `user`, links the visitor to the
//!   user as a **verified** login: the key proves the site said so.
//!
//! A missing or wrong key is `401` with the reason, counted as rejected `ingest_key`.
//!
//! [`payload::server`]: crate::payload::server

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::collect::answer;
use crate::event::{ClientEvent, Event, EventKind, IdentityEffects};
use crate::http::error::AppError;
use crate::identity::graph::LinkKind;
use crate::identity::resolver::{NewLink, USER_PREFIX};
use crate::identity::{Evidence, fingerprint};
use crate::ingest::envelope::{self, Opened};
use crate::ingest::refusal::Refusal;
use crate::ingest::validate::{self, Pending, check_hostname};
use crate::payload::{EventFailure, server, stored_url};
use crate::state::AppState;

/// The header a server-side client may send its key in, instead of `Authorization`.
pub const KEY_HEADER: &str = "x-spoor-key";

/// Prefix of a visitor derived from a site's session id.
pub const SESSION_PREFIX: &str = "ss_";

/// Receives a server-side batch; see the module docs.
pub async fn ingest(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let metrics = &state.metrics;
    let Some(key) = presented_key(&headers) else {
        metrics.received(1);
        return Err(Refusal::IngestKey(format!(
            "send the site's ingest key as `Authorization: Bearer <key>` or `{KEY_HEADER}: <key>`"
        ))
        .count(metrics, 1));
    };
    let Opened {
        envelope,
        site,
        now,
        body,
    } = envelope::open(&state, &headers, body)?;
    let received = envelope.events.len();
    let Some(site_key) = state.config.ingest_keys.get(&site.id) else {
        return Err(Refusal::IngestKey(format!(
            "site {:?} has no ingest key configured (SPOOR_INGEST_KEYS or --ingest-keys-file)",
            site.id
        ))
        .count(metrics, received));
    };
    if !same_key(site_key, key.as_bytes()) {
        return Err(
            Refusal::IngestKey(format!("the key is not site {:?}'s ingest key", site.id))
                .count(metrics, received),
        );
    }

    let keep = state.config.keep_query_params.for_site(&site.id);
    let server_fields = server::parse(&body);
    let salt = state.salts.for_time(now).await?;
    let mut events = Vec::with_capacity(received);
    let mut failures = Vec::new();
    for (i, event) in envelope.events.into_iter().enumerate() {
        let fields = server_fields
            .get(i)
            .cloned()
            .unwrap_or_else(|| Ok(server::ServerFields::default()));
        let built = event
            .and_then(|e| check_hostname(i, e, site))
            .map(|mut client| {
                // From here on only the URLs as they may be stored exist, as on /collect.
                stored_url::scrub_event(&mut client, keep, site);
                client
            })
            .and_then(|client| {
                let fields = fields.map_err(|reason| failure(i, reason, &client))?;
                to_event(i, client, fields, &site.id, site_key, &salt, &state, now)
            });
        match built {
            Ok(e) => events.push(e),
            Err(f) => failures.push(f),
        }
    }
    let mut pending = Pending {
        metrics,
        events: events.len(),
    };
    validate::settle_failures(&state, &site.id, &failures, events.len(), now).await?;
    let valid = events.len();
    // Each visitor's owner commits its events: here, or a peer (`--peers`).
    let stored = crate::peers::submit(&state, events).await;
    pending.events = 0;
    let outcome = stored.inspect_err(|e| {
        let code = if e.status().is_server_error() {
            "unavailable"
        } else {
            "refused"
        };
        metrics.rejected(code, valid);
    })?;
    metrics.accepted(outcome.stored, outcome.duplicates);
    Ok(answer(outcome, failures, ()))
}

/// The key the request presents: `Authorization: Bearer <key>`, else `X-Spoor-Key`.
fn presented_key(headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let header = headers.get(KEY_HEADER).and_then(|v| v.to_str().ok());
    bearer
        .or(header)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
}

/// Whether two keys are equal, in time that does not depend on where they differ.
fn same_key(expected: &[u8], given: &[u8]) -> bool {
    expected.len() == given.len()
        && expected
            .iter()
            .zip(given)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// A failure of event `index` for a reason naming its field.
fn failure(index: usize, reason: String, client: &ClientEvent) -> EventFailure {
    EventFailure {
        index,
        code: "invalid_event",
        reason,
        raw: serde_json::json!({"type": client.kind.as_str(), "url": client.url}).to_string(),
    }
}

/// The event a server-side client described: its visitor, context and verified login.
#[allow(clippy::too_many_arguments)]
fn to_event(
    index: usize,
    mut client: ClientEvent,
    fields: server::ServerFields,
    site: &str,
    key: &[u8],
    salt: &[u8; 32],
    state: &AppState,
    now: i64,
) -> Result<Event, EventFailure> {
    let user_agent = fields.user_agent.as_deref().unwrap_or("");
    let fingerprint = fields
        .ip
        .map(|ip| fingerprint::visitor_id(salt, site, ip, user_agent))
        .unwrap_or_default();
    let (visitor, evidence) = if let Some(id) = &client.client_id {
        (id.clone(), Evidence::ClientId)
    } else if let Some(session) = &client.session {
        (session_visitor(key, session), Evidence::ClientId)
    } else if !fingerprint.is_empty() {
        (fingerprint.clone(), Evidence::Fingerprint)
    } else {
        return Err(failure(
            index,
            format!("events[{index}].visitor: a server-side event needs visitor, session or ip"),
            &client,
        ));
    };
    // A login session id may be a live credential: only its keyed hash is kept.
    client.session = client.session.as_deref().map(|s| session_visitor(key, s));
    client.context.agent = Some(crate::enrich::agent::classify(user_agent));
    client.context.country = state
        .config
        .geoip
        .as_ref()
        .and_then(|g| fields.ip.and_then(|ip| g.country(ip)));
    let user = match &client.kind {
        EventKind::Identify { user } => Some(user.clone()),
        _ => fields.user_id.clone(),
    };
    let links = user
        .map(|user| NewLink {
            a: visitor.clone(),
            b: format!("{USER_PREFIX}{user}"),
            kind: LinkKind::Login,
            confidence: 1.0,
            verified: true,
        })
        .into_iter()
        .collect();
    Ok(Event {
        site: site.to_string(),
        visitor,
        evidence,
        received: now,
        identity: IdentityEffects {
            fingerprint,
            links,
            observe_fingerprint: false,
            withdraw_fingerprint_links: false,
        },
        client,
    })
}

/// The visitor of a site session id: `ss_` and 32 hex digits of HMAC-SHA256 under the
/// site's key, so the session id itself is not stored and cannot be guessed from it.
fn session_visitor(key: &[u8], session: &str) -> String {
    let mut out = String::from(SESSION_PREFIX);
    if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) {
        mac.update(session.as_bytes());
        for b in mac.finalize().into_bytes().iter().take(16) {
            out.push_str(&format!("{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_whole() {
        assert!(same_key(b"0123456789abcdef", b"0123456789abcdef"));
        assert!(!same_key(b"0123456789abcdef", b"0123456789abcdeg"));
        assert!(!same_key(b"0123456789abcdef", b"0123456789abcde"));
        assert!(!same_key(b"0123456789abcdef", b""));
    }

    #[test]
    fn a_session_gives_a_stable_visitor_per_key() {
        let a = session_visitor(b"key-one-0123456789", "sess-1");
        assert_eq!(a, session_visitor(b"key-one-0123456789", "sess-1"));
        assert_ne!(a, session_visitor(b"key-one-0123456789", "sess-2"));
        assert_ne!(a, session_visitor(b"key-two-0123456789", "sess-1"));
        assert!(a.starts_with(SESSION_PREFIX) && a.len() == 35, "{a}");
    }
}
