//! [`Limits`]: how much one `/collect` request may carry, and the cheap pre-check of JSON
//! nesting depth that runs before the body is parsed.
//!
//! Every limit is configurable ([`Config::limits`](crate::config::Config::limits)); the
//! defaults fit what the beacon sends with a wide margin. What happens past a limit is part
//! of the contract (`docs/OPERATIONS.md`): a body, a batch or a nesting depth over
//! the limit refuses the request; a URL, a property map or a timestamp out of bounds fails
//! that event; a title or referrer that is too long is cut.

/// Bounds on what one request may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest body read; a larger one is answered `413` before it is read in full
    /// (`--max-body-bytes`).
    pub max_body_bytes: usize,
    /// Most events in one batch; more refuse the request (`--max-events-per-batch`,
    /// `SPOOR_MAX_EVENTS_PER_BATCH`; default 100).
    pub max_events: usize,
    /// Longest page URL or link target, in bytes; a longer one fails its event. A referrer
    /// is cut to it (`--max-url-bytes`).
    pub max_url_bytes: usize,
    /// Longest title kept, in characters; a longer one is cut (`--max-title-chars`,
    /// `SPOOR_MAX_TITLE_CHARS`; default 300).
    pub max_title_chars: usize,
    /// Most keys in a custom event's props (`--max-props`).
    pub max_props: usize,
    /// Longest string property value, in characters (`--max-prop-value-chars`,
    /// `SPOOR_MAX_PROP_VALUE_CHARS`; default 256).
    pub max_prop_value_chars: usize,
    /// Deepest nesting of JSON arrays and objects in a body; deeper refuses the request
    /// before it is parsed (`--max-json-depth`; the
    /// wire format needs 4).
    pub max_json_depth: usize,
    /// How far ahead of the collector's clock an event's `ts` may be, in ms
    /// (`--max-clock-ahead-ms`).
    pub max_clock_ahead_ms: i64,
    /// How old an event's `ts` may be, in ms: the beacon keeps undelivered events in
    /// localStorage and sends them on a later visit, so this is days, not seconds
    /// (`--max-event-age-ms`).
    pub max_event_age_ms: i64,
}

impl Default for Limits {
    /// The options' defaults (see [`Config`](crate::config::Config)).
    fn default() -> Self {
        crate::config::Config::default().limits
    }
}

/// Whether `body` nests arrays and objects deeper than `max`, read without parsing: brackets
/// inside strings (with their escapes) do not count. Linear in the body and allocation-free,
/// so a hostile body costs no more than its bytes.
pub fn too_deep(body: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn depth_counts_brackets_outside_strings() {
        assert!(!too_deep(br#"{"a":[{"b":1}]}"#, 3));
        assert!(too_deep(br#"{"a":[{"b":[1]}]}"#, 3));
        assert!(!too_deep(br#"{"a":"[[[[[[\"[[[["}"#, 1));
        assert!(too_deep(&[b'['; 10_000], 8));
    }

    proptest! {
        #[test]
        fn depth_agrees_with_serde_on_arrays(n in 0usize..40) {
            let body = format!("{}{}", "[".repeat(n), "]".repeat(n));
            prop_assert_eq!(too_deep(body.as_bytes(), 8), n > 8);
        }

        #[test]
        fn depth_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), max in 0usize..16) {
            let _ = too_deep(&bytes, max);
        }
    }
}
