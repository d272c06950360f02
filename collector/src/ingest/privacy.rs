//! The privacy step of `/collect`: with `--honor-dnt` (default on), a request carrying
//! `DNT: 1` or `Sec-GPC: 1` is stored without a cookie or any persistent id. Its
//! `identify` events, which name the person, are dropped (counted as filtered,
//! `dnt_identify`), and every other event is counted for today's cookieless fingerprint
//! visitor, which changes with the daily salt ([`untracked`]): the beacon's client id is
//! not stored and no link is made to any other visitor, so nothing persistent ties today's
//! visits to another day's.

use axum::http::HeaderMap;

use crate::event::{ClientEvent, Event, EventKind, IdentityEffects};
use crate::identity::Evidence;
use crate::metrics::Metrics;

/// Whether the request carries `DNT: 1` or `Sec-GPC: 1`.
pub fn asks_not_to_be_tracked(headers: &HeaderMap) -> bool {
    ["dnt", "sec-gpc"].iter().any(|name| {
        headers
            .get(*name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == "1")
    })
}

/// Drops the `identify` events of an untracked request, counting them.
pub fn drop_logins(events: &mut Vec<ClientEvent>, metrics: &Metrics) {
    let before = events.len();
    events.retain(|e| !matches!(e.kind, EventKind::Identify { .. }));
    metrics.filtered("dnt_identify", before - events.len());
}

/// The events of an untracked request of `site` received at `now`, each counted for
/// `fingerprint` (today's cookieless visitor), without its client id or reset.
pub fn untracked(site: &str, fingerprint: &str, events: Vec<ClientEvent>, now: i64) -> Vec<Event> {
    events
        .into_iter()
        .map(|mut client| {
            client.client_id = None;
            client.reset = false;
            Event {
                site: site.to_string(),
                visitor: fingerprint.to_string(),
                evidence: Evidence::Fingerprint,
                received: now,
                identity: IdentityEffects {
                    fingerprint: fingerprint.to_string(),
                    ..IdentityEffects::default()
                },
                client,
            }
        })
        .collect()
}
