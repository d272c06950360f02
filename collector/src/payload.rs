//! The `/collect` wire format and its validation.
//!
//! [`parse_batch`] turns a request body into a site id and a list of [`ClientEvent`]s whose
//! every field has been checked, or into a reason the client can act on. It is a pure
//! function of the bytes and the current time, so it is tested without HTTP.

use serde::Deserialize;
use uuid::Uuid;

use crate::event::{Batch, ClientEvent, EventKind};

/// Most events one batch may carry.
pub const MAX_EVENTS_PER_BATCH: usize = 100;
/// Longest page URL accepted; a longer one is refused.
pub const MAX_URL_LEN: usize = 2048;
/// Longest referrer kept; a longer one is cut.
pub const MAX_REFERRER_LEN: usize = 2048;
/// Longest title kept, in characters; a longer one is cut.
pub const MAX_TITLE_CHARS: usize = 300;
/// Longest client id or session id accepted.
pub const MAX_ID_LEN: usize = 64;
/// Longest site id accepted.
pub const MAX_SITE_LEN: usize = 64;
/// How far in the future a client clock may be before its events are refused (1 day).
pub const MAX_CLOCK_AHEAD_MS: i64 = 86_400_000;
/// Earliest timestamp accepted (2020-01-01T00:00:00Z): older ones are a broken clock.
pub const MIN_TS_MS: i64 = 1_577_836_800_000;

/// A batch as it arrives on the wire.
#[derive(Debug, Deserialize)]
struct BatchWire {
    site: String,
    events: Vec<EventWire>,
}

/// One event as it arrives on the wire. Unknown fields are ignored, so newer beacons can
/// talk to older collectors.
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
}

/// Parses and validates a `/collect` body. `now_ms` bounds the accepted timestamps.
/// The error is a reason meant for the client, naming the offending field.
pub fn parse_batch(body: &[u8], now_ms: i64) -> Result<Batch, String> {
    let wire: BatchWire =
        serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))?;
    check_token("site", &wire.site, MAX_SITE_LEN)?;
    if wire.events.is_empty() {
        return Err("events: the batch is empty".into());
    }
    if wire.events.len() > MAX_EVENTS_PER_BATCH {
        return Err(format!(
            "events: {} events in one batch, at most {MAX_EVENTS_PER_BATCH} allowed",
            wire.events.len()
        ));
    }
    let events = wire
        .events
        .into_iter()
        .enumerate()
        .map(|(i, e)| validate_event(e, now_ms).map_err(|reason| format!("events[{i}].{reason}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Batch {
        site: wire.site,
        events,
    })
}

fn validate_event(e: EventWire, now_ms: i64) -> Result<ClientEvent, String> {
    let id = Uuid::try_parse(&e.id).map_err(|_| format!("id: {:?} is not a UUID", e.id))?;
    let kind = EventKind::parse(&e.kind)
        .ok_or_else(|| format!("type: unknown event type {:?}", truncate_chars(&e.kind, 40)))?;
    if e.url.len() > MAX_URL_LEN {
        return Err(format!("url: longer than {MAX_URL_LEN} bytes"));
    }
    let parsed =
        url::Url::parse(&e.url).map_err(|err| format!("url: not an absolute URL ({err})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "url: scheme {:?} is not http or https",
            parsed.scheme()
        ));
    }
    let hostname = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    if e.ts < MIN_TS_MS || e.ts > now_ms.saturating_add(MAX_CLOCK_AHEAD_MS) {
        return Err(format!(
            "ts: {} is not a plausible Unix time in milliseconds",
            e.ts
        ));
    }
    let client_id = optional_token("visitor", e.visitor)?;
    let session = optional_token("session", e.session)?;
    Ok(ClientEvent {
        id,
        kind,
        path: parsed.path().to_string(),
        hostname,
        url: e.url,
        referrer: e
            .referrer
            .filter(|r| !r.is_empty())
            .map(|r| truncate_bytes(r, MAX_REFERRER_LEN)),
        title: e
            .title
            .filter(|t| !t.is_empty())
            .map(|t| truncate_chars(&t, MAX_TITLE_CHARS)),
        client_id,
        session,
        ts: e.ts,
    })
}

/// An id-like field: 1 to `max` characters of `A-Z a-z 0-9 - _ .`.
fn check_token(field: &str, value: &str, max: usize) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{field}: must be 1 to {max} characters of A-Z a-z 0-9 - _ ."
        ))
    }
}

fn optional_token(field: &str, value: Option<String>) -> Result<Option<String>, String> {
    match value {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => check_token(field, &v, MAX_ID_LEN).map(|()| Some(v)),
    }
}

fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn truncate_bytes(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
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
        Ok(())
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
        let events = vec![pageview(); MAX_EVENTS_PER_BATCH + 1].join(",");
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
                .is_some_and(|r| r.len() <= MAX_REFERRER_LEN)
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
