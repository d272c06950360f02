//! The visitor id: one random id per browser, kept in a cookie and mirrored in
//! localStorage.
//!
//! Each store covers for the other. The `spoor_id` cookie is first-party and reaches a
//! same-site collector with every request, but users clear it and Safari caps
//! script-written cookies at 7 days. localStorage survives some of those clearings. So
//! [`resolve`] reads the cookie, else restores from localStorage, else creates a new id,
//! and always writes the answer back to both, which also renews the cookie's lifetime on
//! every visit.

use wasm_bindgen::JsCast;
use web_sys::{Document, HtmlDocument};

use crate::storage::{BrowserStorage, KeyValue};

/// Cookie name and localStorage key of the visitor id.
pub const KEY: &str = "spoor_id";

/// Cookie lifetime, in seconds (365 days).
pub const MAX_AGE_SECONDS: &str = "31536000";

/// Longest id the collector accepts.
pub const MAX_LEN: usize = 64;

/// Whether `id` is what the collector accepts as a visitor or session id: 1 to 64
/// characters of `A-Z a-z 0-9 - _ .`. A stored value that is not is treated as absent,
/// since every event carrying it would be refused.
pub fn is_valid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The value of the first cookie called `name` in a `document.cookie` string
/// (`"a=1; b=2"`).
pub fn cookie_value<'a>(jar: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = Some(jar);
    while let Some(current) = rest {
        let (pair, next) = match split_once_byte(current, b';') {
            Some((pair, next)) => (pair, Some(next)),
            None => (current, None),
        };
        if let Some((key, value)) = split_once_byte(pair.trim_ascii_start(), b'=') {
            if key == name {
                return Some(value);
            }
        }
        rest = next;
    }
    None
}

/// `s.split_once(sep)` for an ASCII separator. The `char`-pattern searcher behind
/// `split_once` and `split` costs about 1.4 KB of gzipped wasm; a byte scan costs little.
pub(crate) fn split_once_byte(s: &str, sep: u8) -> Option<(&str, &str)> {
    let i = s.bytes().position(|b| b == sep)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// The `document.cookie` assignment that stores `name=value` for the whole site for a
/// year. `value` must be cookie-safe; visitor ids are (see [`is_valid`]).
pub fn set_cookie_string(name: &str, value: &str, secure: bool) -> String {
    let mut cookie = String::with_capacity(96);
    for part in [
        name,
        "=",
        value,
        "; Max-Age=",
        MAX_AGE_SECONDS,
        "; Path=/; SameSite=Lax",
    ] {
        cookie.push_str(part);
    }
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

/// Picks the visitor id: the cookie's, else localStorage's, else `create()`; then writes
/// it to both stores.
pub fn resolve(
    cookies: &impl KeyValue,
    storage: &impl KeyValue,
    create: impl FnOnce() -> String,
) -> String {
    let id = cookies
        .get(KEY)
        .filter(|id| is_valid(id))
        .or_else(|| storage.get(KEY).filter(|id| is_valid(id)))
        .unwrap_or_else(create);
    cookies.set(KEY, &id);
    storage.set(KEY, &id);
    id
}

/// The visitor id of this browser, created on first use (see [`resolve`]).
pub fn visitor_id() -> String {
    resolve(
        &CookieJar::browser(),
        &BrowserStorage::local(),
        crate::uuid::new_v7,
    )
}

/// `document.cookie` as a [`KeyValue`]. Every write carries the visitor-id attributes:
/// one year, `Path=/`, `SameSite=Lax`, and `Secure` on https pages.
pub struct CookieJar {
    document: Option<HtmlDocument>,
    secure: bool,
}

impl CookieJar {
    /// The cookies of `document`; `secure` (an https page) adds the `Secure` attribute.
    pub fn new(document: Document, secure: bool) -> Self {
        // `cookie` is on every `Document` in today's browsers (web-sys files it under
        // `HtmlDocument`); skipping the `instanceof` check saves an import.
        Self {
            document: Some(document.unchecked_into()),
            secure,
        }
    }

    /// The current page's cookies; `secure` (an https page) adds the `Secure` attribute.
    pub fn new_for(secure: bool) -> Self {
        Self {
            document: web_sys::window()
                .and_then(|w| w.document())
                .map(JsCast::unchecked_into),
            secure,
        }
    }

    /// The current page's cookies; a no-op jar when there is no document.
    pub fn browser() -> Self {
        let window = web_sys::window();
        let secure = window
            .as_ref()
            .and_then(|w| w.location().href().ok())
            .is_some_and(|href| is_https(&href));
        Self {
            document: window
                .and_then(|w| w.document())
                .map(JsCast::unchecked_into),
            secure,
        }
    }
}

/// Whether a page URL is https. `href` starts with the scheme, lowercased: the same test
/// as `location.protocol == "https:"`, without the extra getter.
pub fn is_https(href: &str) -> bool {
    href.starts_with("https:")
}

impl KeyValue for CookieJar {
    fn get(&self, key: &str) -> Option<String> {
        // Reading throws in sandboxed frames; that counts as no cookie.
        let jar = self.document.as_ref()?.cookie().ok()?;
        cookie_value(&jar, key).map(str::to_owned)
    }

    fn set(&self, key: &str, value: &str) {
        if let Some(document) = &self.document {
            let _ = document.set_cookie(&set_cookie_string(key, value, self.secure));
        }
    }

    fn remove(&self, key: &str) {
        if let Some(document) = &self.document {
            let mut cookie = String::from(key);
            cookie.push_str("=; Max-Age=0; Path=/");
            let _ = document.set_cookie(&cookie);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    const ID: &str = "6f1c2d8e-3b7a-4c1e-9f00-0123456789ab";
    const OTHER: &str = "0b5e7c1a-2d3f-4a5b-8c6d-7e8f90a1b2c3";

    fn fresh() -> String {
        "new-id".into()
    }

    #[test]
    fn cookie_value_finds_the_named_cookie() {
        let jar = "a=1; spoor_id=abc; spoor_id_x=2";
        assert_eq!(cookie_value(jar, "spoor_id"), Some("abc"));
        assert_eq!(cookie_value(jar, "a"), Some("1"));
        assert_eq!(cookie_value("spoor_id=x", "spoor_id"), Some("x"));
        assert_eq!(
            cookie_value("x_spoor_id=1;spoor_id=2", "spoor_id"),
            Some("2")
        );
        assert_eq!(cookie_value("a=é; spoor_id=v=1", "spoor_id"), Some("v=1"));
        assert_eq!(cookie_value("spoor_id=; spoor_id=2", "spoor_id"), Some(""));
    }

    #[test]
    fn split_once_byte_is_split_once() {
        for s in ["", "a", "a:b", ":b", "a:", "a:b:c", "é:ü", "::"] {
            assert_eq!(split_once_byte(s, b':'), s.split_once(':'), "{s:?}");
        }
    }

    #[test]
    fn cookie_value_misses_absent_or_malformed_cookies() {
        for jar in ["", "a=1", "spoor_id", "spoor_idx=1", " ; ;"] {
            assert_eq!(cookie_value(jar, "spoor_id"), None, "{jar:?}");
        }
    }

    #[test]
    fn set_cookie_string_has_the_attributes() {
        assert_eq!(
            set_cookie_string("spoor_id", "abc", false),
            "spoor_id=abc; Max-Age=31536000; Path=/; SameSite=Lax"
        );
        assert_eq!(
            set_cookie_string("spoor_id", "abc", true),
            "spoor_id=abc; Max-Age=31536000; Path=/; SameSite=Lax; Secure"
        );
    }

    #[test]
    fn https_is_read_from_the_url() {
        assert!(is_https("https://example.com/"));
        for url in [
            "http://example.com/",
            "file:///x",
            "",
            "http://https.example/",
        ] {
            assert!(!is_https(url), "{url:?}");
        }
    }

    #[test]
    fn ids_are_validated_like_the_collector_does() {
        assert!(is_valid(ID));
        assert!(is_valid("a.b_c-D9"));
        assert!(is_valid(&"x".repeat(64)));
        for bad in ["", "a b", "a;b", "é", "\"q\"", &"x".repeat(65)] {
            assert!(!is_valid(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_new_id_is_created_and_written_to_both() {
        let (cookies, storage) = (MemoryStorage::default(), MemoryStorage::default());
        assert_eq!(resolve(&cookies, &storage, fresh), "new-id");
        assert_eq!(cookies.get(KEY).as_deref(), Some("new-id"));
        assert_eq!(storage.get(KEY).as_deref(), Some("new-id"));
    }

    #[test]
    fn the_cookie_wins_and_is_mirrored() {
        let cookies = MemoryStorage::with(KEY, ID);
        let storage = MemoryStorage::with(KEY, OTHER);
        assert_eq!(resolve(&cookies, &storage, fresh), ID);
        assert_eq!(storage.get(KEY).as_deref(), Some(ID));
    }

    #[test]
    fn storage_restores_a_lost_cookie() {
        let cookies = MemoryStorage::default();
        let storage = MemoryStorage::with(KEY, ID);
        assert_eq!(resolve(&cookies, &storage, fresh), ID);
        assert_eq!(cookies.get(KEY).as_deref(), Some(ID));
    }

    #[test]
    fn invalid_stored_ids_are_replaced() {
        let cookies = MemoryStorage::with(KEY, "not valid");
        let storage = MemoryStorage::with(KEY, "");
        assert_eq!(resolve(&cookies, &storage, fresh), "new-id");
        let cookies = MemoryStorage::with(KEY, "not valid");
        let storage = MemoryStorage::with(KEY, ID);
        assert_eq!(resolve(&cookies, &storage, fresh), ID);
    }

    #[test]
    fn a_reused_id_does_not_call_create() {
        let cookies = MemoryStorage::with(KEY, ID);
        let id = resolve(&cookies, &MemoryStorage::default(), || {
            panic!("create must not run")
        });
        assert_eq!(id, ID);
    }
}
