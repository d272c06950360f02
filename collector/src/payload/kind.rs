//! The event `type` and the fields that come with it.
//!
//! Each type reads only its own fields from the wire event; the fields of other types are
//! ignored like any unknown field. A required field that is missing, `null` or of the
//! wrong JSON type refuses the event with a reason that names it.

use serde_json::Value;
use uuid::Uuid;

use super::EventWire;
use super::limits::Limits;
use super::props;
use super::rules::{check_http_url, check_label, json_type, truncate_chars};
use crate::event::{Custom, Engagement, EventKind};

/// Longest visible time an engagement may report (one day); a longer one is cut to it.
pub const MAX_VISIBLE_MS: u32 = 86_400_000;
/// Deepest scroll an engagement may report, in percent.
pub const MAX_SCROLL: u8 = 100;
/// Longest custom event name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest user id an identify event may carry, in characters.
pub const MAX_USER_CHARS: usize = 128;
/// Longest `sig` an identify event may carry (a hex SHA-256 HMAC is 64).
pub const MAX_SIGNATURE_CHARS: usize = 128;

/// The kind named by the event's `type`, with that type's fields checked.
pub(super) fn parse(e: &EventWire, limits: &Limits) -> Result<EventKind, String> {
    let kind = match e.kind.as_str() {
        "pageview" => EventKind::Pageview,
        "engagement" => EventKind::Engagement(engagement(e)?),
        "custom" => EventKind::Custom(custom(e, limits)?),
        "outbound" => EventKind::Outbound {
            target: target(e, limits)?,
        },
        "download" => EventKind::Download {
            target: target(e, limits)?,
        },
        "identify" => {
            let user = string(required(&e.user, "user", e)?, "user")?;
            check_label("user", user, MAX_USER_CHARS)?;
            EventKind::Identify {
                user: user.to_string(),
            }
        }
        other => {
            return Err(format!(
                "type: unknown event type {:?}",
                truncate_chars(other, 40)
            ));
        }
    };
    Ok(kind)
}

/// The `sig` of an `identify` event: a string of at most [`MAX_SIGNATURE_CHARS`] visible
/// ASCII characters, or none (absent, `null` or empty). Read from `sig`, else from
/// `props.sig`, which is where the beacon puts it (it reuses the props path of custom
/// events, which costs it no bytes). Whether it is right is the handler's question
/// ([`verify`](crate::identity::verify)); other types ignore it.
pub(super) fn signature(e: &EventWire) -> Result<Option<String>, String> {
    if e.kind != "identify" {
        return Ok(None);
    }
    let from_props = e.props.as_ref().and_then(|p| p.get("sig"));
    let sig = match e.sig.as_ref().filter(|s| !s.is_null()).or(from_props) {
        None | Some(Value::Null) => return Ok(None),
        Some(value) => string(value, "sig")?,
    };
    if sig.is_empty() {
        return Ok(None);
    }
    if sig.len() > MAX_SIGNATURE_CHARS || !sig.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "sig: must be at most {MAX_SIGNATURE_CHARS} visible ASCII characters (hex HMAC-SHA256)"
        ));
    }
    Ok(Some(sig.to_string()))
}

fn engagement(e: &EventWire) -> Result<Engagement, String> {
    let pageview = string(required(&e.pageview, "pageview", e)?, "pageview")?;
    let pageview = Uuid::try_parse(pageview).map_err(|_| {
        format!(
            "pageview: {:?} is not a UUID (the page view's event id)",
            truncate_chars(pageview, 40)
        )
    })?;
    let visible_ms = required(&e.visible_ms, "visible_ms", e)?
        .as_u64()
        .map(|ms| u32::try_from(ms).map_or(MAX_VISIBLE_MS, |ms| ms.min(MAX_VISIBLE_MS)))
        .ok_or("visible_ms: must be a whole number of milliseconds, 0 or more")?;
    let scroll = required(&e.scroll, "scroll", e)?
        .as_u64()
        .and_then(|s| u8::try_from(s).ok())
        .filter(|s| *s <= MAX_SCROLL)
        .ok_or_else(|| format!("scroll: must be a whole number from 0 to {MAX_SCROLL}"))?;
    Ok(Engagement {
        pageview,
        visible_ms,
        scroll,
    })
}

fn custom(e: &EventWire, limits: &Limits) -> Result<Custom, String> {
    let name = string(required(&e.name, "name", e)?, "name")?;
    check_label("name", name, MAX_NAME_CHARS)?;
    let props = match &e.props {
        Some(value) => props::parse(value, limits)?,
        None => None,
    };
    Ok(Custom {
        name: name.to_string(),
        props,
    })
}

/// The `target` of an outbound or download event, as sent.
fn target(e: &EventWire, limits: &Limits) -> Result<String, String> {
    let target = string(required(&e.target, "target", e)?, "target")?;
    check_http_url("target", target, limits.max_url_bytes)?;
    Ok(target.to_string())
}

/// A field the event's type needs; absent and `null` are both missing.
fn required<'a>(value: &'a Option<Value>, field: &str, e: &EventWire) -> Result<&'a Value, String> {
    value
        .as_ref()
        .ok_or_else(|| format!("{field}: required for {} events", e.kind))
}

fn string<'a>(value: &'a Value, field: &str) -> Result<&'a str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("{field}: must be a string, not {}", json_type(value)))
}

#[cfg(test)]
mod tests {
    use crate::event::{EventKind, PropValue};
    use crate::payload::parse_batch;
    use serde_json::{Value, json};

    const NOW: i64 = 1_780_000_000_000;
    const ID: &str = "6f1c2d8e-3b7a-4c1e-9f00-0123456789ab";
    const PAGEVIEW_ID: &str = "0e4a3c2b-1d0f-4e9a-8b7c-6d5e4f3a2b1c";

    /// Parses one event of type `kind` with `fields` added to the common ones.
    fn parse(kind: &str, fields: Value) -> Result<EventKind, String> {
        let mut event = json!({
            "id": ID, "type": kind, "url": "https://example.com/a", "ts": NOW,
            "visitor": "v-1", "session": "s-1",
        });
        if let (Some(event), Some(fields)) = (event.as_object_mut(), fields.as_object()) {
            event.extend(fields.clone());
        }
        let body = json!({"site": "demo", "events": [event]}).to_string();
        let mut batch = parse_batch(body.as_bytes(), NOW)?;
        Ok(batch.events.remove(0).kind)
    }

    /// Asserts that `fields` on a `kind` event are refused with a reason containing `want`.
    fn refused(kind: &str, fields: Value, want: &str) {
        let got = parse(kind, fields.clone()).err().unwrap_or_default();
        assert!(
            got.starts_with("events[0].") && got.contains(want),
            "{kind} {fields}: got {got:?}, want {want:?}"
        );
    }

    #[test]
    fn a_pageview_ignores_the_fields_of_other_types() -> Result<(), String> {
        let kind = parse(
            "pageview",
            json!({"name": 5, "scroll": "deep", "target": []}),
        )?;
        assert_eq!(kind, EventKind::Pageview);
        assert_eq!(kind.as_str(), "pageview");
        Ok(())
    }

    #[test]
    fn an_engagement_carries_its_pageview_visible_time_and_scroll() -> Result<(), String> {
        let kind = parse(
            "engagement",
            json!({"pageview": PAGEVIEW_ID, "visible_ms": 12_345, "scroll": 100}),
        )?;
        let EventKind::Engagement(e) = kind else {
            return Err(format!("not an engagement: {kind:?}"));
        };
        assert_eq!(e.pageview.to_string(), PAGEVIEW_ID);
        assert_eq!((e.visible_ms, e.scroll), (12_345, 100));
        Ok(())
    }

    #[test]
    fn visible_time_over_a_day_is_capped() -> Result<(), String> {
        for sent in [json!(86_400_001), json!(u64::MAX)] {
            let kind = parse(
                "engagement",
                json!({"pageview": PAGEVIEW_ID, "visible_ms": sent, "scroll": 0}),
            )?;
            let EventKind::Engagement(e) = kind else {
                return Err(format!("not an engagement: {kind:?}"));
            };
            assert_eq!(e.visible_ms, super::MAX_VISIBLE_MS, "{sent}");
        }
        Ok(())
    }

    #[test]
    fn a_bad_engagement_is_refused_naming_the_field() {
        let good = json!({"pageview": PAGEVIEW_ID, "visible_ms": 1000, "scroll": 50});
        let with = |key: &str, value: Value| {
            let mut fields = good.clone();
            fields[key] = value;
            fields
        };
        let cases = [
            (
                with("pageview", Value::Null),
                "pageview: required for engagement",
            ),
            (
                with("pageview", json!("p-1")),
                "pageview: \"p-1\" is not a UUID",
            ),
            (
                with("pageview", json!(7)),
                "pageview: must be a string, not a number",
            ),
            (with("visible_ms", Value::Null), "visible_ms: required"),
            (
                with("visible_ms", json!(-1)),
                "visible_ms: must be a whole number",
            ),
            (
                with("visible_ms", json!(1.5)),
                "visible_ms: must be a whole number",
            ),
            (
                with("visible_ms", json!("10")),
                "visible_ms: must be a whole number",
            ),
            (with("scroll", Value::Null), "scroll: required"),
            (
                with("scroll", json!(101)),
                "scroll: must be a whole number from 0 to 100",
            ),
            (with("scroll", json!(-1)), "scroll: must be a whole number"),
            (with("scroll", json!(256)), "scroll: must be a whole number"),
        ];
        for (fields, want) in cases {
            refused("engagement", fields, want);
        }
    }

    #[test]
    fn a_custom_event_carries_its_name_and_props() -> Result<(), String> {
        let kind = parse(
            "custom",
            json!({"name": "signup", "props": {"plan": "pro", "seats": 3, "trial": false}}),
        )?;
        let EventKind::Custom(c) = kind else {
            return Err(format!("not a custom event: {kind:?}"));
        };
        assert_eq!(c.name, "signup");
        let props = c.props.ok_or("props kept")?;
        assert_eq!(props.0.get("plan"), Some(&PropValue::Text("pro".into())));
        assert_eq!(props.0.get("trial"), Some(&PropValue::Bool(false)));
        assert_eq!(props.to_json(), r#"{"plan":"pro","seats":3,"trial":false}"#);
        Ok(())
    }

    #[test]
    fn a_custom_event_without_props_has_none() -> Result<(), String> {
        for fields in [
            json!({"name": "x"}),
            json!({"name": "x", "props": null}),
            json!({"name": "x", "props": {}}),
        ] {
            let kind = parse("custom", fields.clone())?;
            let EventKind::Custom(c) = kind else {
                return Err(format!("not a custom event: {kind:?}"));
            };
            assert_eq!(c.props, None, "{fields}");
        }
        Ok(())
    }

    #[test]
    fn a_bad_custom_event_is_refused_naming_the_field() {
        let cases = [
            (json!({}), "name: required for custom events"),
            (json!({"name": ""}), "name: must be 1 to 64 characters"),
            (
                json!({"name": "é".repeat(65)}),
                "name: must be 1 to 64 characters, not 65",
            ),
            (
                json!({"name": "a\nb"}),
                "name: must not contain control characters",
            ),
            (
                json!({"name": ["x"]}),
                "name: must be a string, not an array",
            ),
            (
                json!({"name": "x", "props": {"color": {"r": 1}}}),
                "props.color: nested objects are not allowed",
            ),
            (
                json!({"name": "x", "props": [1]}),
                "props: must be an object",
            ),
        ];
        for (fields, want) in cases {
            refused("custom", fields, want);
        }
        // The longest name is fine.
        assert!(parse("custom", json!({"name": "é".repeat(64)})).is_ok());
    }

    #[test]
    fn outbound_and_download_carry_their_target() -> Result<(), String> {
        let target = "https://other.example/file.pdf?v=2";
        assert_eq!(
            parse("outbound", json!({"target": target}))?,
            EventKind::Outbound {
                target: target.into()
            }
        );
        assert_eq!(
            parse("download", json!({"target": target}))?,
            EventKind::Download {
                target: target.into()
            }
        );
        Ok(())
    }

    #[test]
    fn a_bad_target_is_refused_naming_the_field() {
        let long = format!("https://example.com/{}", "a".repeat(2048));
        for kind in ["outbound", "download"] {
            let cases = [
                (json!({}), format!("target: required for {kind} events")),
                (
                    json!({"target": "/relative"}),
                    "target: not an absolute URL".into(),
                ),
                (
                    json!({"target": "mailto:a@example.com"}),
                    "target: scheme \"mailto\" is not http or https".into(),
                ),
                (
                    json!({"target": long}),
                    "target: longer than 2048 bytes".into(),
                ),
                (json!({"target": true}), "target: must be a string".into()),
            ];
            for (fields, want) in cases {
                refused(kind, fields, &want);
            }
        }
    }

    #[test]
    fn identify_carries_the_user() -> Result<(), String> {
        assert_eq!(
            parse("identify", json!({"user": "user-42@example.com"}))?,
            EventKind::Identify {
                user: "user-42@example.com".into()
            }
        );
        assert!(parse("identify", json!({"user": "u".repeat(128)})).is_ok());
        Ok(())
    }

    #[test]
    fn a_bad_identify_is_refused_naming_the_field() {
        let cases = [
            (json!({}), "user: required for identify events"),
            (json!({"user": ""}), "user: must be 1 to 128 characters"),
            (
                json!({"user": "u".repeat(129)}),
                "user: must be 1 to 128 characters, not 129",
            ),
            (
                json!({"user": "a\u{7f}"}),
                "user: must not contain control characters",
            ),
            (json!({"user": 42}), "user: must be a string, not a number"),
        ];
        for (fields, want) in cases {
            refused("identify", fields, want);
        }
    }

    #[test]
    fn identify_keeps_its_signature_and_other_types_ignore_it() -> Result<(), String> {
        let parse_sig = |kind: &str, fields: Value| -> Result<Option<String>, String> {
            let mut event = json!({"id": ID, "type": kind, "url": "https://example.com/a",
                                   "ts": NOW, "user": "u1", "name": "n"});
            if let (Some(event), Some(fields)) = (event.as_object_mut(), fields.as_object()) {
                event.extend(fields.clone());
            }
            let body = json!({"site": "demo", "events": [event]}).to_string();
            Ok(parse_batch(body.as_bytes(), NOW)?
                .events
                .remove(0)
                .signature)
        };
        let sig = "ab".repeat(32);
        assert_eq!(
            parse_sig("identify", json!({"sig": sig}))?,
            Some(sig.clone())
        );
        assert_eq!(parse_sig("identify", json!({"sig": ""}))?, None);
        assert_eq!(parse_sig("identify", json!({"sig": null}))?, None);
        assert_eq!(parse_sig("custom", json!({"sig": 5}))?, None);
        assert_eq!(
            parse_sig("identify", json!({"props": {"sig": sig}}))?,
            Some(sig.clone()),
            "as the beacon sends it"
        );
        refused(
            "identify",
            json!({"user": "u1", "sig": 5}),
            "sig: must be a string",
        );
        refused(
            "identify",
            json!({"user": "u1", "sig": "a".repeat(129)}),
            "sig: must be at most 128",
        );
        refused(
            "identify",
            json!({"user": "u1", "sig": "a b"}),
            "sig: must be at most",
        );
        Ok(())
    }

    #[test]
    fn an_unknown_type_is_refused() {
        refused("scroll", json!({}), "type: unknown event type \"scroll\"");
    }
}
