//! The `/collect` wire format: a batch of events for one site, as JSON.
//!
//! ```json
//! {"site":"demo","events":[{"id":"<uuid v4>","type":"pageview","url":"https://…",
//!   "referrer":null,"title":"…","visitor":"<id>","session":"<id>","ts":1780000000000}]}
//! ```
//!
//! The collector's `payload` module is the other half of this contract: `id` must be a UUID, `ts`
//! whole Unix milliseconds, `visitor` and `session` 1–64 characters of
//! `A-Z a-z 0-9 - _ .`. The JSON is written by [`crate::json`], byte for byte what
//! `JSON.stringify` would make of the same object, with the keys in this order.

use crate::json::Writer;
use crate::page::Page;

/// One request body: events for one site.
#[derive(Debug)]
pub struct Batch<'a> {
    /// The site id from `data-site`.
    pub site: &'a str,
    /// The events, oldest first.
    pub events: &'a [Event<'a>],
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A page was shown.
    Pageview,
}

impl Kind {
    /// The wire name, the event's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pageview => "pageview",
        }
    }
}

/// One event.
#[derive(Debug)]
pub struct Event<'a> {
    /// A fresh UUID v4: the collector stores an event id once, so a resent event is
    /// not counted twice.
    pub id: String,
    /// The kind of event, on the wire as `type`.
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
    /// When it happened, in Unix milliseconds.
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

    /// Writes the event as a JSON object.
    fn write(&self, json: &mut Writer) {
        json.begin_object();
        json.key("id").string(&self.id);
        json.key("type").string(self.kind.as_str());
        json.key("url").string(self.url);
        json.key("referrer").string_or_null(self.referrer);
        json.key("title").string(self.title);
        json.key("visitor").string(self.visitor);
        json.key("session").string(self.session);
        json.key("ts").uint(self.ts);
        json.end_object();
    }
}

impl Batch<'_> {
    /// The batch as a JSON string.
    pub fn to_json(&self) -> String {
        let mut json = Writer::with_capacity(256);
        json.begin_object();
        json.key("site").string(self.site);
        json.key("events").begin_array();
        for event in self.events {
            event.write(&mut json);
        }
        json.end_array();
        json.end_object();
        json.finish()
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
            title: "Pricing \"€\"\n".into(),
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
        let got: Value = serde_json::from_str(&batch.to_json()).unwrap();
        assert_eq!(
            got,
            json!({"site": "demo", "events": [{
                "id": "6f1c2d8e-3b7a-4c1e-9f00-0123456789ab",
                "type": "pageview",
                "url": "https://example.com/pricing?x=1#top",
                "referrer": "https://search.example/",
                "title": "Pricing \"€\"\n",
                "visitor": "v-1",
                "session": "s-1",
                "ts": 1_780_000_000_000u64,
            }]})
        );
    }

    #[test]
    fn the_body_is_exact_and_a_missing_referrer_is_null() {
        let page = page(None);
        let events = [
            Event::pageview("e1".into(), &page, "v", "s", 1),
            Event::pageview("e2".into(), &page, "v", "s", 2),
        ];
        let body = Batch {
            site: "d",
            events: &events,
        }
        .to_json();
        let event = |id: &str, ts: &str| {
            [
                r#"{"id":""#,
                id,
                r#"","type":"pageview","url":"https://example.com/pricing?x=1#top","#,
                r#""referrer":null,"title":"Pricing \"€\"\n","visitor":"v","session":"s","ts":"#,
                ts,
                "}",
            ]
            .concat()
        };
        let expected = [
            r#"{"site":"d","events":["#,
            &event("e1", "1"),
            ",",
            &event("e2", "2"),
            "]}",
        ]
        .concat();
        assert_eq!(body, expected);
    }

    #[test]
    fn an_empty_batch_is_valid_json() {
        let body = Batch {
            site: "d",
            events: &[],
        }
        .to_json();
        assert_eq!(body, r#"{"site":"d","events":[]}"#);
    }
}
