//! `POST /collect`: a batch of events from the beacon, through the steps of
//! [`ingest`](crate::ingest) in order: the client's rate limit (`429`,
//! [`ratelimit::layer`](crate::http::ratelimit::layer), before the body is read), the
//! envelope ([`envelope`]: content type `415`, body size `413`, envelope `400`, site
//! `400`), the `Origin` ([`origin`]: `403` when not the site's; `null` passes unless
//! `--refuse-opaque-origin`, and its batch is cookieless), bot traffic ([`bots`]: answered
//! `204` with `X-Spoor-Dropped: <reason>` and dropped; server-side clients send to
//! `/ingest` with a key instead), each event on its own ([`validate`]: a failure goes to
//! the bounded `failed_events` table; all failed is a `400` naming the first one's
//! field), DNT/GPC ([`privacy`]), what the request says about the client ([`enrich`]),
//! and the writer ([`submit`]), which resolves each event's visitor and commits. The
//! answer comes only once the batch is committed: `204`, or `200` with
//! `{"stored","duplicates","failed":[{"index","code","error"}]}` when some failed (the
//! beacon drops a batch on any 2xx or 4xx but 429, so a bad event never loops). It sets
//! the signed server cookie to the visitor the last event resolved to.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, IntoResponseParts, Response};
use axum_extra::extract::cookie::{Key, SignedCookieJar};
use serde::Serialize;

use crate::http::error::AppError;
use crate::http::extract::peer::Peer;
use crate::identity::server_cookie;
use crate::ingest::envelope::{self, Opened};
use crate::ingest::origin::{self, Origin};
use crate::ingest::submit::{self, Sender};
use crate::ingest::validate::{self, Pending};
use crate::ingest::{CookieAnswer, bots, enrich, privacy};
use crate::payload::EventFailure;
use crate::state::AppState;
use crate::store::InsertOutcome;

/// The header of a `204` that dropped the batch as bot traffic, naming the reason
/// (`no_beacon`, `crawler`, `headless`, `no_user_agent`; see [`bots`]).
pub const DROPPED_HEADER: &str = "x-spoor-dropped";

/// What `/collect` answers (`200`) when some events of a batch failed and the rest were
/// stored.
#[derive(Debug, Serialize)]
pub(super) struct PartlyStored {
    /// Events newly stored.
    pub(super) stored: usize,
    /// Events already stored before.
    pub(super) duplicates: usize,
    /// The events that failed, each with its index and reason.
    pub(super) failed: Vec<FailedView>,
}

/// One failed event in a [`PartlyStored`] answer.
#[derive(Debug, Serialize)]
pub(super) struct FailedView {
    pub(super) index: usize,
    pub(super) code: &'static str,
    pub(super) error: String,
}

/// The answer to a batch that was stored: `204`, or `200` listing the events that failed.
pub(super) fn answer(
    outcome: InsertOutcome,
    failures: Vec<EventFailure>,
    jar: impl IntoResponseParts,
) -> Response {
    if failures.is_empty() {
        return (jar, StatusCode::NO_CONTENT).into_response();
    }
    let answer = PartlyStored {
        stored: outcome.stored,
        duplicates: outcome.duplicates,
        failed: failures
            .into_iter()
            .map(|f| FailedView {
                index: f.index,
                code: f.code,
                error: f.reason,
            })
            .collect(),
    };
    (StatusCode::OK, jar, Json(answer)).into_response()
}

/// Receives a batch; see the module docs. Every item is counted in [`Metrics`] exactly
/// once, by its outcome.
///
/// [`Metrics`]: crate::metrics::Metrics
pub async fn collect(
    State(state): State<AppState>,
    peer: Peer,
    jar: SignedCookieJar,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let metrics = &state.metrics;
    let Opened {
        envelope,
        site,
        now,
        ..
    } = envelope::open(&state, &headers, body)?;
    let received = envelope.events.len();
    let origin = origin::check(&headers, site, state.config.refuse_opaque_origin)
        .map_err(|r| r.count(metrics, received))?;
    // A page with an opaque origin has no cookie jar of its own, and the answer to it
    // allows no credentials: its batch neither reads nor sets the server cookie (an empty
    // jar going in, and another coming out).
    let cookieless = || SignedCookieJar::new(Key::from_ref(&state));
    let jar = if origin == Origin::Opaque {
        metrics.opaque_origin_batch();
        cookieless()
    } else {
        jar
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Some(reason) = bots::filter(state.config.keep_bots, user_agent, envelope.from_beacon) {
        metrics.filtered(reason, received);
        tracing::debug!(site = %site.id, reason, events = received, "bot traffic filtered");
        // Still a 2xx, so a crawler has nothing to retry, but never a silent one: a
        // server-side client without a key reads why its events were not stored.
        return Ok((
            StatusCode::NO_CONTENT,
            [(DROPPED_HEADER, HeaderValue::from_static(reason))],
        )
            .into_response());
    }
    let (mut events, failures) = validate::split(&state, site, envelope.events);
    let mut pending = Pending {
        metrics,
        events: events.len(),
    };
    validate::settle_failures(&state, &site.id, &failures, events.len(), now).await?;
    let untracked = state.config.honor_dnt && privacy::asks_not_to_be_tracked(&headers);
    if untracked {
        privacy::drop_logins(&mut events, metrics);
        pending.events = events.len();
    }
    let valid = events.len();
    // Page views the loader sent when the wasm could not run, by why (payload::fallback).
    let fallbacks: Vec<&str> = events.iter().filter_map(|e| e.context.fallback).collect();
    let mut cookie = None;
    let outcome = if valid == 0 {
        InsertOutcome::default()
    } else {
        enrich::request(&state, &mut events, user_agent, peer.ip);
        let stored = if untracked {
            submit::untracked(&state, &site.id, peer.ip, user_agent, events, now).await
        } else {
            let sender = Sender {
                ip: peer.ip,
                user_agent,
                cookie: server_cookie::visitor(&jar),
                vouched: server_cookie::vouched(&jar),
            };
            submit::browser(&state, &site.id, sender, events, now)
                .await
                .map(|(outcome, answer)| {
                    cookie = answer;
                    outcome
                })
        };
        pending.events = 0;
        stored.inspect_err(|e| {
            let code = if e.status().is_server_error() {
                "unavailable"
            } else {
                "refused"
            };
            metrics.rejected(code, valid);
        })?
    };
    let jar = match (origin, cookie) {
        (Origin::Opaque, _) => cookieless(),
        (_, Some(CookieAnswer { visitor, vouched })) => jar.add(if vouched {
            server_cookie::cookie(visitor, peer.https)
        } else {
            server_cookie::claimed_cookie(visitor, peer.https)
        }),
        (_, None) => jar,
    };
    metrics.accepted(outcome.stored, outcome.duplicates);
    for reason in fallbacks {
        metrics.fallback_pageview(reason);
    }
    Ok(answer(outcome, failures, jar))
}
