//! Where a session came from: its source (the `utm_source` tag, else the referring host,
//! else `Direct`) and that source's class (`search`, `social`, `direct`, `other`) from a
//! small table of search engines and social networks.

/// Hosts (without `www.`) of search engines; a host matches itself and its subdomains, and
/// `google.*` matches any Google country domain.
const SEARCH: &[&str] = &[
    "bing.com",
    "duckduckgo.com",
    "search.yahoo.com",
    "yahoo.com",
    "baidu.com",
    "yandex.ru",
    "yandex.com",
    "ecosia.org",
    "qwant.com",
    "startpage.com",
    "search.brave.com",
    "kagi.com",
    "naver.com",
];

/// Hosts of social networks.
const SOCIAL: &[&str] = &[
    "facebook.com",
    "fb.com",
    "instagram.com",
    "twitter.com",
    "x.com",
    "t.co",
    "linkedin.com",
    "lnkd.in",
    "reddit.com",
    "youtube.com",
    "pinterest.com",
    "tiktok.com",
    "mastodon.social",
    "bsky.app",
    "threads.net",
    "news.ycombinator.com",
    "vk.com",
];

/// The source of a session whose first event came from `referrer` (a URL) with
/// `utm_source`, on a site served from `hostname`: `(source, class)`.
pub fn classify(
    referrer: Option<&str>,
    utm_source: Option<&str>,
    hostname: &str,
) -> (String, &'static str) {
    let host = referrer
        .and_then(|r| url::Url::parse(r).ok())
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .map(|h| h.strip_prefix("www.").map(str::to_string).unwrap_or(h))
        .filter(|h| !h.is_empty());
    let own = hostname.to_ascii_lowercase();
    let own = own.strip_prefix("www.").unwrap_or(&own);
    let host = host.filter(|h| h != own);
    let class = match host.as_deref() {
        Some(h) if is_search(h) => "search",
        Some(h) if matches_any(h, SOCIAL) => "social",
        Some(_) => "other",
        None => "direct",
    };
    let source = match (utm_source.filter(|s| !s.is_empty()), host) {
        (Some(tag), _) => tag.to_string(),
        (None, Some(h)) => h,
        (None, None) => "Direct".to_string(),
    };
    let class = if class == "direct" && source != "Direct" {
        "other"
    } else {
        class
    };
    (source, class)
}

fn is_search(host: &str) -> bool {
    matches_any(host, SEARCH)
        || host.split('.').any(|label| label == "google") && !host.starts_with("mail.")
}

fn matches_any(host: &str, table: &[&str]) -> bool {
    table
        .iter()
        .any(|t| host == *t || host.strip_suffix(t).is_some_and(|p| p.ends_with('.')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referrers_are_classified_by_host() {
        let c = |r: Option<&str>, utm: Option<&str>| classify(r, utm, "example.com");
        assert_eq!(
            c(Some("https://www.google.co.uk/search?q=x"), None),
            ("google.co.uk".into(), "search")
        );
        assert_eq!(
            c(Some("https://duckduckgo.com/"), None),
            ("duckduckgo.com".into(), "search")
        );
        assert_eq!(c(Some("https://t.co/abc"), None), ("t.co".into(), "social"));
        assert_eq!(
            c(Some("https://old.reddit.com/r/rust"), None),
            ("old.reddit.com".into(), "social")
        );
        assert_eq!(
            c(Some("https://blog.rust-lang.org/x"), None),
            ("blog.rust-lang.org".into(), "other")
        );
        assert_eq!(c(None, None), ("Direct".into(), "direct"));
        assert_eq!(
            c(Some("https://www.example.com/a"), None),
            ("Direct".into(), "direct"),
            "own site"
        );
        assert_eq!(c(Some("not a url"), None), ("Direct".into(), "direct"));
        assert_eq!(c(None, Some("newsletter")), ("newsletter".into(), "other"));
        assert_eq!(
            c(Some("https://www.bing.com/"), Some("spring")),
            ("spring".into(), "search"),
            "the tag names the source, the referrer its class"
        );
        assert_eq!(
            c(Some("https://notx.com/"), None),
            ("notx.com".into(), "other")
        );
    }
}
