//! [`Sites`]: the sites this collector counts for, each with the hostnames its pages are
//! served from.
//!
//! An event names its site; the collector accepts it only when the site is configured, the
//! page URL's hostname is one of the site's, and the request's `Origin` (when the browser
//! sends one) is too. So a stranger cannot fill a site's reports from their own pages, and
//! CORS ([`crate::http::cors`]) answers only these origins.
//!
//! Configured as `--sites` / `SPOOR_SITES`: `id=host,host;id=host`, for example
//! `demo=localhost,127.0.0.1;shop=shop.example,*.shop.example`. A host `*.name` allows
//! every subdomain of `name` (not `name` itself); an IPv6 address is written bare or in
//! brackets (`::1`, `[::1]`). The default is the demo:
//! `demo=localhost,127.0.0.1`.

use std::fmt;
use std::str::FromStr;

/// One site and its hostnames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The id events carry in `site`.
    pub id: String,
    /// Hostnames (lower case, no port) its pages are served from; `*.name` for subdomains.
    pub hosts: Vec<String>,
}

impl Site {
    /// Whether a page on `host` belongs to this site.
    pub fn allows_host(&self, host: &str) -> bool {
        let host = unbracket(host.trim_end_matches('.')).to_ascii_lowercase();
        self.hosts
            .iter()
            .any(|allowed| match allowed.strip_prefix("*.") {
                Some(parent) => host
                    .strip_suffix(parent)
                    .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                None => unbracket(allowed) == host,
            })
    }

    /// Whether `origin` (an `Origin` header value) is one of this site's pages.
    pub fn allows_origin(&self, origin: &str) -> bool {
        origin_host(origin).is_some_and(|host| self.allows_host(&host))
    }
}

/// An IPv6 literal without its URL brackets (`[::1]` → `::1`); anything else as it is.
fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// The hostname of an `Origin` header value (`scheme://host[:port]`), if it is an http(s)
/// origin; `null` and anything else is `None`.
pub fn origin_host(origin: &str) -> Option<String> {
    let url = url::Url::parse(origin).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    url.host_str().map(|h| unbracket(h).to_ascii_lowercase())
}

/// Every configured site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sites(Vec<Site>);

impl Sites {
    /// The site with id `id`, if configured.
    pub fn get(&self, id: &str) -> Option<&Site> {
        self.0.iter().find(|s| s.id == id)
    }

    /// Whether any site serves pages from `origin`: what CORS answers.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.0.iter().any(|s| s.allows_origin(origin))
    }

    /// The sites, in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &Site> {
        self.0.iter()
    }
}

impl Default for Sites {
    /// The demo site on `localhost` and `127.0.0.1`.
    fn default() -> Self {
        Sites(vec![Site {
            id: "demo".into(),
            hosts: vec!["localhost".into(), "127.0.0.1".into()],
        }])
    }
}

impl FromStr for Sites {
    type Err = String;

    fn from_str(value: &str) -> Result<Sites, String> {
        let mut sites: Vec<Site> = Vec::new();
        for part in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (id, hosts) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not id=host,host"))?;
            let id = id.trim();
            let token = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
            if id.is_empty() || id.len() > crate::payload::MAX_SITE_LEN || !id.bytes().all(token) {
                return Err(format!(
                    "site id {id:?} must be 1 to 64 of A-Z a-z 0-9 - _ ."
                ));
            }
            if sites.iter().any(|s| s.id == id) {
                return Err(format!("site {id:?} is configured twice"));
            }
            let hosts: Vec<String> = hosts
                .split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect();
            if hosts.is_empty() {
                return Err(format!("site {id:?} has no hostnames"));
            }
            if let Some(bad) = hosts.iter().find(|h| {
                let name = h.strip_prefix("*.").unwrap_or(h);
                let ipv6 = name.parse::<std::net::Ipv6Addr>().is_ok()
                    || unbracket(name).parse::<std::net::Ipv6Addr>().is_ok();
                name.is_empty() || name.contains(['/', '*', ' ']) || (name.contains(':') && !ipv6)
            }) {
                return Err(format!(
                    "{bad:?} is not a hostname (no scheme, port or path)"
                ));
            }
            sites.push(Site {
                id: id.to_string(),
                hosts,
            });
        }
        if sites.is_empty() {
            return Err("no sites configured".into());
        }
        Ok(Sites(sites))
    }
}

impl fmt::Display for Sites {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|s| format!("{}={}", s.id, s.hosts.join(",")))
            .collect();
        f.write_str(&parts.join(";"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_demo_on_localhost() {
        let sites = Sites::default();
        assert_eq!(sites.to_string(), "demo=localhost,127.0.0.1");
        let demo = sites.get("demo").unwrap();
        assert!(demo.allows_host("localhost") && demo.allows_host("127.0.0.1"));
        assert!(!demo.allows_host("example.com"));
        assert!(sites.get("shop").is_none());
    }

    #[test]
    fn sites_parse_with_hosts_and_subdomain_wildcards() {
        let sites: Sites = "demo=localhost; shop = Shop.Example, *.shop.example"
            .parse()
            .unwrap();
        let shop = sites.get("shop").unwrap();
        assert!(shop.allows_host("shop.example") && shop.allows_host("www.shop.example"));
        assert!(!shop.allows_host("evilshop.example") && !shop.allows_host("example"));
        assert!(shop.allows_origin("https://www.shop.example:8443"));
        assert!(!shop.allows_origin("null") && !shop.allows_origin("file:///shop.example"));
        assert!(sites.allows_origin("http://localhost:8080"));
        let v6: Sites = "demo=::1;lab=[2001:db8::1]".parse().unwrap();
        assert!(v6.get("demo").unwrap().allows_host("[::1]"));
        assert!(v6.allows_origin("http://[2001:db8::1]:8080"));
        assert!(!sites.allows_origin("http://localhost.evil.example"));
    }

    #[test]
    fn bad_configurations_are_refused() {
        for bad in [
            "",
            "demo",
            "demo=",
            "de mo=x",
            "a=x;a=y",
            "a=http://x",
            "a=x:80",
        ] {
            assert!(bad.parse::<Sites>().is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parsing_and_matching_never_panic(config in "\\PC{0,60}", origin in "\\PC{0,60}") {
            if let Ok(sites) = config.parse::<Sites>() {
                let _ = sites.allows_origin(&origin);
            }
            let _ = origin_host(&origin);
        }
    }
}
