//! What the browser says about itself: screen size, language and time zone.
//!
//! These fields are cosmetic — a report can do without them — so one that breaks its rule
//! is dropped (stored as NULL) and the event kept. Refusing the batch would lose the page
//! view over a detail.

use serde_json::Value;

use crate::event::Context;

/// Longest `screen` kept, in bytes (`WIDTHxHEIGHT`).
pub const MAX_SCREEN_LEN: usize = 16;
/// Longest `lang` kept, in bytes (a BCP 47 tag from `navigator.language`).
pub const MAX_LANG_LEN: usize = 35;
/// Longest `tz` kept, in bytes (an IANA zone name).
pub const MAX_TZ_LEN: usize = 64;

/// The context of one event, keeping each field only if it is a string that passes its rule.
pub(super) fn parse(screen: Option<&Value>, lang: Option<&Value>, tz: Option<&Value>) -> Context {
    Context {
        screen: keep(screen, is_screen),
        lang: keep(lang, is_lang),
        tz: keep(tz, is_tz),
        agent: None,
        country: None,
        fallback: None,
    }
}

fn keep(value: Option<&Value>, valid: fn(&str) -> bool) -> Option<String> {
    value
        .and_then(Value::as_str)
        .filter(|s| valid(s))
        .map(str::to_string)
}

/// `WIDTHxHEIGHT`: digits, `x`, digits.
fn is_screen(s: &str) -> bool {
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    s.len() <= MAX_SCREEN_LEN
        && s.split_once('x')
            .is_some_and(|(width, height)| digits(width) && digits(height))
}

/// A language tag: `A-Z a-z 0-9 -`.
fn is_lang(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_LANG_LEN
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// An IANA zone name: `A-Z a-z 0-9 / _ + -`.
fn is_tz(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_TZ_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'+' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context(screen: Value, lang: Value, tz: Value) -> Context {
        parse(Some(&screen), Some(&lang), Some(&tz))
    }

    #[test]
    fn valid_context_is_kept() {
        let c = context(
            json!("1920x1080"),
            json!("en-GB"),
            json!("America/Argentina/Buenos_Aires"),
        );
        assert_eq!(c.screen.as_deref(), Some("1920x1080"));
        assert_eq!(c.lang.as_deref(), Some("en-GB"));
        assert_eq!(c.tz.as_deref(), Some("America/Argentina/Buenos_Aires"));
        let c = context(
            json!("12345678x1234567"),
            json!("zh-Hant-TW"),
            json!("Etc/GMT+5"),
        );
        assert_eq!(
            (c.screen.as_deref(), c.lang.as_deref(), c.tz.as_deref()),
            (
                Some("12345678x1234567"),
                Some("zh-Hant-TW"),
                Some("Etc/GMT+5")
            )
        );
    }

    #[test]
    fn absent_context_is_none() {
        assert_eq!(parse(None, None, None), Context::default());
    }

    #[test]
    fn invalid_screens_are_dropped() {
        for screen in [
            json!("1920×1080"),
            json!("1920x"),
            json!("x1080"),
            json!("1920x1080x2"),
            json!("1920 x 1080"),
            json!("-1x5"),
            json!("123456789x12345678"),
            json!(""),
            json!(1920),
            json!({"w": 1920}),
        ] {
            let c = context(screen.clone(), json!("en"), json!("UTC"));
            assert_eq!(c.screen, None, "{screen}");
            assert_eq!(c.lang.as_deref(), Some("en"), "the other fields stay");
        }
    }

    #[test]
    fn invalid_languages_and_zones_are_dropped() {
        for bad in [
            json!(""),
            json!("en_GB"),
            json!("en GB"),
            json!("<script>"),
            json!("a".repeat(36)),
            json!(["en"]),
        ] {
            assert_eq!(
                context(json!("1x1"), bad.clone(), json!("UTC")).lang,
                None,
                "{bad}"
            );
        }
        assert!(
            context(json!("1x1"), json!("a".repeat(35)), json!("UTC"))
                .lang
                .is_some()
        );
        for bad in [
            json!(""),
            json!("Europe/Paris;"),
            json!("Europe Paris"),
            json!("Europe/Zürich"),
            json!("a".repeat(65)),
            json!(0),
        ] {
            assert_eq!(
                context(json!("1x1"), json!("en"), bad.clone()).tz,
                None,
                "{bad}"
            );
        }
        assert!(
            context(json!("1x1"), json!("en"), json!("a".repeat(64)))
                .tz
                .is_some()
        );
    }
}
