//! The properties of a custom event: one flat JSON object of scalars.
//!
//! Flat on purpose: a property is something to group or filter a report by, and a nested
//! value or an array has no single answer to "what was it". `null` is refused rather than
//! dropped, so that a site sending `{"plan": null}` learns that the key is not recorded.

use std::collections::BTreeMap;

use serde_json::Value;

use super::limits::Limits;
use super::rules::{json_type, label_rule, truncate_chars};
use crate::event::{PropValue, Props};

/// Longest property key, in characters.
pub const MAX_PROP_KEY_CHARS: usize = 64;

/// The props of a custom event; `None` for an empty object. Reasons name the key
/// (`props.color: …`).
pub(super) fn parse(value: &Value, limits: &Limits) -> Result<Option<Props>, String> {
    let (max_props, max_value_chars) = (limits.max_props, limits.max_prop_value_chars);
    let Some(object) = value.as_object() else {
        return Err(format!(
            "props: must be an object of strings, numbers and booleans, not {}",
            json_type(value)
        ));
    };
    if object.len() > max_props {
        return Err(format!(
            "props: {} keys, at most {max_props} allowed",
            object.len()
        ));
    }
    let mut props = BTreeMap::new();
    for (key, value) in object {
        label_rule(key, MAX_PROP_KEY_CHARS).map_err(|rule| {
            format!(
                "props: key {:?}: {rule}",
                truncate_chars(key, MAX_PROP_KEY_CHARS)
            )
        })?;
        // The key passed its rule, so it is safe to print as it is.
        let value = match value {
            Value::String(s) if s.chars().count() > max_value_chars => {
                return Err(format!(
                    "props.{key}: longer than {max_value_chars} characters"
                ));
            }
            Value::String(s) => PropValue::Text(s.clone()),
            Value::Number(n) => PropValue::Number(n.clone()),
            Value::Bool(b) => PropValue::Bool(*b),
            Value::Null => {
                return Err(format!(
                    "props.{key}: null is not allowed; leave the key out instead"
                ));
            }
            Value::Array(_) => {
                return Err(format!(
                    "props.{key}: nested arrays are not allowed; use a string, number or boolean"
                ));
            }
            Value::Object(_) => {
                return Err(format!(
                    "props.{key}: nested objects are not allowed; use a string, number or boolean"
                ));
            }
        };
        props.insert(key.clone(), value);
    }
    Ok((!props.is_empty()).then_some(Props(props)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn parse(value: &Value) -> Result<Option<Props>, String> {
        super::parse(value, &Limits::default())
    }

    fn reason(value: Value) -> String {
        parse(&value).err().unwrap_or_default()
    }

    #[test]
    fn scalars_are_kept_in_key_order_and_numbers_exactly() -> Result<(), String> {
        let props = parse(&json!({"b": 1.5, "a": "x", "c": true, "d": -7, "e": ""}))?
            .ok_or("some props")?;
        let keys: Vec<&str> = props.0.keys().map(String::as_str).collect();
        assert_eq!(keys, ["a", "b", "c", "d", "e"]);
        assert_eq!(
            props.to_json(),
            r#"{"a":"x","b":1.5,"c":true,"d":-7,"e":""}"#
        );
        Ok(())
    }

    #[test]
    fn an_empty_object_is_no_props() -> Result<(), String> {
        assert_eq!(parse(&json!({}))?, None);
        Ok(())
    }

    #[test]
    fn twenty_keys_pass_and_twenty_one_do_not() {
        let object =
            |n: usize| Value::Object((0..n).map(|i| (format!("k{i}"), json!(i))).collect());
        assert!(parse(&object(Limits::default().max_props)).is_ok());
        assert_eq!(
            reason(object(Limits::default().max_props + 1)),
            "props: 21 keys, at most 20 allowed"
        );
    }

    #[test]
    fn keys_and_string_values_have_length_limits() {
        let key64 = "k".repeat(64);
        assert!(parse(&json!({ key64: "v".repeat(256) })).is_ok());
        assert!(parse(&json!({ "é".repeat(64): "é".repeat(256) })).is_ok());
        assert_eq!(
            reason(json!({"color": "v".repeat(257)})),
            "props.color: longer than 256 characters"
        );
        assert_eq!(
            reason(json!({ "k".repeat(65): 1 })),
            format!(
                "props: key {:?}: must be 1 to 64 characters, not 65",
                "k".repeat(64)
            )
        );
        assert_eq!(
            reason(json!({"": 1})),
            "props: key \"\": must be 1 to 64 characters, not 0"
        );
        assert_eq!(
            reason(json!({"a\u{0}b": 1})),
            "props: key \"a\\0b\": must not contain control characters"
        );
    }

    #[test]
    fn nested_values_and_null_are_refused_naming_the_key() {
        let cases = [
            (json!({"color": {"r": 255}}), "props.color: nested objects"),
            (json!({"tags": ["a", "b"]}), "props.tags: nested arrays"),
            (json!({"plan": null}), "props.plan: null is not allowed"),
            (json!("plan=pro"), "props: must be an object"),
            (json!(null), "props: must be an object"),
        ];
        for (value, want) in cases {
            let got = reason(value.clone());
            assert!(got.starts_with(want), "{value}: got {got:?}, want {want:?}");
        }
    }

    /// Any JSON value: scalars, and arrays and objects of them, a few levels deep.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,300}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 64, 24, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(".{0,70}", inner, 0..24)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn arbitrary_json_props_never_panic_and_what_passes_keeps_the_rules(value in any_json()) {
            if let Ok(Some(props)) = parse(&value) {
                prop_assert!(props.0.len() <= Limits::default().max_props);
                for (key, value) in &props.0 {
                    let chars = key.chars().count();
                    prop_assert!((1..=MAX_PROP_KEY_CHARS).contains(&chars));
                    prop_assert!(!key.chars().any(char::is_control));
                    if let PropValue::Text(s) = value {
                        prop_assert!(s.chars().count() <= Limits::default().max_prop_value_chars);
                    }
                }
                let stored: Value = serde_json::from_str(&props.to_json())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(stored.as_object().map(|o| o.len()), Some(props.0.len()));
            }
        }

        #[test]
        fn arbitrary_json_props_in_a_batch_never_panic(value in any_json()) {
            let event = json!({
                "id": "6f1c2d8e-3b7a-4c1e-9f00-0123456789ab", "type": "custom", "name": "n",
                "url": "https://example.com/", "ts": 1_780_000_000_000_i64, "props": value,
            });
            let body = json!({"site": "demo", "events": [event]}).to_string();
            let _ = crate::payload::parse_batch(body.as_bytes(), 1_780_000_000_000);
        }
    }
}
