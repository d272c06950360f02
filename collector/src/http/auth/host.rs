//! The `Host` check against DNS rebinding: answers under the gate go only to requests
//! addressed to one of the collector's public hostnames.
//!
//! A page on `evil.example` can make its own name resolve to 127.0.0.1; the browser then
//! sends that page's requests to the collector, same-origin as far as it knows, but still
//! with `Host: evil.example`. Checking `Host` is what tells the two apart. The names come
//! from [`PublicHosts`] (`--public-hosts`); by default they are the loopback names and the
//! listen address' host, which is what a collector on a laptop is reached by.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::http::{Request, header};

/// The hostnames the collector answers `/api`, `/metrics` and the dashboard under, any
/// port. Empty means the defaults: `localhost`, `127.0.0.1`, `[::1]` and the listen host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicHosts(Vec<String>);

impl FromStr for PublicHosts {
    type Err = String;

    /// A comma-separated list of hostnames or IP addresses (`stats.example.com,[::1]`),
    /// without scheme or port.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut names = Vec::new();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match host_of(name) {
                Some((host, None)) => names.push(host),
                _ => return Err(format!("{name:?} is not a hostname (no scheme or port)")),
            }
        }
        if names.is_empty() {
            return Err("names no host".into());
        }
        Ok(PublicHosts(names))
    }
}

impl PublicHosts {
    /// Whether `host` (a `Host` header's host, as [`request_host`] returns it) is one of
    /// these names, or of the defaults for a collector listening on `listen`.
    pub fn allows(&self, host: &str, listen: SocketAddr) -> bool {
        if self.0.is_empty() {
            return is_loopback_name(host)
                || (!listen.ip().is_unspecified() && host_is_ip(host, listen.ip()));
        }
        self.0.iter().any(|name| name == host)
    }

    /// The name a printed URL should use: the first configured one, if any.
    pub fn first(&self) -> Option<&str> {
        self.0.first().map(String::as_str)
    }
}

/// Whether `host` names this machine's loopback interface: `localhost`, `127.0.0.1` or
/// `::1`.
pub fn is_loopback_name(host: &str) -> bool {
    host == "localhost" || host == "127.0.0.1" || host == "::1"
}

fn host_is_ip(host: &str, ip: IpAddr) -> bool {
    host.parse::<IpAddr>().is_ok_and(|h| h == ip)
}

/// The host a request is addressed to, lowercased and without port or IPv6 brackets;
/// `None` when `Host` (or, for HTTP/2, the URI's authority) is missing or malformed.
pub fn request_host<B>(request: &Request<B>) -> Option<String> {
    let raw = match request.headers().get(header::HOST) {
        Some(value) => value.to_str().ok()?.to_string(),
        None => request.uri().authority()?.as_str().to_string(),
    };
    host_of(&raw).map(|(host, _)| host)
}

/// Whether the authorities `a` and `b` (`host[:port]`) name the same host and port.
pub fn same_authority(a: &str, b: &str) -> bool {
    let a = host_of(a);
    a.is_some() && a == host_of(b)
}

/// Splits `authority` (`host`, `host:port`, `[v6]`, `[v6]:port`) into its lowercased host
/// and its port; `None` when it is not one.
fn host_of(authority: &str) -> Option<(String, Option<String>)> {
    let authority = authority.trim();
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        inside.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (inside, port)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    let name_chars = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b':';
    if host.is_empty() || host.len() > 253 || !host.bytes().all(name_chars) {
        return None;
    }
    Some((host.to_ascii_lowercase(), port.map(str::to_string)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use proptest::prelude::*;

    fn host(value: &str) -> Option<String> {
        let request = Request::get("/api/sites")
            .header(header::HOST, value)
            .body(Body::empty())
            .unwrap();
        request_host(&request)
    }

    const LISTEN: &str = "127.0.0.1:8080";

    #[test]
    fn the_defaults_are_the_loopback_names_and_the_listen_host_on_any_port() {
        let d = PublicHosts::default();
        let listen: SocketAddr = LISTEN.parse().unwrap();
        for ok in [
            "localhost:8080",
            "LOCALHOST",
            "127.0.0.1:1",
            "[::1]:8080",
            "[::1]",
        ] {
            assert!(d.allows(&host(ok).unwrap(), listen), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "evil.example",
            "localhost.evil.example",
            "10.0.0.1",
        ] {
            assert!(!d.allows(&host(bad).unwrap(), listen), "{bad}");
        }
        let lan: SocketAddr = "192.168.1.5:8080".parse().unwrap();
        assert!(d.allows(&host("192.168.1.5:8080").unwrap(), lan));
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert!(!d.allows(&host("0.0.0.0:8080").unwrap(), any));
    }

    #[test]
    fn configured_names_replace_the_defaults() {
        let p: PublicHosts = "Stats.Example.com, [::1]".parse().unwrap();
        let listen: SocketAddr = LISTEN.parse().unwrap();
        assert!(p.allows(&host("stats.example.com").unwrap(), listen));
        assert!(p.allows(&host("[::1]:443").unwrap(), listen));
        assert!(!p.allows(&host("localhost").unwrap(), listen));
        assert_eq!(p.first(), Some("stats.example.com"));
        for bad in [
            "",
            " , ",
            "https://stats.example.com",
            "stats.example.com:443",
            "a b",
        ] {
            assert!(bad.parse::<PublicHosts>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn malformed_hosts_are_none() {
        for bad in [
            "", ":8080", "a:b", "[::1", "[nope]:1", "a/b", "x:123456", "a@b",
        ] {
            assert_eq!(host(bad), None, "{bad:?}");
        }
        let missing = Request::get("/api/sites").body(Body::empty()).unwrap();
        assert_eq!(request_host(&missing), None);
    }

    proptest! {
        #[test]
        fn a_foreign_name_is_never_allowed_by_default(name in "[a-z][a-z0-9-]{0,20}\\.[a-z]{2,6}", port in 0u16..) {
            prop_assume!(name != "localhost");
            let h = host(&format!("{name}:{port}")).unwrap();
            prop_assert!(!PublicHosts::default().allows(&h, LISTEN.parse().unwrap()));
        }
    }
}
