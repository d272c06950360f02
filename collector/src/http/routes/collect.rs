//! `POST /collect`: a batch of events from the beacon.
//!
//! In order: the client's rate limit (`429`, [`ratelimit::layer`](crate::http::ratelimit::layer),
//! before the body is read), the content type (`415`), the body size
//! (`413`), the envelope (`400`: not JSON, nested too deep, empty, too many events), the
//! site (`400` when not configured) and the `Origin` (`403` when not the site's; `null`,
//! a page with an opaque origin, passes unless `--refuse-opaque-origin`, and its batch is
//! cookieless: see [`cors`](crate::http::cors)). Bot
//! traffic ([`bots`](crate::bots)) is then answered `204` with an `X-Spoor-Dropped: <reason>`
//! header and dropped; server-side clients send to `/ingest` with a key instead
//! ([`ingest`](super::ingest)). Each event is
//! validated on its own, its page host checked against the site's: one that fails goes to
//! the bounded `failed_events` table. The URLs of the events kept are cut to what may be
//! stored ([`stored_url`]). If every event failed the answer is a `400` naming
//! the first one's field; otherwise the valid ones are stored and the answer is `204`, or
//! `200` with `{"stored","duplicates","failed":[{"index","code","error"}]}` when some
//! failed (the beacon drops a batch on any 2xx or 4xx but 429, so a bad event never loops).
//!
//! With `honor_dnt` on, a request carrying `DNT: 1` or `Sec-GPC: 1` is stored without a
//! cookie or any persistent id (see `store_untracked`); its `identify` events, which name
//! the person, are dropped (counted as filtered, `dnt_identify`).
//!
//! Storing: hand the batch with what the request says about its sender (cookie, network
//! fingerprints) to the ingest writer, which resolves each event's visitor
//! ([`ingest::resolve`](crate::ingest::resolve)) and commits it, and answer only once it
//! is committed. The response sets the signed server cookie to the visitor the last event
//! resolved to; within the batch, each event is read against the cookie the previous one
//! left.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Key, SignedCookieJar};
use serde::Serialize;

use crate::bots;
use crate::event::{Batch, ClientEvent, Event, EventKind, IdentityEffects};
use crate::http::error::AppError;
use crate::http::extract::peer::Peer;
use crate::identity::resolver::Options;
use crate::identity::verify::{self, Verdict};
use crate::identity::{Evidence, fingerprint, server_cookie};
use crate::ingest::{BrowserBatch, CookieAnswer};
use crate::metrics::Metrics;
use crate::payload::{Envelope, EventFailure, MAX_FAILED_RAW_BYTES, parse_envelope, stored_url};
use crate::sites::Site;
use crate::state::AppState;
use crate::store::{FailedEvent, InsertOutcome};

/// The header of a `204` that dropped the batch as bot traffic, naming the reason
/// (`no_beacon`, `crawler`, `headless`, `no_user_agent`; see [`bots`](crate::bots)).
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

/// A batch past the checks `/collect` and `/ingest` share.
pub(super) struct Opened<'s> {
    /// The parsed envelope; its items are counted as received.
    pub(super) envelope: Envelope,
    /// The configured site it names.
    pub(super) site: &'s Site,
    /// When it was received (the collector's clock).
    pub(super) now: i64,
    /// The body, for readers of fields the envelope does not keep.
    pub(super) body: Bytes,
}

/// The steps `/collect` and `/ingest` take alike, in order: the content type, the body and
/// its size, the envelope, the configured site. Each refusal is counted by its reason (a
/// request refused before its envelope is read counts as one item).
pub(super) fn open_batch<'s>(
    state: &'s AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Opened<'s>, AppError> {
    let metrics = &state.metrics;
    let refuse = |code: &str, error: AppError| {
        metrics.received(1);
        metrics.rejected(code, 1);
        error
    };
    check_content_type(headers).map_err(|e| refuse("content_type", e))?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            let limit = state.config.limits.max_body_bytes;
            refuse("body_too_large", AppError::PayloadTooLarge { limit })
        } else {
            refuse("body", AppError::BadRequest(rejection.body_text()))
        }
    })?;
    let now = state.clock.now_ms();
    let envelope = parse_envelope(&body, now, &state.config.limits)
        .map_err(|r| refuse(r.code, AppError::BadRequest(r.reason)))?;
    let received = envelope.events.len();
    metrics.received(received);
    let Some(site) = state.config.sites.get(&envelope.site) else {
        metrics.rejected("unknown_site", received);
        return Err(AppError::BadRequest(format!(
            "site: {:?} is not a configured site",
            envelope.site
        )));
    };
    Ok(Opened {
        envelope,
        site,
        now,
        body,
    })
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
    } = open_batch(&state, &headers, body)?;
    let received = envelope.events.len();
    let opaque = match check_origin(&headers, site, state.config.refuse_opaque_origin) {
        Ok(opaque) => opaque,
        Err((code, e)) => {
            metrics.rejected(code, received);
            return Err(e);
        }
    };
    // A page with an opaque origin has no cookie jar of its own, and the answer to it
    // allows no credentials: its batch neither reads nor sets the server cookie (an empty
    // jar going in, and another coming out).
    let cookieless = || SignedCookieJar::new(Key::from_ref(&state));
    let jar = if opaque {
        metrics.opaque_origin_batch();
        cookieless()
    } else {
        jar
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !state.config.keep_bots {
        let bot = bots::classify(user_agent).or((!envelope.from_beacon).then_some("no_beacon"));
        if let Some(reason) = bot {
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
    }

    let mut events = Vec::with_capacity(received);
    let mut failures = Vec::new();
    let keep = state.config.keep_query_params.for_site(&site.id);
    for (i, event) in envelope.events.into_iter().enumerate() {
        let checked = event
            .and_then(|e| check_hostname(i, e, site))
            .and_then(|e| check_signature(i, e, site, &state.config));
        match checked {
            Ok(mut e) => {
                // From here on only the URLs as they may be stored exist.
                stored_url::scrub_event(&mut e, keep, site);
                events.push(e);
            }
            Err(failure) => failures.push(failure),
        }
    }
    // Until their outcome is counted, the valid events are pending: if the request is
    // dropped on the way (client gone, request timeout) they count as `cancelled`.
    let mut pending = Pending {
        metrics,
        events: events.len(),
    };
    settle_failures(&state, &site.id, &failures, events.len(), now).await?;
    let untracked = state.config.honor_dnt && asks_not_to_be_tracked(&headers);
    if untracked {
        // A login names the person: under DNT/GPC it is not kept at all.
        let before = events.len();
        events.retain(|e| !matches!(e.kind, EventKind::Identify { .. }));
        metrics.filtered("dnt_identify", before - events.len());
        pending.events = events.len();
    }
    let valid = events.len();
    // Page views the loader sent when the wasm could not run, by why (payload::fallback).
    let fallbacks: Vec<&str> = events.iter().filter_map(|e| e.context.fallback).collect();
    let (jar, outcome) = if valid == 0 {
        (jar, InsertOutcome::default())
    } else {
        // What the request itself says about the client: its browser, OS and device from
        // the User-Agent, its country from the address (with GeoIP). Neither is stored raw.
        let agent = crate::enrich::agent::classify(user_agent);
        let country = state.config.geoip.as_ref().and_then(|g| g.country(peer.ip));
        for e in &mut events {
            e.context.agent = Some(agent);
            e.context.country.clone_from(&country);
        }
        let batch = Batch {
            site: site.id.clone(),
            events,
        };
        let stored = if untracked {
            store_untracked(&state, peer, user_agent, batch, now)
                .await
                .map(|outcome| (jar, outcome))
        } else {
            store_batch(&state, peer, jar, user_agent, batch, now).await
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
    let jar = if opaque { cookieless() } else { jar };
    metrics.accepted(outcome.stored, outcome.duplicates);
    for reason in fallbacks {
        metrics.fallback_pageview(reason);
    }
    if failures.is_empty() {
        return Ok((jar, StatusCode::NO_CONTENT).into_response());
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
    Ok((StatusCode::OK, jar, Json(answer)).into_response())
}

/// Valid events of a request whose outcome is not counted yet; counted as rejected
/// (`cancelled`) if the request is dropped first. Such events may still be committed by the
/// writer, and a retry of them is deduplicated.
pub(super) struct Pending<'a> {
    pub(super) metrics: &'a Metrics,
    pub(super) events: usize,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.events > 0 {
            self.metrics.rejected("cancelled", self.events);
        }
    }
}

/// Counts the events of a batch that `failures` lists and keeps them in the store's
/// bounded `failed_events` table; when no event of the batch is `valid`, refuses it with
/// the first failure's reason. A store error is logged and not passed on: the events are
/// refused either way, and the client's answer says why.
pub(super) async fn settle_failures(
    state: &AppState,
    site: &str,
    failures: &[EventFailure],
    valid: usize,
    now: i64,
) -> Result<(), AppError> {
    if !failures.is_empty() {
        for failure in failures {
            state.metrics.failed(failure.code, 1);
        }
        record_failures(state, site, failures, now).await;
    }
    if valid == 0 {
        let reason = failures
            .first()
            .map(|f| f.reason.clone())
            .unwrap_or_default();
        return Err(AppError::BadRequest(reason));
    }
    Ok(())
}

/// Keeps `failures` in the store's bounded `failed_events` table, logging a store error.
async fn record_failures(state: &AppState, site: &str, failures: &[EventFailure], now: i64) {
    let rows: Vec<FailedEvent> = failures
        .iter()
        .map(|f| FailedEvent {
            received_ms: now,
            site: site.to_string(),
            reason_code: f.code.to_string(),
            reason: f.reason.clone(),
            raw: f.raw.clone(),
        })
        .collect();
    let keep = state.config.failed_events_max;
    if let Err(e) = state.store.append_failed(rows, keep).await {
        tracing::warn!(error = %e, "could not record failed events");
    }
}

/// Whether the request carries `DNT: 1` or `Sec-GPC: 1`.
fn asks_not_to_be_tracked(headers: &HeaderMap) -> bool {
    ["dnt", "sec-gpc"].iter().any(|name| {
        headers
            .get(*name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == "1")
    })
}

/// Stores the batch of a browser that asked not to be tracked (with `honor_dnt` on): every
/// event is counted for today's cookieless fingerprint visitor, which changes with the
/// daily salt. No cookie is read or set, the beacon's client id is not stored, and no link
/// is made to any other visitor (`identify` events were dropped before): nothing persistent
/// ties today's visits to another day's.
async fn store_untracked(
    state: &AppState,
    peer: Peer,
    user_agent: &str,
    batch: Batch,
    now: i64,
) -> Result<InsertOutcome, AppError> {
    let salt = state.salts.for_time(now).await?;
    let fingerprint = fingerprint::visitor_id(&salt, &batch.site, peer.ip, user_agent);
    let events = batch
        .events
        .into_iter()
        .map(|mut client| {
            client.client_id = None;
            client.reset = false;
            Event {
                site: batch.site.clone(),
                visitor: fingerprint.clone(),
                evidence: Evidence::Fingerprint,
                received: now,
                identity: IdentityEffects {
                    fingerprint: fingerprint.clone(),
                    ..IdentityEffects::default()
                },
                client,
            }
        })
        .collect();
    Ok(state.ingest.submit(events).await?)
}

/// Hands the batch to the ingest writer, which resolves each event's visitor
/// ([`ingest::resolve`](crate::ingest::resolve)) and stores it; answers with the jar
/// holding the cookie the last event left, once the batch is committed.
async fn store_batch(
    state: &AppState,
    peer: Peer,
    jar: SignedCookieJar,
    user_agent: &str,
    batch: Batch,
    now: i64,
) -> Result<(SignedCookieJar, InsertOutcome), AppError> {
    let salt = state.salts.for_time(now).await?;
    let fingerprint = fingerprint::visitor_id(&salt, &batch.site, peer.ip, user_agent);
    let yesterday_salt = state.salts.for_day_before(now).await?;
    let yesterday = fingerprint::visitor_id(&yesterday_salt, &batch.site, peer.ip, user_agent);
    let site = batch.site.clone();
    let browser = BrowserBatch {
        site: batch.site,
        events: batch.events,
        received: now,
        cookie: server_cookie::visitor(&jar),
        vouched: server_cookie::vouched(&jar),
        fingerprint,
        yesterday,
        options: Options {
            recovery: !state.config.strict_identity,
            max_ids_per_cookie: state.config.max_ids_per_cookie,
        },
    };
    let (outcome, resolution) = state.ingest.submit_browser(browser).await?;
    tracing::debug!(site = %site, stored = outcome.stored, duplicates = outcome.duplicates, "batch committed");
    state.metrics.identity_links_capped(resolution.capped);
    let jar = match resolution.cookie {
        Some(CookieAnswer {
            visitor,
            vouched: true,
        }) => jar.add(server_cookie::cookie(visitor, peer.https)),
        Some(CookieAnswer { visitor, .. }) => {
            jar.add(server_cookie::claimed_cookie(visitor, peer.https))
        }
        None => jar,
    };
    Ok((jar, outcome))
}

/// A browser names the page's origin on every cross-origin request (and on same-origin
/// POSTs); when it does, it must be one of the site's hosts, or `null` for a page with an
/// opaque origin unless `refuse_opaque` (then refused as `opaque_origin`). `Ok(true)` for
/// an opaque origin; a refusal comes with its metrics reason.
fn check_origin(
    headers: &HeaderMap,
    site: &Site,
    refuse_opaque: bool,
) -> Result<bool, (&'static str, AppError)> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(false);
    };
    let origin = origin.to_str().unwrap_or("");
    if origin == crate::http::cors::OPAQUE {
        return if refuse_opaque {
            Err((
                "opaque_origin",
                AppError::Forbidden(
                    "origin: null (an opaque origin, such as a sandboxed frame) is refused \
                     by --refuse-opaque-origin"
                        .into(),
                ),
            ))
        } else {
            Ok(true)
        };
    }
    if site.allows_origin(origin) {
        Ok(false)
    } else {
        Err((
            "origin",
            AppError::Forbidden(format!(
                "origin: {:?} is not one of site {:?}'s hosts",
                origin.chars().take(100).collect::<String>(),
                site.id
            )),
        ))
    }
}

/// An event counts for the site only if its page is on one of the site's hosts.
pub(super) fn check_hostname(
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
        raw: stored_url::strip(&event.url, &[])
            .chars()
            .take(MAX_FAILED_RAW_BYTES)
            .collect(),
    })
}

/// An `identify` event's signature against the site's identity secret
/// ([`verify`](crate::identity::verify)): a wrong one, a missing one where the site requires
/// signatures, or one the site has no secret for fails the event, and it is never linked.
/// What passes keeps its signature only when it is verified, so from here on
/// `signature.is_some()` means "the site signed this user id".
fn check_signature(
    index: usize,
    mut event: ClientEvent,
    site: &Site,
    config: &crate::config::Config,
) -> Result<ClientEvent, EventFailure> {
    let EventKind::Identify { user } = &event.kind else {
        return Ok(event);
    };
    let secret = config.identify_secrets.get(&site.id);
    let required = config.identify_required.contains(&site.id);
    match verify::check(secret, required, user, event.signature.as_deref()) {
        Verdict::Verified => Ok(event),
        Verdict::Unsigned => {
            event.signature = None;
            Ok(event)
        }
        Verdict::Refused(refusal) => Err(EventFailure {
            index,
            code: refusal.code(),
            reason: format!("events[{index}].sig: {}", refusal.reason(&site.id)),
            // The user id is the site's, the signature a credential: neither is kept.
            raw: serde_json::json!({"type": "identify", "url": event.url})
                .to_string()
                .chars()
                .take(MAX_FAILED_RAW_BYTES)
                .collect(),
        }),
    }
}

/// `sendBeacon` sends a string as `text/plain` (which needs no CORS preflight); API clients
/// may send `application/json`. Anything else is refused.
pub(super) fn check_content_type(headers: &HeaderMap) -> Result<(), AppError> {
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
