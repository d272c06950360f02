//! Custom event names and properties, trimmed to what the collector accepts.
//!
//! The collector refuses a whole batch when one event breaks a rule, so the beacon fixes
//! what it can before queueing: more than [`MAX_KEYS`] keys are dropped (the first ones
//! are kept), keys longer than [`MAX_KEY_CHARS`] and string values longer than
//! [`MAX_VALUE_CHARS`] are cut, and keys it cannot fix (empty, or with control
//! characters) are dropped. An event name it cannot fix drops the event. Values arrive from
//! the loader already typed: a string, or a JSON literal the loader made from a finite
//! number or a boolean (`String(value)`).

use crate::json::Writer;

/// Most keys in one event's props.
pub const MAX_KEYS: usize = 20;
/// Longest key, and longest custom event name, in characters.
pub const MAX_KEY_CHARS: usize = 64;
/// Longest string value, in characters.
pub const MAX_VALUE_CHARS: usize = 256;
/// Longest `identify` user id, in characters.
pub const MAX_USER_CHARS: usize = 128;

/// `s` cut to at most `max` characters (Unicode scalar values, as the collector counts).
pub fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((end, _)) => s.get(..end).unwrap_or(s),
        None => s,
    }
}

/// A name or key as the collector accepts it: cut to `max` characters; `None` when empty
/// or holding a control character.
pub fn clean_name(name: &str, max: usize) -> Option<&str> {
    let name = truncate_chars(name, max);
    (!name.is_empty() && !name.chars().any(char::is_control)).then_some(name)
}

/// Whether `text` is a JSON number or boolean literal (what `String(n)` gives for a
/// finite number, or `true` / `false`). A cheap check: the loader sends only those.
pub fn is_literal(text: &str) -> bool {
    matches!(text, "true" | "false")
        || text
            .bytes()
            .next()
            .is_some_and(|b| b == b'-' || b.is_ascii_digit())
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
}

/// The props of the next custom event, built one key at a time as a JSON object.
#[derive(Debug, Default)]
pub struct Props {
    json: Writer,
    keys: usize,
}

impl Props {
    /// Adds `key`: a string value, or (`literal`) a number or boolean literal. Silently
    /// drops what cannot be sent.
    pub fn add(&mut self, key: &str, value: &str, literal: bool) {
        let Some(key) = clean_name(key, MAX_KEY_CHARS) else {
            return;
        };
        if self.keys >= MAX_KEYS || literal && !is_literal(value) {
            return;
        }
        if self.keys == 0 {
            self.json.begin_object();
        }
        self.json.key(key);
        if literal {
            self.json.raw(value);
        } else {
            self.json.string(truncate_chars(value, MAX_VALUE_CHARS));
        }
        self.keys += 1;
    }

    /// The object's JSON, `None` when no key was added; empties the builder.
    pub fn take(&mut self) -> Option<String> {
        let props = std::mem::take(self);
        (props.keys > 0).then(|| {
            let mut json = props.json;
            json.end_object();
            json.finish()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn parse(props: &mut Props) -> Value {
        serde_json::from_str(&props.take().unwrap()).unwrap()
    }

    #[test]
    fn strings_numbers_and_booleans_are_kept() {
        let mut props = Props::default();
        props.add("view", "note \"book\"", false);
        props.add("stars", "1", true);
        props.add("ratio", "-1.5e-7", true);
        props.add("ok", "true", true);
        assert_eq!(
            parse(&mut props),
            json!({"view": "note \"book\"", "stars": 1, "ratio": -1.5e-7, "ok": true})
        );
        assert_eq!(props.take(), None, "take empties the builder");
    }

    #[test]
    fn no_keys_means_no_props() {
        let mut props = Props::default();
        props.add("", "x", false);
        assert_eq!(props.take(), None);
    }

    #[test]
    fn only_the_first_twenty_keys_are_kept() {
        let mut props = Props::default();
        for i in 0..30u8 {
            props.add(&char::from(b'A' + i).to_string(), "v", false);
        }
        let got = parse(&mut props);
        assert_eq!(got.as_object().unwrap().len(), MAX_KEYS);
        assert!(got.get("A").is_some() && got.get("U").is_none());
    }

    #[test]
    fn long_keys_and_values_are_cut_by_characters() {
        let mut props = Props::default();
        props.add(&"k".repeat(70), &"é".repeat(300), false);
        let got = parse(&mut props);
        let (key, value) = got.as_object().unwrap().iter().next().unwrap();
        assert_eq!(key.chars().count(), MAX_KEY_CHARS);
        assert_eq!(value.as_str().unwrap().chars().count(), MAX_VALUE_CHARS);
    }

    #[test]
    fn bad_keys_and_literals_are_dropped() {
        let mut props = Props::default();
        props.add("a\nb", "x", false);
        props.add("n", "NaN", true);
        props.add("o", "{}", true);
        props.add("ok", "0", true);
        assert_eq!(parse(&mut props), json!({"ok": 0}));
    }

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean_name("star", 64), Some("star"));
        assert_eq!(clean_name(&"x".repeat(65), 64).map(str::len), Some(64));
        assert_eq!(clean_name("", 64), None);
        assert_eq!(clean_name("a\u{7}", 64), None);
        assert_eq!(truncate_chars("héllo", 2), "hé");
        assert_eq!(truncate_chars("hé", 5), "hé");
    }
}
