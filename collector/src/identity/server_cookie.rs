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
//!
//! The cookie also says whether the browser holding it is proven to own its visitor id
//! ([`vouched`]): the collector issued it for an id that was new to the store, or carried
//! such a cookie forward. A cookie issued because a request named an id the store already
//! knew (anyone who learns a visitor id can send it) carries the [`CLAIMED`] mark, so a
//! signed login under it is not taken as the owner's (see
//! [`verify`](super::verify)). Cookies from before the mark count as vouched.

use axum_extra::extract::cookie::{Cookie, SameSite, SignedCookieJar};
use cookie::time::Duration;

/// The cookie's name over plain http.
pub const NAME: &str = "spoor_sid";
/// The cookie's name over https.
pub const HOST_NAME: &str = "__Host-spoor_sid";
/// Appended to the value of a cookie issued for a claimed id; no visitor id contains `~`.
pub const CLAIMED: &str = "~c";
/// How long the cookie lives: 400 days, the longest Chromium keeps any cookie.
pub const MAX_AGE_DAYS: i64 = 400;

/// The visitor id carried by a valid signed cookie, if the request has one. A tampered or
/// unsigned cookie is ignored.
pub fn visitor(jar: &SignedCookieJar) -> Option<String> {
    [HOST_NAME, NAME]
        .into_iter()
        .filter_map(|name| jar.get(name))
        .map(|c| {
            let value = c.value();
            value.strip_suffix(CLAIMED).unwrap_or(value).to_string()
        })
        .find(|v| !v.is_empty())
}

/// Whether the request's valid cookie is vouched for: issued for an id that was new, not
/// for one a request merely named. `false` without a valid cookie.
pub fn vouched(jar: &SignedCookieJar) -> bool {
    [HOST_NAME, NAME]
        .into_iter()
        .filter_map(|name| jar.get(name))
        .map(|c| c.value().to_string())
        .find(|v| !v.is_empty())
        .is_some_and(|v| !v.ends_with(CLAIMED))
}

/// The cookie that names `visitor` without vouching for it ([`CLAIMED`]).
pub fn claimed_cookie(visitor: String, secure: bool) -> Cookie<'static> {
    cookie(visitor + CLAIMED, secure)
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
        let claimed = claimed_cookie("v1".into(), false).to_string();
        assert!(claimed.starts_with("spoor_sid=v1~c;"), "{claimed}");
    }

    #[test]
    fn a_claimed_cookie_names_its_visitor_but_is_not_vouched() {
        use axum_extra::extract::cookie::Key;
        let key = Key::from(&[7u8; 64]);
        let read = |c: Cookie<'static>| {
            let jar = SignedCookieJar::new(key.clone()).add(c);
            (visitor(&jar), vouched(&jar))
        };
        assert_eq!(read(cookie("v1".into(), false)), (Some("v1".into()), true));
        assert_eq!(
            read(claimed_cookie("v1".into(), false)),
            (Some("v1".into()), false)
        );
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
