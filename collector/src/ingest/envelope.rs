//! The first step of `/collect` and `/ingest`: the content type, the body and its size, the
//! envelope (`payload::parse_envelope`: nesting depth, JSON, batch size) and the configured
//! site. Each refusal is counted by its [`Refusal`]; a request refused before its envelope
//! is read counts as one item received.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};

use super::refusal::Refusal;
use crate::http::error::AppError;
use crate::payload::{Envelope, parse_envelope};
use crate::sites::Site;
use crate::state::AppState;

/// A batch past this step.
pub struct Opened<'s> {
    /// The parsed envelope; its items are counted as received.
    pub envelope: Envelope,
    /// The configured site it names.
    pub site: &'s Site,
    /// When it was received (the collector's clock).
    pub now: i64,
    /// The body, for readers of fields the envelope does not keep.
    pub body: Bytes,
}

/// Opens the request's batch; see the module docs.
pub fn open<'s>(
    state: &'s AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Opened<'s>, AppError> {
    let metrics = &state.metrics;
    let before_envelope = |refusal: Refusal| {
        metrics.received(1);
        refusal.count(metrics, 1)
    };
    check_content_type(headers).map_err(before_envelope)?;
    let body = body.map_err(|rejection| {
        before_envelope(if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Refusal::BodyTooLarge {
                limit: state.config.limits.max_body_bytes,
            }
        } else {
            Refusal::Body(rejection.body_text())
        })
    })?;
    let now = state.clock.now_ms();
    let envelope = parse_envelope(&body, now, &state.config.limits).map_err(|r| {
        before_envelope(Refusal::Envelope {
            code: r.code,
            reason: r.reason,
        })
    })?;
    let received = envelope.events.len();
    metrics.received(received);
    let Some(site) = state.config.sites.get(&envelope.site) else {
        return Err(Refusal::UnknownSite(envelope.site).count(metrics, received));
    };
    Ok(Opened {
        envelope,
        site,
        now,
        body,
    })
}

/// `sendBeacon` sends a string as `text/plain` (which needs no CORS preflight); API clients
/// may send `application/json`. Anything else is refused.
fn check_content_type(headers: &HeaderMap) -> Result<(), Refusal> {
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
        _ => Err(Refusal::ContentType(value.chars().take(100).collect())),
    }
}
