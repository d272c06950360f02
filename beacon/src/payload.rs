//! The `/collect` wire format: a batch of events for one site, as JSON.
//!
//! ```json
//! {"site":"demo","events":[{"id":"<uuid v4>","type":"pageview","url":"https://…",
//!   "referrer":null,"title":"…","visitor":"<id>","session":"<id>","ts":1780000000000}]}
//! ```
//!
//! `collector/src/payload.rs` is the other half of this contract: `id` must be a UUID, `ts`
//! whole Unix milliseconds, `visitor` and `session` 1–64 characters of
//! `A-Z a-z 0-9 - _ .`. The JSON is made in the browser (serde-wasm-bindgen, then
//! `JSON.stringify`), which keeps serde_json out of the wasm.

use serde::Serialize;
use serde_wasm_bindgen::Serializer;

use crate::page::Page;

/// One request body: events for one site.
#[derive(Debug, Serialize)]
pub struct Batch<'a> {
    /// The site id from `data-site`.
    pub site: &'a str,
    /// The events, oldest first.
    pub events: &'a [Event<'a>],
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A page was shown.
    Pageview,
}

/// One event.
#[derive(Debug, Serialize)]
pub struct Event<'a> {
    /// A fresh UUID v4: the collector stores an event id once, so a resent event is
    /// not counted twice.
    pub id: String,
    /// The kind of event, on the wire as `type`.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// The page's full URL.
    pub url: &'a str,
    /// The referrer; `null` when there is none.
    pub referrer: Option<&'a str>,
    /// The page title.
    pub title: &'a str,
    /// The visitor id (see [`crate::id`]).
    pub visitor: &'a str,
    /// The session id (see [`crate::session`]).
    pub session: &'a str,
    /// When it happened, in Unix milliseconds. Sent as a JS number, which
    /// `JSON.stringify` prints as a plain integer.
    #[serde(serialize_with = "as_js_number")]
    pub ts: u64,
}

impl<'a> Event<'a> {
    /// A page view of `page` with event id `id`, at `ts` (Unix ms).
    pub fn pageview(
        id: String,
        page: &'a Page,
        visitor: &'a str,
        session: &'a str,
        ts: u64,
    ) -> Self {
        Self {
            id,
            kind: Kind::Pageview,
            url: &page.url,
            referrer: page.referrer.as_deref(),
            title: &page.title,
            visitor,
            session,
            ts,
        }
    }
}

/// Serializes a millisecond timestamp as an `f64`, which holds it exactly (below 2^53), and
/// which `JSON.stringify` prints without fraction or exponent. serde-wasm-bindgen's own
/// `u64` path would work too, but its out-of-range error message pulls `core::fmt` into
/// the wasm (about 0.8 KB gzipped). (serde_json, in native tests, prints a trailing `.0`.)
fn as_js_number<S: serde::Serializer>(ms: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(*ms as f64)
}

/// `None` becomes `null` (serde-wasm-bindgen's default, `undefined`, would drop the key).
const SERIALIZER: Serializer = Serializer::new().serialize_missing_as_null(true);

impl Batch<'_> {
    /// The batch as a JSON string, made by the browser's `JSON.stringify`. Browser only.
    pub fn to_json(&self) -> Option<String> {
        let value = self.serialize(&SERIALIZER).ok()?;
        js_sys::JSON::stringify(&value).ok()?.as_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn page(referrer: Option<&str>) -> Page {
        Page {
            url: "https://example.com/pricing?x=1#top".into(),
            referrer: referrer.map(Into::into),
            title: "Pricing".into(),
        }
    }

    #[test]
    fn a_pageview_batch_has_the_wire_field_names() {
        let page = page(Some("https://search.example/"));
        let events = [Event::pageview(
            "6f1c2d8e-3b7a-4c1e-9f00-0123456789ab".into(),
            &page,
            "v-1",
            "s-1",
            1_780_000_000_000,
        )];
        let batch = Batch {
            site: "demo",
            events: &events,
        };
        let got: Value = serde_json::to_value(&batch).unwrap();
        assert_eq!(
            got,
            json!({"site": "demo", "events": [{
                "id": "6f1c2d8e-3b7a-4c1e-9f00-0123456789ab",
                "type": "pageview",
                "url": "https://example.com/pricing?x=1#top",
                "referrer": "https://search.example/",
                "title": "Pricing",
                "visitor": "v-1",
                "session": "s-1",
                "ts": 1_780_000_000_000.0,
            }]})
        );
    }

    #[test]
    fn a_missing_referrer_is_null() {
        let page = page(None);
        let event = Event::pageview("e".into(), &page, "v", "s", 1);
        let got: Value = serde_json::to_value(&event).unwrap();
        assert_eq!(got["referrer"], Value::Null);
    }
}
