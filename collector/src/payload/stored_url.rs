//! What of a URL is stored: scheme, host, port, path, and only the query parameters a site
//! needs; never the raw URL.
//!
//! Page URLs carry whatever the site put there: `?email=…`, reset and login tokens, search
//! terms, and they would be kept for the whole retention period (25 months by default).
//! So every URL an event carries — the page `url`, the `referrer`, an outbound or download
//! `target` — is cut to `scheme://host[:port]/path` plus:
//! - the query parameters named `utm_*` (campaign tags; they are also read from the raw URL
//!   into their own columns before it is cut, see [`utm`](super::utm)), and on the site's
//!   own URLs (a host of the site) those it lists in `--keep-query-params`
//!   ([`KeptParams`]): a referrer or link to another site keeps only `utm_*`, since another
//!   site's `q` or `id` is not what the list meant. Each is kept exactly as sent;
//! - the fragment only when it is a route (`#/…` or `#!/…`, what hash-routed single-page
//!   apps use, the beacon's `data-hash`), and then only its path: a route's own `?query` is
//!   dropped. Any other fragment (`#top`, `#access_token=…`) is dropped.
//!
//! A user name or password in the URL is dropped, and a URL without a hierarchical path
//! (`data:`, `mailto:`) keeps only its scheme. Text that is not a URL at all (a referrer
//! may be anything) is cut at its first `?` or `#`. The path itself is kept: a site that
//! puts personal data in its paths has to fix its paths.
//!
//! The collect handler calls [`scrub_event`] once per stored event; events that fail
//! validation go to `failed_events` through [`scrub_failed`], which keeps no site-specific
//! parameters (the site is not checked yet).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde_json::Value;
use url::Url;
use url::form_urlencoded;

use crate::event::{ClientEvent, EventKind};
use crate::sites::Site;

/// The prefix of the query parameters every site keeps: campaign tags.
pub const ALWAYS_KEPT_PREFIX: &str = "utm_";

/// The query parameters each site keeps besides `utm_*` (`--keep-query-params`,
/// `SPOOR_KEEP_QUERY_PARAMS`: `site=name,name;site=name`, for example
/// `demo=q,page;shop=sku`). Names are matched exactly, after percent-decoding. A site not
/// listed keeps only `utm_*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeptParams(BTreeMap<String, Vec<String>>);

impl KeptParams {
    /// The parameter names `site` keeps besides `utm_*` (none for a site not listed).
    pub fn for_site(&self, site: &str) -> &[String] {
        self.0.get(site).map_or(&[], Vec::as_slice)
    }

    /// The sites listed, sorted by id.
    pub fn sites(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

impl FromStr for KeptParams {
    type Err = String;

    fn from_str(value: &str) -> Result<KeptParams, String> {
        let mut sites = BTreeMap::new();
        for part in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (site, names) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not site=name,name"))?;
            let site = site.trim();
            if site.is_empty() {
                return Err(format!("{part:?} names no site"));
            }
            let names: Vec<String> = names
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect();
            if let Some(bad) = names.iter().find(|n| n.contains(['=', '&', '#', '?', ' '])) {
                return Err(format!("{bad:?} is not a query parameter name"));
            }
            if sites.insert(site.to_string(), names).is_some() {
                return Err(format!("site {site:?} is listed twice"));
            }
        }
        Ok(KeptParams(sites))
    }
}

impl fmt::Display for KeptParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(site, names)| format!("{site}={}", names.join(",")))
            .collect();
        f.write_str(&parts.join(";"))
    }
}

/// `raw` as it may be stored: see the module docs. `keep` names the query parameters kept
/// besides `utm_*`.
pub fn strip(raw: &str, keep: &[String]) -> String {
    let Ok(mut url) = Url::parse(raw) else {
        // Not a URL: keep what comes before any query or fragment.
        let end = raw.find(['?', '#']).unwrap_or(raw.len());
        return raw[..end].to_string();
    };
    if url.cannot_be_a_base() {
        // `mailto:a@b.c`, `data:…`: the "path" is the payload.
        return format!("{}:", url.scheme());
    }
    // Both only fail for URLs without a host, which have no user info to drop either.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let query = url.query().map(|q| kept_query(q, keep));
    url.set_query(query.as_deref().filter(|q| !q.is_empty()));
    let route = url.fragment().and_then(route_of).map(str::to_string);
    url.set_fragment(route.as_deref());
    url.into()
}

/// The `&`-separated pairs of `query` whose decoded name is `utm_*` or in `keep`, as sent.
fn kept_query(query: &str, keep: &[String]) -> String {
    query
        .split('&')
        .filter(|pair| {
            form_urlencoded::parse(pair.as_bytes())
                .next()
                .is_some_and(|(name, _)| {
                    name.starts_with(ALWAYS_KEPT_PREFIX) || keep.iter().any(|k| *k == name)
                })
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The route of a fragment used for hash routing (`/a/b` or `!/a/b`, without a `?query`),
/// or `None` for any other fragment.
fn route_of(fragment: &str) -> Option<&str> {
    if !(fragment.starts_with('/') || fragment.starts_with("!/")) {
        return None;
    }
    Some(fragment.split('?').next().unwrap_or_default())
}

/// Cuts the event's page URL, referrer and link target to what may be stored, keeping
/// `utm_*` and, on URLs of one of `site`'s hosts, the query parameters in `keep` (the
/// site's list). The campaign tags and the path were read from the raw URL before.
pub fn scrub_event(event: &mut ClientEvent, keep: &[String], site: &Site) {
    let cut = |raw: &str| {
        let own = Url::parse(raw)
            .ok()
            .and_then(|u| u.host_str().map(|host| site.allows_host(host)))
            .unwrap_or(false);
        strip(raw, if own { keep } else { &[] })
    };
    event.url = cut(&event.url);
    if let Some(referrer) = &event.referrer {
        event.referrer = Some(cut(referrer));
    }
    if let EventKind::Outbound { target } | EventKind::Download { target } = &mut event.kind {
        *target = cut(target);
    }
}

/// The JSON of an event that failed validation, with its `url`, `referrer` and `target`
/// strings cut as [`strip`] cuts them (keeping only `utm_*`), for `failed_events`.
pub fn scrub_failed(event: &Value) -> Value {
    let mut event = event.clone();
    if let Some(fields) = event.as_object_mut() {
        for key in ["url", "referrer", "target"] {
            if let Some(Value::String(s)) = fields.get_mut(key) {
                *s = strip(s, &[]);
            }
        }
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// How many of `pairs` have a name (as the query decodes it) that `allowed` accepts.
    fn raw_names_allowed(pairs: &[(String, String)], allowed: impl Fn(&str) -> bool) -> usize {
        pairs
            .iter()
            .filter(|(k, v)| {
                form_urlencoded::parse(format!("{k}={v}").as_bytes())
                    .next()
                    .is_some_and(|(name, _)| allowed(&name))
            })
            .count()
    }

    #[test]
    fn only_utm_and_listed_parameters_stay_and_the_fragment_goes() {
        let raw = "https://shop.example/p/42?email=a%40b.c&token=xyz&utm_source=n&q=1&sku=9#frag";
        assert_eq!(
            strip(raw, &names(&["q", "sku"])),
            "https://shop.example/p/42?utm_source=n&q=1&sku=9"
        );
        assert_eq!(strip(raw, &[]), "https://shop.example/p/42?utm_source=n");
        assert_eq!(
            strip("http://localhost:8080/a?email=a@b.c#top", &[]),
            "http://localhost:8080/a",
            "the port stays, an empty query goes"
        );
    }

    #[test]
    fn kept_pairs_stay_as_sent_and_names_are_decoded_to_match() {
        assert_eq!(
            strip(
                "https://a.example/?q=caf%C3%A9+au+lait&utm%5Fmedium=x&Q=no",
                &names(&["q"])
            ),
            "https://a.example/?q=caf%C3%A9+au+lait&utm%5Fmedium=x"
        );
        assert_eq!(
            strip("https://a.example/?UTM_SOURCE=x&q&q=&=z", &names(&["q"])),
            "https://a.example/?q&q=",
            "matching is exact; a name without a value counts"
        );
    }

    #[test]
    fn a_route_fragment_keeps_its_path_only() {
        assert_eq!(
            strip("https://app.example/#/orders/7?token=xyz", &[]),
            "https://app.example/#/orders/7"
        );
        assert_eq!(
            strip("https://app.example/?utm_source=n#!/inbox", &[]),
            "https://app.example/?utm_source=n#!/inbox"
        );
        for dropped in ["#top", "#access_token=xyz", "#", "#!", "#?/x"] {
            assert_eq!(
                strip(&format!("https://app.example/{dropped}"), &[]),
                "https://app.example/",
                "{dropped}"
            );
        }
    }

    #[test]
    fn user_info_goes_and_odd_urls_keep_little() {
        assert_eq!(
            strip("https://alice:s3cret@a.example/x?y=1", &[]),
            "https://a.example/x"
        );
        assert_eq!(strip("mailto:a@b.c?subject=hi", &[]), "mailto:");
        assert_eq!(
            strip("android-app://com.example.mail/?u=a@b.c", &[]),
            "android-app://com.example.mail/"
        );
        assert_eq!(strip("not a url?email=a@b.c#x", &[]), "not a url");
        assert_eq!(strip("", &[]), "");
    }

    #[test]
    fn an_event_has_its_url_referrer_and_target_scrubbed() -> Result<(), String> {
        let sites: crate::sites::Sites = "demo=example.com,*.example.com".parse()?;
        let site = sites.get("demo").ok_or("no demo")?;
        let mut e = crate::store::sqlite::tests::event(1, "v", "s").client;
        e.url = "https://example.com/a?token=xyz&keep=1#frag".into();
        e.referrer = Some("https://www.example.com/login?email=a@b.c&keep=2".into());
        e.kind = EventKind::Outbound {
            target: "https://other.example/x?email=a@b.c&keep=3&utm_medium=m".into(),
        };
        scrub_event(&mut e, &names(&["keep"]), site);
        assert_eq!(e.url, "https://example.com/a?keep=1");
        assert_eq!(
            e.referrer.as_deref(),
            Some("https://www.example.com/login?keep=2")
        );
        assert_eq!(
            e.kind,
            EventKind::Outbound {
                target: "https://other.example/x?utm_medium=m".into()
            },
            "another site's URL keeps only utm_*"
        );
        e.kind = EventKind::Download {
            target: "https://cdn.example.com/f.zip?keep=4&sig=s3cret".into(),
        };
        scrub_event(&mut e, &names(&["keep"]), site);
        assert_eq!(
            e.kind,
            EventKind::Download {
                target: "https://cdn.example.com/f.zip?keep=4".into()
            }
        );
        Ok(())
    }

    #[test]
    fn a_failed_event_keeps_no_query_but_utm() {
        let raw = json!({
            "url": "https://example.com/?email=a@b.c&utm_source=n",
            "referrer": "https://example.com/?token=xyz",
            "target": 7,
            "title": "?email=stays, it is not a URL",
        });
        assert_eq!(
            scrub_failed(&raw),
            json!({
                "url": "https://example.com/?utm_source=n",
                "referrer": "https://example.com/",
                "target": 7,
                "title": "?email=stays, it is not a URL",
            })
        );
        assert_eq!(scrub_failed(&json!([1])), json!([1]));
    }

    #[test]
    fn the_site_lists_parse_and_print() -> Result<(), String> {
        let kept: KeptParams = "demo=q,page; shop = sku ;empty=".parse()?;
        assert_eq!(kept.for_site("demo"), names(&["q", "page"]));
        assert_eq!(kept.for_site("shop"), names(&["sku"]));
        assert!(kept.for_site("empty").is_empty() && kept.for_site("other").is_empty());
        assert_eq!(kept.to_string(), "demo=q,page;empty=;shop=sku");
        assert_eq!("".parse::<KeptParams>()?, KeptParams::default());
        for bad in ["demo", "=q", "demo=a b", "demo=a=b", "a=x;a=y"] {
            assert!(bad.parse::<KeptParams>().is_err(), "{bad}");
        }
        Ok(())
    }

    proptest::proptest! {
        #[test]
        fn only_utm_and_listed_names_survive_and_all_of_them_do(
            pairs in proptest::collection::vec(
                ("(utm_[a-z]{1,3}|q|email|token|Q|utm|x%5Fy)", "[a-zA-Z0-9%@.+=-]{0,8}"),
                0..8,
            ),
            // A fragment, or none: without its `#` the text would be part of the query.
            fragment in "(#[/!a-z?=]{0,6})?",
        ) {
            let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let raw = format!("https://a.example/p?{}{fragment}", query.join("&"));
            let stored = Url::parse(&strip(&raw, &names(&["q"])))
                .map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            let kept: Vec<String> = stored.query_pairs().map(|(k, _)| k.into_owned()).collect();
            let allowed = |k: &str| k.starts_with("utm_") || k == "q";
            proptest::prop_assert!(kept.iter().all(|k| allowed(k)), "{raw} → {stored}");
            let expected = raw_names_allowed(&pairs, allowed);
            proptest::prop_assert_eq!(kept.len(), expected, "{} → {}", raw, stored);
            proptest::prop_assert!(stored.fragment().is_none_or(|f| !f.contains('?')));
        }

        #[test]
        fn stripping_never_panics_and_never_keeps_a_fragment_query(raw in "\\PC{0,80}") {
            let stored = strip(&raw, &names(&["q"]));
            if let Some((_, fragment)) = stored.split_once('#') {
                proptest::prop_assert!(!fragment.contains('?'));
            }
        }
    }
}
