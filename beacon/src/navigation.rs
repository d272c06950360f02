//! Which navigations are page views, and when a page view's engagement is due.
//!
//! Browsers report one navigation through several channels (the patched
//! `history.pushState`, `popstate`, `hashchange`, the Navigation API), and sites call
//! `replaceState` for state that is no navigation at all. One rule covers all of them: a
//! page view is recorded only when the page's key (URL without its fragment, or with it
//! when the site routes by hash, `data-hash="true"`) differs from the last recorded one,
//! whichever API reported the change. A page restored from the back/forward cache is
//! always a new view.

/// The part of `url` that identifies a page: without the `#fragment` unless `with_hash`.
pub fn view_key(url: &str, with_hash: bool) -> &str {
    if with_hash {
        return url;
    }
    match url.bytes().position(|b| b == b'#') {
        Some(i) => url.get(..i).unwrap_or(url),
        None => url,
    }
}

/// The last recorded page.
#[derive(Debug, Default)]
pub struct Navigation {
    last: Option<String>,
}

impl Navigation {
    /// Whether a navigation to `url` is a new page view (and if so, remembers it).
    /// `restored`: the page came back from the back/forward cache.
    pub fn record(&mut self, url: &str, with_hash: bool, restored: bool) -> bool {
        let key = view_key(url, with_hash);
        if !restored && self.last.as_deref() == Some(key) {
            return false;
        }
        self.last = Some(key.into());
        true
    }
}

/// Whether an engagement event is due for a view: something accrued since the last one
/// sent, some visible time or a deeper scroll. `visibilitychange` and `pagehide` both fire
/// when a page is left; the second then finds nothing new and sends nothing.
pub fn engagement_due(visible_ms: u64, scroll: u8, sent_scroll: u8) -> bool {
    visible_ms > 0 || scroll > sent_scroll
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fragment_counts_only_with_hash_routing() {
        assert_eq!(view_key("https://a/p?q#x", false), "https://a/p?q");
        assert_eq!(view_key("https://a/p?q#x", true), "https://a/p?q#x");
        assert_eq!(view_key("https://a/p", false), "https://a/p");
    }

    #[test]
    fn a_view_is_recorded_once_per_change() {
        let mut nav = Navigation::default();
        assert!(nav.record("https://a/app", false, false));
        assert!(
            !nav.record("https://a/app", false, false),
            "replaceState, same URL"
        );
        assert!(!nav.record("https://a/app#top", false, false), "hash only");
        assert!(nav.record("https://a/app?view=map", false, false));
        assert!(
            !nav.record("https://a/app?view=map", false, false),
            "reported twice"
        );
        assert!(nav.record("https://a/app", false, false), "back");
        assert!(nav.record("https://a/app", false, true), "bfcache restore");
    }

    #[test]
    fn with_hash_routing_a_hash_change_is_a_view() {
        let mut nav = Navigation::default();
        assert!(nav.record("https://a/#/one", true, false));
        assert!(nav.record("https://a/#/two", true, false));
        assert!(!nav.record("https://a/#/two", true, false));
    }

    #[test]
    fn engagement_is_sent_once_per_accrual() {
        assert!(engagement_due(1500, 0, 0));
        assert!(engagement_due(0, 50, 20));
        assert!(!engagement_due(0, 50, 50), "second hide event, nothing new");
        assert!(!engagement_due(0, 0, 0));
    }
}
