//! The collector's own visitor cookie, `spoor_sid`.
//!
//! It is signed (HMAC, key kept in the store) so a client cannot claim another visitor, and
//! `HttpOnly`, which makes it a server-set cookie: Safari's 7-day cap on script-written
//! cookies does not apply. It has a name of its own because the beacon must be able to
//! read and rewrite `spoor_id`, which a script cannot do to an `HttpOnly` cookie. It only
//! reaches the collector when `/collect` is same-site with the page.
//!
//! Over https it is named `__Host-spoor_sid`: browsers accept that prefix only with
//! `Secure`, `Path=/` and no `Domain`, so no other host or plain-http page of the site can
//! plant or overwrite it. Both names are read, the prefixed one first.

use axum_extra::extract::cookie::{Cookie, SameSite, SignedCookieJar};
use cookie::time::Duration;

/// The cookie's name over plain http.
pub const NAME: &str = "spoor_sid";
/// The cookie's name over https.
pub const HOST_NAME: &str = "__Host-spoor_sid";
/// How long the cookie lives: 400 days, the longest Chromium keeps any cookie.
pub const MAX_AGE_DAYS: i64 = 400;

/// The visitor id carried by a valid signed cookie, if the request has one. A tampered or
/// unsigned cookie is ignored.
pub fn visitor(jar: &SignedCookieJar) -> Option<String> {
    [HOST_NAME, NAME]
        .into_iter()
        .filter_map(|name| jar.get(name))
        .map(|c| c.value().to_string())
        .find(|v| !v.is_empty())
}

/// The cookie that names `visitor`, with every attribute explicit. `secure` is set when the
/// request came over https.
pub fn cookie(visitor: String, secure: bool) -> Cookie<'static> {
    Cookie::build((if secure { HOST_NAME } else { NAME }, visitor))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(Duration::days(MAX_AGE_DAYS))
        .secure(secure)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_explicit() {
        let text = cookie("v1".into(), false).to_string();
        for part in [
            "spoor_sid=v1",
            "HttpOnly",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=34560000",
        ] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
        assert!(!text.contains("Secure"));
        let https = cookie("v1".into(), true).to_string();
        assert!(
            https.starts_with("__Host-spoor_sid=v1") && https.contains("Secure"),
            "{https}"
        );
        assert!(!https.contains("Domain"));
    }

    proptest::proptest! {
        /// Fault test 5: whatever a client puts in its `Cookie` header, reading the
        /// visitor never panics, and only a cookie this key signed yields one.
        #[test]
        fn reading_any_cookie_header_never_panics(header in "\\PC{0,200}", raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            use axum::http::{HeaderMap, HeaderValue};
            use axum_extra::extract::cookie::Key;
            let key = Key::from(&[7u8; 64]);
            for value in [HeaderValue::from_str(&header).ok(), HeaderValue::from_bytes(&raw).ok()].into_iter().flatten() {
                let mut headers = HeaderMap::new();
                headers.insert(axum::http::header::COOKIE, value);
                let jar = SignedCookieJar::from_headers(&headers, key.clone());
                proptest::prop_assert_eq!(visitor(&jar), None);
            }
        }
    }
}
