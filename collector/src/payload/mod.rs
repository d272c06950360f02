//! The `/collect` wire format and its validation.
//!
//! [`parse_envelope`] turns a request body into a site id and, for each event, either a
//! [`ClientEvent`] whose every field has been checked or an [`EventFailure`] with a reason
//! the client can act on. A body that is not a batch at all (not JSON, nested too deep, no
//! events, too many events, a bad site id) is a [`Rejection`] of the whole request. It is a
//! pure function of the bytes, the current time and the [`Limits`], so it is tested
//! without HTTP. [`parse_batch`] is the strict reading (any bad event fails the batch) with
//! the default limits.
//!
//! This module owns the wire structs and the fields every event has. The rest is split by
//! concept:
//! - [`limits`]: how much a request may carry, and the nesting-depth pre-check;
//! - [`kind`]: the `type`, and the fields that come with each type;
//! - [`props`]: the flat properties of a custom event;
//! - [`context`]: screen, language and time zone;
//! - [`utm`]: campaign tags read from the page URL;
//! - [`stored_url`]: what of a URL is stored (no raw query, no fragment);
//! - [`server`]: the fields only an authenticated server-side client may send (`/ingest`);
//! - [`fallback`]: the `nowasm` mark of page views the loader sent without the wasm;
//! - `rules`: the checks several fields share (ids, labels, URLs, cutting text).
//!
//! A field that breaks its rule fails its event with a reason that names it
//! (`events[3].props.color: …`). The context fields are the exception: they are cosmetic,
//! so an invalid one is dropped and the event kept.

pub mod context;
pub mod fallback;
pub mod kind;
pub mod limits;
pub mod props;
mod rules;
pub mod server;
pub mod stored_url;
pub mod utm;

use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::event::{Batch, ClientEvent};
pub use limits::Limits;
use rules::{check_http_url, check_token, optional_token, truncate_bytes, truncate_chars};

/// Longest client id or session id accepted.
pub const MAX_ID_LEN: usize = 64;
/// Longest site id accepted.
pub const MAX_SITE_LEN: usize = 64;
/// Earliest timestamp accepted (2020-01-01T00:00:00Z): older ones are a broken clock.
pub const MIN_TS_MS: i64 = 1_577_836_800_000;
/// Longest piece of a failed event's JSON kept for the operator, in bytes.
pub const MAX_FAILED_RAW_BYTES: usize = 4096;

/// A batch as it arrives on the wire: the events are read one by one, so one bad event
/// does not hide the good ones beside it.
#[derive(Debug, Deserialize)]
struct BatchWire {
    site: String,
    events: Vec<Value>,
}

/// One event as it arrives on the wire. Unknown fields are ignored, so newer beacons can
/// talk to older collectors.
///
/// The fields after `ts` are kept as raw JSON and checked by hand: the context fields so
/// that a bad one can be dropped rather than fail the event, the type's fields so that a
/// wrong JSON type gets a reason naming the field. Absent and `null` are the same.
#[derive(Debug, Deserialize)]
struct EventWire {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    url: String,
    #[serde(default)]
    referrer: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    visitor: Option<String>,
    #[serde(default)]
    session: Option<String>,
    ts: i64,
    /// Context: screen size.
    #[serde(default)]
    screen: Option<Value>,
    /// Context: language tag.
    #[serde(default)]
    lang: Option<Value>,
    /// Context: time zone.
    #[serde(default)]
    tz: Option<Value>,
    /// `engagement`: the page view's event id.
    #[serde(default)]
    pageview: Option<Value>,
    /// `engagement`: milliseconds visible.
    #[serde(default)]
    visible_ms: Option<Value>,
    /// `engagement`: deepest scroll in percent.
    #[serde(default)]
    scroll: Option<Value>,
    /// `custom`: the event name.
    #[serde(default)]
    name: Option<Value>,
    /// `custom`: flat properties.
    #[serde(default)]
    props: Option<Value>,
    /// `outbound` and `download`: the link's URL.
    #[serde(default)]
    target: Option<Value>,
    /// `identify`: the site's user id.
    #[serde(default)]
    user: Option<Value>,
    /// `identify`: the site's signature of the user id, hex HMAC-SHA256.
    #[serde(default)]
    sig: Option<Value>,
    /// Any type: sent right after `spoor.reset()`; a boolean.
    #[serde(default)]
    reset: Option<Value>,
    /// Any type: sent by the loader's fallback when the wasm could not run; why.
    #[serde(default)]
    nowasm: Option<Value>,
}

/// Why a whole request was refused: a stable `code` for metrics and a reason for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// `invalid_json`, `too_deep`, `empty_batch`, `too_many_events` or `invalid_site`.
    pub code: &'static str,
    /// What to fix, for the client.
    pub reason: String,
}

/// One event of a batch that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFailure {
    /// Its index in the batch.
    pub index: usize,
    /// A stable code: `invalid_event` (a field broke its rule), `timestamp` (`ts` out of
    /// bounds) or, set by the handler, `hostname` (a page not of the site).
    pub code: &'static str,
    /// What to fix, naming the field (`events[3].props.color: …`).
    pub reason: String,
    /// The event's JSON, its URLs cut as stored ones are
    /// ([`stored_url::scrub_failed`]), cut to [`MAX_FAILED_RAW_BYTES`], for the operator.
    pub raw: String,
}

/// A batch whose envelope is sound; each event is checked on its own.
#[derive(Debug)]
pub struct Envelope {
    /// The site id (checked as a token, not yet against the configured sites).
    pub site: String,
    /// Each event in order: checked, or why not.
    pub events: Vec<Result<ClientEvent, EventFailure>>,
    /// Whether any event carries a `screen` field, which only a running beacon fills: a
    /// batch without one was not sent by the beacon.
    pub from_beacon: bool,
}

/// Parses a `/collect` body under `limits`; `now_ms` bounds the accepted timestamps.
pub fn parse_envelope(body: &[u8], now_ms: i64, limits: &Limits) -> Result<Envelope, Rejection> {
    let reject = |code, reason| Rejection { code, reason };
    if limits::too_deep(body, limits.max_json_depth) {
        return Err(reject(
            "too_deep",
            format!("JSON nested deeper than {} levels", limits.max_json_depth),
        ));
    }
    let wire: BatchWire = serde_json::from_slice(body)
        .map_err(|e| reject("invalid_json", format!("invalid JSON body: {e}")))?;
    check_token("site", &wire.site, MAX_SITE_LEN).map_err(|r| reject("invalid_site", r))?;
    if wire.events.is_empty() {
        return Err(reject("empty_batch", "events: the batch is empty".into()));
    }
    if wire.events.len() > limits.max_events {
        return Err(reject(
            "too_many_events",
            format!(
                "events: {} events in one batch, at most {} allowed",
                wire.events.len(),
                limits.max_events
            ),
        ));
    }
    let from_beacon = wire
        .events
        .iter()
        .any(|e| e.get("screen").is_some_and(|s| !s.is_null()));
    let events = wire
        .events
        .into_iter()
        .enumerate()
        .map(|(index, value)| {
            let fail = |code, reason: String| EventFailure {
                index,
                code,
                reason: format!("events[{index}]{reason}"),
                raw: truncate_bytes(
                    stored_url::scrub_failed(&value).to_string(),
                    MAX_FAILED_RAW_BYTES,
                ),
            };
            let wire = EventWire::deserialize(&value)
                .map_err(|e| fail("invalid_event", format!(": {e}")))?;
            validate_event(wire, now_ms, limits).map_err(|(code, r)| fail(code, format!(".{r}")))
        })
        .collect();
    Ok(Envelope {
        site: wire.site,
        events,
        from_beacon,
    })
}

/// Parses and validates a `/collect` body under the default limits, strictly: any bad
/// event fails the batch. The error is a reason meant for the client, naming the field.
pub fn parse_batch(body: &[u8], now_ms: i64) -> Result<Batch, String> {
    let envelope = parse_envelope(body, now_ms, &Limits::default()).map_err(|r| r.reason)?;
    let events = envelope
        .events
        .into_iter()
        .map(|e| e.map_err(|f| f.reason))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Batch {
        site: envelope.site,
        events,
    })
}

fn validate_event(
    e: EventWire,
    now_ms: i64,
    limits: &Limits,
) -> Result<ClientEvent, (&'static str, String)> {
    let invalid = |r: String| ("invalid_event", r);
    let id = Uuid::try_parse(&e.id)
        .map_err(|_| invalid(format!("id: {:?} is not a UUID", truncate_chars(&e.id, 40))))?;
    let kind = kind::parse(&e, limits).map_err(invalid)?;
    let signature = kind::signature(&e).map_err(invalid)?;
    let parsed = check_http_url("url", &e.url, limits.max_url_bytes).map_err(invalid)?;
    let hostname = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    let earliest = MIN_TS_MS.max(now_ms.saturating_sub(limits.max_event_age_ms));
    if e.ts < earliest || e.ts > now_ms.saturating_add(limits.max_clock_ahead_ms) {
        return Err((
            "timestamp",
            format!(
                "ts: {} is not a plausible Unix time in milliseconds (accepted: {earliest} to {})",
                e.ts,
                now_ms.saturating_add(limits.max_clock_ahead_ms)
            ),
        ));
    }
    let client_id = optional_token("visitor", e.visitor).map_err(invalid)?;
    if client_id
        .as_deref()
        .is_some_and(|id| id.starts_with(crate::identity::fingerprint::PREFIX))
    {
        // Provisional cookieless visitors are named `fp_…` by the collector alone: a
        // client that could pick such a name could pose as one.
        return Err(invalid(format!(
            "visitor: the prefix {:?} is reserved for the collector's provisional visitors",
            crate::identity::fingerprint::PREFIX
        )));
    }
    let session = optional_token("session", e.session).map_err(invalid)?;
    let reset = match &e.reset {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("reset: must be a boolean".into())),
    };
    let mut context = context::parse(e.screen.as_ref(), e.lang.as_ref(), e.tz.as_ref());
    if matches!(kind, crate::event::EventKind::Pageview) {
        context.fallback = fallback::reason(e.nowasm.as_ref());
    }
    Ok(ClientEvent {
        reset,
        signature,
        id,
        kind,
        path: parsed.path().to_string(),
        hostname,
        utm: utm::from_url(&parsed),
        url: e.url,
        referrer: e
            .referrer
            .filter(|r| !r.is_empty())
            .map(|r| truncate_bytes(r, limits.max_url_bytes)),
        title: e
            .title
            .filter(|t| !t.is_empty())
            .map(|t| truncate_chars(&t, limits.max_title_chars)),
        client_id,
        session,
        ts: e.ts,
        context,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Context, EventKind, Utm};
    use proptest::prelude::*;

    const NOW: i64 = 1_780_000_000_000;
    const ID: &str = "6f1c2d8e-3b7a-4c1e-9f00-0123456789ab";

    fn body(event: &str) -> String {
        format!(r#"{{"site":"demo","events":[{event}]}}"#)
    }

    fn pageview() -> String {
        format!(
            r#"{{"id":"{ID}","type":"pageview","url":"https://example.com/pricing?x=1#top",
               "referrer":"https://search.example/","title":"Pricing","visitor":"v-1",
               "session":null,"ts":{NOW}}}"#
        )
    }

    #[test]
    fn a_good_batch_is_parsed() -> Result<(), String> {
        let batch = parse_batch(body(&pageview()).as_bytes(), NOW)?;
        assert_eq!(batch.site, "demo");
        let e = &batch.events[0];
        assert_eq!(e.id.to_string(), ID);
        assert_eq!(e.kind, EventKind::Pageview);
        assert_eq!(
            (e.hostname.as_str(), e.path.as_str()),
            ("example.com", "/pricing")
        );
        assert_eq!(e.client_id.as_deref(), Some("v-1"));
        assert_eq!(e.session, None);
        assert_eq!(e.context, Context::default());
        assert_eq!(e.utm, Utm::default());
        Ok(())
    }

    #[test]
    fn context_is_kept_when_valid_and_dropped_when_not() -> Result<(), String> {
        let with_context = |screen: &str, lang: &str, tz: &str| {
            pageview().replace(
                r#""ts":"#,
                &format!(r#""screen":{screen},"lang":{lang},"tz":{tz},"ts":"#),
            )
        };
        let good = with_context(r#""1920x1080""#, r#""de-CH""#, r#""Europe/Zurich""#);
        let bad = with_context(r#""big""#, "42", r#""Europe/Zürich""#);
        let batch = parse_batch(body(&format!("{good},{bad}")).as_bytes(), NOW)?;
        assert_eq!(
            batch.events[0].context,
            Context {
                screen: Some("1920x1080".into()),
                lang: Some("de-CH".into()),
                tz: Some("Europe/Zurich".into()),
                agent: None,
                country: None,
                fallback: None,
            }
        );
        assert_eq!(
            batch.events[1].context,
            Context::default(),
            "invalid context is dropped and the event kept"
        );
        Ok(())
    }

    #[test]
    fn utm_tags_come_from_the_url_of_every_event_type() -> Result<(), String> {
        let url = "https://example.com/?utm_source=news&utm_campaign=spring%20sale";
        let events = [
            pageview(),
            pageview().replace(r#""type":"pageview""#, r#""type":"custom","name":"signup""#),
        ]
        .map(|e| e.replace("https://example.com/pricing?x=1#top", url))
        .join(",");
        let batch = parse_batch(body(&events).as_bytes(), NOW)?;
        for e in &batch.events {
            assert_eq!(e.utm.source.as_deref(), Some("news"), "{}", e.kind.as_str());
            assert_eq!(e.utm.campaign.as_deref(), Some("spring sale"));
            assert_eq!(e.utm.medium, None);
        }
        Ok(())
    }

    #[test]
    fn the_index_of_the_bad_event_is_named() {
        let bad = pageview().replace(r#""type":"pageview""#, r#""type":"engagement""#);
        let events = [pageview(), pageview(), bad].join(",");
        let got = parse_batch(body(&events).as_bytes(), NOW)
            .err()
            .unwrap_or_default();
        assert_eq!(got, "events[2].pageview: required for engagement events");
    }

    #[test]
    fn reasons_name_the_field() {
        let cases = [
            ("{", "invalid JSON"),
            (r#"{"site":"demo"}"#, "missing field `events`"),
            (
                r#"{"site":"demo","events":[]}"#,
                "events: the batch is empty",
            ),
            (
                &body(&pageview().replace(ID, "nope")),
                "events[0].id: \"nope\" is not a UUID",
            ),
            (
                &body(&pageview().replace("pageview", "x")),
                "events[0].type: unknown",
            ),
            (
                &body(&pageview().replace("https://example.com", "/rel")),
                "events[0].url",
            ),
            (
                &body(&pageview().replace("\"v-1\"", "\"a b\"")),
                "events[0].visitor",
            ),
            (
                &body(&pageview().replace("\"v-1\"", "\"fp_0011\"")),
                "events[0].visitor: the prefix \"fp_\" is reserved",
            ),
            (
                &body(&pageview().replace(&NOW.to_string(), "5")),
                "events[0].ts",
            ),
            (
                &body(&pageview().replace(r#""url":"https://example.com/pricing?x=1#top","#, "")),
                "missing field `url`",
            ),
            (r#"{"events":[]}"#, "missing field `site`"),
            (&body(&pageview()).replace("\"demo\"", "\"de mo\""), "site:"),
        ];
        for (input, want) in cases {
            let got = parse_batch(input.as_bytes(), NOW).err().unwrap_or_default();
            assert!(got.contains(want), "{input}: got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn too_many_events_are_refused() {
        let events = vec![pageview(); Limits::default().max_events + 1].join(",");
        let got = parse_batch(body(&events).as_bytes(), NOW)
            .err()
            .unwrap_or_default();
        assert!(got.contains("at most 100"), "{got}");
    }

    #[test]
    fn long_titles_and_referrers_are_cut_on_character_boundaries() -> Result<(), String> {
        let title = "é".repeat(400);
        let referrer = format!("https://r.example/{}", "ü".repeat(2000));
        let e = pageview()
            .replace("\"Pricing\"", &format!("\"{title}\""))
            .replace("https://search.example/", &referrer);
        let batch = parse_batch(body(&e).as_bytes(), NOW)?;
        assert_eq!(
            batch.events[0].title.as_ref().map(|t| t.chars().count()),
            Some(300)
        );
        assert!(
            batch.events[0]
                .referrer
                .as_ref()
                .is_some_and(|r| r.len() <= Limits::default().max_url_bytes)
        );
        Ok(())
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_batch(&bytes, NOW);
        }

        #[test]
        fn never_panics_on_arbitrary_field_values(url in ".{0,80}", visitor in ".{0,80}", ts in any::<i64>()) {
            let e = serde_json::json!({"id": ID, "type": "pageview", "url": url, "visitor": visitor, "ts": ts});
            let b = serde_json::json!({"site": "demo", "events": [e]}).to_string();
            let _ = parse_batch(b.as_bytes(), NOW);
        }
    }
}
