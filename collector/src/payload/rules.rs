//! The checks several wire fields share: id-like tokens, free-text labels, http(s) URLs,
//! and cutting text to a length without splitting a character. A `check_*` reason starts
//! with the field it was given (`name: …`), ready for the batch's `events[i].` prefix.

use serde_json::Value;

use super::MAX_ID_LEN;

/// An absolute `http` or `https` URL of at most `max` bytes.
pub(super) fn check_http_url(field: &str, value: &str, max: usize) -> Result<url::Url, String> {
    if value.len() > max {
        return Err(format!("{field}: longer than {max} bytes"));
    }
    let parsed =
        url::Url::parse(value).map_err(|err| format!("{field}: not an absolute URL ({err})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "{field}: scheme {:?} is not http or https",
            parsed.scheme()
        ));
    }
    Ok(parsed)
}

/// A free-text label chosen by the site (an event name, a user id): 1 to `max`
/// characters, none of them a control character.
pub(super) fn check_label(field: &str, value: &str, max: usize) -> Result<(), String> {
    label_rule(value, max).map_err(|rule| format!("{field}: {rule}"))
}

/// [`check_label`]'s rule, as a reason without the field name.
pub(super) fn label_rule(value: &str, max: usize) -> Result<(), String> {
    let chars = value.chars().count();
    if chars == 0 || chars > max {
        return Err(format!("must be 1 to {max} characters, not {chars}"));
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// The JSON type of `value`, for reasons such as "must be a string, not a number".
pub(super) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An id-like field: 1 to `max` characters of `A-Z a-z 0-9 - _ .`.
pub(super) fn check_token(field: &str, value: &str, max: usize) -> Result<(), String> {
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

/// An optional id-like field: absent, `null` and `""` are all `None`.
pub(super) fn optional_token(field: &str, value: Option<String>) -> Result<Option<String>, String> {
    match value {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => check_token(field, &v, MAX_ID_LEN).map(|()| Some(v)),
    }
}

/// The first `max` characters of `s`.
pub(super) fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// `s` cut to at most `max` bytes, on a character boundary.
pub(super) fn truncate_bytes(mut s: String, max: usize) -> String {
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

    #[test]
    fn labels_count_characters_not_bytes() {
        assert_eq!(check_label("name", &"é".repeat(3), 3), Ok(()));
        assert_eq!(
            check_label("name", &"é".repeat(4), 3),
            Err("name: must be 1 to 3 characters, not 4".into())
        );
        assert_eq!(
            check_label("name", "tab\there", 64),
            Err("name: must not contain control characters".into())
        );
    }

    #[test]
    fn text_is_cut_on_character_boundaries() {
        assert_eq!(truncate_bytes("aé".into(), 2), "a");
        assert_eq!(truncate_bytes("aé".into(), 3), "aé");
        assert_eq!(truncate_chars("aéb", 2), "aé");
    }
}
