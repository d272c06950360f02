//! A minimal JSON writer: objects, arrays, strings, unsigned integers and `null`.
//!
//! serde with serde-wasm-bindgen and `JSON.stringify` cost about 2.5 KB of gzipped wasm and
//! glue; the beacon writes a handful of flat objects, so this writer builds the text
//! directly in one `String`. It prints exactly what `JSON.stringify` (and serde_json)
//! print for the same values: no spaces, `\"` `\\` `\b` `\f` `\n` `\r` `\t` as short
//! escapes, other control characters as `\u00xx` with lowercase hex, everything else
//! (`/`, DEL, non-ASCII) as is. Integers are written digit by digit: `core::fmt` would add
//! kilobytes to the wasm.
//!
//! Commas are placed by looking at the last byte written: a key or value that follows
//! anything but `{`, `[` or `:` is preceded by `,`. So callers only say what comes next:
//!
//! ```
//! use spoor_beacon::json::Writer;
//! let mut json = Writer::with_capacity(32);
//! json.begin_object();
//! json.key("a").string("x\n");
//! json.key("b").uint(7);
//! json.key("c").null();
//! json.end_object();
//! assert_eq!(json.finish(), r#"{"a":"x\n","b":7,"c":null}"#);
//! ```

/// Builds one JSON text. Nothing checks that keys and values alternate properly: the
/// callers are the beacon's few payload builders, covered by tests.
#[derive(Debug, Default)]
pub struct Writer {
    out: String,
}

impl Writer {
    /// An empty writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            out: String::with_capacity(capacity),
        }
    }

    /// The JSON text written so far.
    pub fn finish(self) -> String {
        self.out
    }

    /// Writes the `,` due before a key or a value, unless it opens its container or
    /// follows its key.
    fn separate(&mut self) {
        if !matches!(self.out.as_bytes().last(), None | Some(b'{' | b'[' | b':')) {
            self.out.push(',');
        }
    }

    /// Starts an object (as a value).
    pub fn begin_object(&mut self) -> &mut Self {
        self.separate();
        self.out.push('{');
        self
    }

    /// Ends the innermost object.
    pub fn end_object(&mut self) -> &mut Self {
        self.out.push('}');
        self
    }

    /// Starts an array (as a value).
    pub fn begin_array(&mut self) -> &mut Self {
        self.separate();
        self.out.push('[');
        self
    }

    /// Ends the innermost array.
    pub fn end_array(&mut self) -> &mut Self {
        self.out.push(']');
        self
    }

    /// Writes an object key; the value follows.
    pub fn key(&mut self, key: &str) -> &mut Self {
        self.string(key);
        self.out.push(':');
        self
    }

    /// Writes a string value, escaped (see [`push_string`]).
    pub fn string(&mut self, value: &str) -> &mut Self {
        self.separate();
        push_string(&mut self.out, value);
        self
    }

    /// Writes a string value, or `null` for `None`.
    pub fn string_or_null(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(value) => self.string(value),
            None => self.null(),
        }
    }

    /// Writes an unsigned integer.
    pub fn uint(&mut self, value: u64) -> &mut Self {
        self.separate();
        push_decimal(&mut self.out, value);
        self
    }

    /// Writes `text` as a value, unchanged: the caller vouches that it is a JSON literal
    /// (a number or `true`/`false`, see [`crate::props`]) or a complete JSON text.
    pub fn raw(&mut self, text: &str) -> &mut Self {
        self.separate();
        self.out.push_str(text);
        self
    }

    /// Writes `null`.
    pub fn null(&mut self) -> &mut Self {
        self.separate();
        self.out.push_str("null");
        self
    }
}

/// Appends `value` as a quoted JSON string (RFC 8259 §7), escaped as `JSON.stringify`
/// does.
pub fn push_string(out: &mut String, value: &str) {
    out.reserve(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        let short = match c {
            '"' => '"',
            '\\' => '\\',
            '\u{8}' => 'b',
            '\u{c}' => 'f',
            '\n' => 'n',
            '\r' => 'r',
            '\t' => 't',
            _ => '\0',
        };
        if short != '\0' {
            out.push('\\');
            out.push(short);
        } else if c < ' ' {
            out.push_str("\\u00");
            out.push(char::from(hex_digit(c as u8 >> 4)));
            out.push(char::from(hex_digit(c as u8 & 0x0f)));
        } else {
            out.push(c);
        }
    }
    out.push('"');
}

/// The lowercase ASCII hex digit of `nibble`, which must be below 16.
pub fn hex_digit(nibble: u8) -> u8 {
    if nibble < 10 {
        b'0' + nibble
    } else {
        b'a' - 10 + nibble
    }
}

/// Appends `n` in decimal, without `core::fmt`.
pub fn push_decimal(out: &mut String, n: u64) {
    if n >= 10 {
        push_decimal(out, n / 10);
    }
    out.push(char::from(b'0' + (n % 10) as u8));
}

/// Parses a decimal `u64` the way `str::parse::<u64>` does (an optional leading `+`, then
/// at least one ASCII digit, no overflow), without its generic machinery.
pub fn parse_decimal(s: &str) -> Option<u64> {
    let digits = match s.as_bytes() {
        [] | [b'+'] => return None,
        [b'+', rest @ ..] => rest,
        all => all,
    };
    let mut n: u64 = 0;
    for &byte in digits {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(s: &str) -> String {
        let mut out = String::new();
        push_string(&mut out, s);
        out
    }

    #[test]
    fn every_char_is_escaped_like_serde_json() {
        for c in (0..=0x10_ffff).filter_map(char::from_u32) {
            let s = c.to_string();
            assert_eq!(quoted(&s), serde_json::to_string(&s).unwrap(), "{c:?}");
        }
    }

    #[test]
    fn control_characters_use_short_or_u00xx_escapes() {
        assert_eq!(quoted("\u{0}\u{1f}\u{7f}"), "\"\\u0000\\u001f\u{7f}\"");
        assert_eq!(quoted("a\"b\\c/d"), r#""a\"b\\c/d""#);
        assert_eq!(quoted("\u{8}\u{c}\n\r\t"), r#""\b\f\n\r\t""#);
        assert_eq!(quoted(""), r#""""#);
        assert_eq!(quoted("é😀\u{2028}"), "\"é😀\u{2028}\"");
    }

    #[test]
    fn decimals_match_display() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            1_780_000_000_123,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = String::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }

    #[test]
    fn parse_decimal_edge_cases() {
        for s in [
            "",
            "+",
            "-1",
            "1e3",
            " 1",
            "1 ",
            "0x1",
            "18446744073709551616",
            "++1",
        ] {
            assert_eq!(parse_decimal(s), None, "{s:?}");
        }
        assert_eq!(parse_decimal("+7"), Some(7));
        assert_eq!(parse_decimal("007"), Some(7));
        assert_eq!(parse_decimal("18446744073709551615"), Some(u64::MAX));
    }

    #[test]
    fn a_writer_places_commas() {
        let mut json = Writer::default();
        json.begin_object();
        json.key("a").begin_array();
        json.begin_object().end_object();
        json.begin_object()
            .key("x")
            .uint(1)
            .key("y")
            .null()
            .end_object();
        json.string("s")
            .string_or_null(None)
            .string_or_null(Some("t"));
        json.end_array();
        json.key("b").begin_array().end_array();
        json.end_object();
        assert_eq!(
            json.finish(),
            r#"{"a":[{},{"x":1,"y":null},"s",null,"t"],"b":[]}"#
        );
    }

    /// Property tests, natively (proptest does not build for wasm32).
    #[cfg(not(target_arch = "wasm32"))]
    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn strings_match_serde_json(s in any::<String>()) {
                prop_assert_eq!(quoted(&s), serde_json::to_string(&s).unwrap());
            }

            #[test]
            fn control_heavy_strings_match_serde_json(s in "[\\x00-\\x7f\"\\\\é]{0,40}") {
                prop_assert_eq!(quoted(&s), serde_json::to_string(&s).unwrap());
            }

            #[test]
            fn decimals_round_trip(n in any::<u64>()) {
                let mut out = String::new();
                push_decimal(&mut out, n);
                prop_assert_eq!(&out, &n.to_string());
                prop_assert_eq!(parse_decimal(&out), Some(n));
            }

            #[test]
            fn parse_decimal_is_str_parse(s in "[+0-9a -]{0,22}") {
                prop_assert_eq!(parse_decimal(&s), s.parse::<u64>().ok());
            }
        }
    }
}
