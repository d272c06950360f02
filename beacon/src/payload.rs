//! The `/collect` wire format of one event, as a JSON object.
//!
//! ```json
//! {"id":"<uuid v7>","type":"pageview","url":"https://…","referrer":null,"title":"…",
//!  "visitor":"<id>","session":"<id>","ts":1780000000000,"screen":"1920x1080",
//!  "lang":"en-GB","tz":"Europe/London"}
//! ```
//!
//! followed by the fields of its type (`pageview` for an engagement, `name` and `props`
//! for a custom event, …). docs/API.md and the collector's `payload` module are the other
//! half of this contract. The `id` comes first: [`crate::queue`] reads it back from the
//! stored line. Batches are assembled by [`crate::queue::Queue::batch`].

use crate::json::Writer;

/// Longest URL the collector accepts, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

/// What every event says about where and who it came from.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The page's full URL.
    pub url: String,
    /// `document.referrer` on the first page of a session; `None` otherwise.
    pub referrer: Option<String>,
    /// The page title.
    pub title: String,
    /// The visitor id; `None` without storage consent.
    pub visitor: Option<String>,
    /// Screen size, `WIDTHxHEIGHT`.
    pub screen: String,
    /// `navigator.language`.
    pub lang: String,
    /// The IANA time zone.
    pub tz: String,
    /// The next event is the first after `spoor.reset()`: it carries `"reset": true`, so
    /// the collector starts a new visitor instead of following its cookie of the last one.
    pub reset: bool,
}

/// `url` as the collector accepts it: http(s) only, cut to [`MAX_URL_BYTES`] at a
/// character boundary. `None` for other schemes (`file:`, `about:`).
pub fn sendable_url(url: &str) -> Option<&str> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return None;
    }
    let mut end = url.len().min(MAX_URL_BYTES);
    while !url.is_char_boundary(end) {
        end -= 1;
    }
    url.get(..end)
}

/// One event's JSON: the common fields from `context`, then `fields` writes its own.
/// (`dyn`, not generic: one copy of this code for every event type saves about 2 KB.)
/// `None` when the page URL cannot be sent.
pub fn event(
    id: &str,
    kind: &str,
    context: &Context,
    session: Option<&str>,
    ts: u64,
    fields: &dyn Fn(&mut Writer),
) -> Option<String> {
    let mut json = Writer::with_capacity(384);
    json.begin_object();
    json.key("id").string(id);
    json.key("type").string(kind);
    json.key("url").string(sendable_url(&context.url)?);
    json.key("referrer")
        .string_or_null(context.referrer.as_deref());
    json.key("title").string(&context.title);
    json.key("visitor")
        .string_or_null(context.visitor.as_deref());
    json.key("session").string_or_null(session);
    json.key("ts").uint(ts);
    for (key, value) in [
        ("screen", &context.screen),
        ("lang", &context.lang),
        ("tz", &context.tz),
    ] {
        if !value.is_empty() {
            json.key(key).string(value);
        }
    }
    if context.reset {
        json.key("reset").raw("true");
    }
    fields(&mut json);
    json.end_object();
    Some(json.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn context() -> Context {
        Context {
            url: "https://example.com/pricing?x=1#top".into(),
            referrer: Some("https://search.example/".into()),
            title: "Pricing \"€\"\n".into(),
            visitor: Some("v-1".into()),
            screen: "1920x1080".into(),
            lang: "en-GB".into(),
            tz: "Europe/London".into(),
            reset: false,
        }
    }

    #[test]
    fn an_event_has_the_wire_field_names() {
        let got = event("e-1", "custom", &context(), Some("s-1"), 17, &|json| {
            json.key("name").string("star");
        })
        .unwrap();
        assert!(got.starts_with(r#"{"id":"e-1","#), "the id comes first");
        let got: Value = serde_json::from_str(&got).unwrap();
        assert_eq!(
            got,
            json!({
                "id": "e-1", "type": "custom", "url": "https://example.com/pricing?x=1#top",
                "referrer": "https://search.example/", "title": "Pricing \"€\"\n",
                "visitor": "v-1", "session": "s-1", "ts": 17, "screen": "1920x1080",
                "lang": "en-GB", "tz": "Europe/London", "name": "star",
            })
        );
    }

    #[test]
    fn without_ids_or_context_the_fields_are_null_or_absent() {
        let context = Context {
            url: "http://a.example/".into(),
            ..Context::default()
        };
        let got = event("e", "pageview", &context, None, 1, &|_| {}).unwrap();
        assert_eq!(
            got,
            r#"{"id":"e","type":"pageview","url":"http://a.example/","referrer":null,"title":"","visitor":null,"session":null,"ts":1}"#
        );
    }

    #[test]
    fn the_first_event_after_a_reset_says_so() {
        let after_reset = Context {
            reset: true,
            ..context()
        };
        let got = event("e", "pageview", &after_reset, None, 1, &|_| {}).unwrap();
        let got: Value = serde_json::from_str(&got).unwrap();
        assert_eq!(got["reset"], true);
        let plain = event("e", "pageview", &context(), None, 1, &|_| {}).unwrap();
        assert!(!plain.contains("reset"));
    }

    #[test]
    fn urls_are_checked_and_cut() {
        assert_eq!(sendable_url("file:///x"), None);
        let long = ["https://a.example/", &"é".repeat(2000)].concat();
        let cut = sendable_url(&long).unwrap();
        assert!(cut.len() <= MAX_URL_BYTES && cut.len() >= MAX_URL_BYTES - 1);
        let context = Context {
            url: "about:blank".into(),
            ..Context::default()
        };
        assert_eq!(event("e", "pageview", &context, None, 1, &|_| {}), None);
    }
}
