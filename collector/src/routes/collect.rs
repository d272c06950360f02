//! `POST /collect`: a batch of events from the beacon.
//!
//! Validate the whole batch (any bad event refuses it with a 400 that names the field),
//! resolve each event's visitor with [`resolver`](crate::identity::resolver) (signals from
//! the request, memory from the store), hand the batch and the resolution's side effects to
//! the ingest writer and answer `204` only once it is committed. The response sets the
//! signed server cookie to the visitor the last event resolved to; within the batch, each
//! event is read against the cookie the previous one left.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum_extra::extract::cookie::SignedCookieJar;

use crate::error::AppError;
use crate::event::{Batch, ClientEvent, Event, EventKind, IdentityEffects};
use crate::extract::peer::Peer;
use crate::identity::resolver::{Memory, Options, Signals, resolve};
use crate::identity::salt::DAY_MS;
use crate::identity::{fingerprint, server_cookie};
use crate::payload::{EventFailure, MAX_FAILED_RAW_BYTES, parse_envelope};
use crate::sites::Site;
use crate::state::AppState;

/// Receives a batch; see the module docs.
pub async fn collect(
    State(state): State<AppState>,
    peer: Peer,
    jar: SignedCookieJar,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(SignedCookieJar, StatusCode), AppError> {
    state
        .rate_limiter
        .check(peer.ip, state.clock.now_ms())
        .map_err(|retry_after_secs| AppError::RateLimited { retry_after_secs })?;
    check_content_type(&headers)?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge {
                limit: state.config.limits.max_body_bytes,
            }
        } else {
            AppError::BadRequest(rejection.body_text())
        }
    })?;
    let now = state.clock.now_ms();
    let envelope = parse_envelope(&body, now, &state.config.limits)
        .map_err(|rejection| AppError::BadRequest(rejection.reason))?;
    let site = state.config.sites.get(&envelope.site).ok_or_else(|| {
        AppError::BadRequest(format!(
            "site: {:?} is not a configured site",
            envelope.site
        ))
    })?;
    check_origin(&headers, site)?;
    let batch = Batch {
        site: envelope.site,
        events: envelope
            .events
            .into_iter()
            .enumerate()
            .map(|(i, event)| event.and_then(|e| check_hostname(i, e, site)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|failure| AppError::BadRequest(failure.reason))?,
    };

    let cookie_visitor = server_cookie::visitor(&jar);
    let salt = state.salts.for_time(now).await?;
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let fingerprint = fingerprint::visitor_id(&salt, &batch.site, peer.ip, user_agent);
    let memories = read_memories(&state, &batch, &fingerprint, now).await?;
    let options = Options {
        recovery: !state.config.strict_identity,
    };

    // Within a batch the cookie moves on as the response will move it, so the events after
    // a `reset` (or after a provisional cookie yielded) are read against the new visitor.
    let mut cookie = cookie_visitor;
    let mut events = Vec::with_capacity(batch.events.len());
    for client in batch.events {
        let user = match &client.kind {
            EventKind::Identify { user } => Some(user.as_str()),
            _ => None,
        };
        let signals = Signals {
            server_cookie: cookie.as_deref(),
            client_id: client.client_id.as_deref(),
            user,
            reset: client.reset,
            fingerprint: &fingerprint,
            now_ms: now,
        };
        let memory = memories.get(&client.client_id).cloned().unwrap_or_default();
        let outcome = resolve(&signals, &memory, options);
        cookie = Some(outcome.cookie.clone());
        events.push(Event {
            site: batch.site.clone(),
            visitor: outcome.visitor,
            evidence: outcome.evidence,
            received: now,
            identity: IdentityEffects {
                fingerprint: fingerprint.clone(),
                links: outcome.links,
                observe_fingerprint: outcome.observe_fingerprint,
                withdraw_fingerprint_links: outcome.withdraw_fingerprint_links,
            },
            client,
        });
    }
    let outcome = state.ingest.submit(events).await?;
    tracing::debug!(site = %batch.site, stored = outcome.stored, duplicates = outcome.duplicates, "batch committed");

    let jar = match cookie {
        Some(visitor) => jar.add(server_cookie::cookie(visitor, peer.https)),
        None => jar,
    };
    Ok((jar, StatusCode::NO_CONTENT))
}

/// What the store remembers for each distinct client id of the batch (all behind the same
/// fingerprint), read in one blocking task: one query per distinct client id.
async fn read_memories(
    state: &AppState,
    batch: &Batch,
    fingerprint: &str,
    now: i64,
) -> Result<HashMap<Option<String>, Memory>, AppError> {
    let mut ids: Vec<Option<String>> = batch.events.iter().map(|e| e.client_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let store = state.store.clone();
    let site = batch.site.clone();
    let fingerprint = fingerprint.to_string();
    let day = now.div_euclid(DAY_MS);
    tokio::task::spawn_blocking(move || {
        ids.into_iter()
            .map(|id| {
                let memory = store.identity_memory(&site, id.as_deref(), &fingerprint, day)?;
                Ok((id, memory))
            })
            .collect::<Result<HashMap<_, _>, crate::store::StoreError>>()
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?
    .map_err(AppError::from)
}

/// A browser names the page's origin on every cross-origin request (and on same-origin
/// POSTs); when it does, it must be one of the site's hosts.
fn check_origin(headers: &HeaderMap, site: &Site) -> Result<(), AppError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("");
    if site.allows_origin(origin) {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "origin: {:?} is not one of site {:?}'s hosts",
            origin.chars().take(100).collect::<String>(),
            site.id
        )))
    }
}

/// An event counts for the site only if its page is on one of the site's hosts.
fn check_hostname(
    index: usize,
    event: ClientEvent,
    site: &Site,
) -> Result<ClientEvent, EventFailure> {
    if site.allows_host(&event.hostname) {
        return Ok(event);
    }
    Err(EventFailure {
        index,
        code: "hostname",
        reason: format!(
            "events[{index}].url: host {:?} is not one of site {:?}'s hosts",
            event.hostname, site.id
        ),
        raw: event.url.chars().take(MAX_FAILED_RAW_BYTES).collect(),
    })
}

/// `sendBeacon` sends a string as `text/plain` (which needs no CORS preflight); API clients
/// may send `application/json`. Anything else is refused.
fn check_content_type(headers: &HeaderMap) -> Result<(), AppError> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "text/plain" | "application/json" => Ok(()),
        _ => Err(AppError::UnsupportedMediaType(
            value.chars().take(100).collect(),
        )),
    }
}
