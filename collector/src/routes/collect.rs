//! `POST /collect`: a batch of events from the beacon.
//!
//! Validate the whole batch (any bad event refuses it with a 400 that names the field),
//! resolve each event's visitor, hand the batch to the ingest writer and answer `204` only
//! once it is committed. The response refreshes the signed server cookie.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum_extra::extract::cookie::SignedCookieJar;

use crate::clock::now_ms;
use crate::error::AppError;
use crate::event::Event;
use crate::extract::peer::Peer;
use crate::identity::{fingerprint, resolve, server_cookie};
use crate::payload::parse_batch;
use crate::state::AppState;

/// Largest body `/collect` reads; a larger one is answered `413` before it is read in full.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Receives a batch; see the module docs.
pub async fn collect(
    State(state): State<AppState>,
    peer: Peer,
    jar: SignedCookieJar,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(SignedCookieJar, StatusCode), AppError> {
    check_content_type(&headers)?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            }
        } else {
            AppError::BadRequest(rejection.body_text())
        }
    })?;
    let now = now_ms();
    let batch = parse_batch(&body, now).map_err(AppError::BadRequest)?;

    let cookie_visitor = server_cookie::visitor(&jar);
    let needs_fingerprint =
        cookie_visitor.is_none() && batch.events.iter().any(|e| e.client_id.is_none());
    let fingerprint_visitor = if needs_fingerprint {
        let salt = state.salts.for_time(now).await?;
        let user_agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        fingerprint::visitor_id(&salt, &batch.site, peer.ip, user_agent.unwrap_or(""))
    } else {
        String::new()
    };

    let events: Vec<Event> = batch
        .events
        .into_iter()
        .map(|client| {
            let r = resolve(
                client.client_id.as_deref(),
                cookie_visitor.as_deref(),
                || fingerprint_visitor.clone(),
            );
            Event {
                site: batch.site.clone(),
                client,
                visitor: r.visitor,
                evidence: r.evidence,
                received: now,
            }
        })
        .collect();
    let last_visitor = events.last().map(|e| e.visitor.clone());
    let outcome = state.ingest.submit(events).await?;
    tracing::debug!(site = %batch.site, stored = outcome.stored, duplicates = outcome.duplicates, "batch committed");

    let jar = match last_visitor {
        Some(visitor) => jar.add(server_cookie::cookie(visitor, peer.https)),
        None => jar,
    };
    Ok((jar, StatusCode::NO_CONTENT))
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
