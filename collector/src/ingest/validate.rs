//! The per-event step: each event of a batch is checked on its own (its fields were
//! checked by the envelope; here its page host against the site's, and an `identify`'s
//! signature against the site's identity secret), and the URLs of those kept are cut to
//! what may be stored ([`stored_url`]). An event that fails is counted (`failed`) and kept
//! in the bounded `failed_events` table; a batch of which none is valid is refused with
//! the first failure's reason. Until their outcome is counted, the valid events are
//! [`Pending`].

use crate::event::{ClientEvent, EventKind};
use crate::http::error::AppError;
use crate::identity::verify::{self, Verdict};
use crate::metrics::Metrics;
use crate::payload::{EventFailure, MAX_FAILED_RAW_BYTES, stored_url};
use crate::sites::Site;
use crate::state::AppState;
use crate::store::FailedEvent;

/// The events of a batch split into those kept (their URLs cut) and those that failed.
pub fn split(
    state: &AppState,
    site: &Site,
    events: Vec<Result<ClientEvent, EventFailure>>,
) -> (Vec<ClientEvent>, Vec<EventFailure>) {
    let keep = state.config.keep_query_params.for_site(&site.id);
    let mut kept = Vec::with_capacity(events.len());
    let mut failures = Vec::new();
    for (i, event) in events.into_iter().enumerate() {
        let checked = event
            .and_then(|e| check_hostname(i, e, site))
            .and_then(|e| check_signature(i, e, site, &state.config));
        match checked {
            Ok(mut e) => {
                // From here on only the URLs as they may be stored exist.
                stored_url::scrub_event(&mut e, keep, site);
                kept.push(e);
            }
            Err(failure) => failures.push(failure),
        }
    }
    (kept, failures)
}

/// Valid events of a request whose outcome is not counted yet; counted as rejected
/// (`cancelled`) if the request is dropped first. Such events may still be committed by the
/// writer, and a retry of them is deduplicated.
pub struct Pending<'a> {
    /// Where they are counted.
    pub metrics: &'a Metrics,
    /// How many are pending.
    pub events: usize,
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
pub async fn settle_failures(
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

/// An event counts for the site only if its page is on one of the site's hosts.
pub fn check_hostname(
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
