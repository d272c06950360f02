//! [`Peer`]: who is on the other end of the connection — the client IP the collector uses
//! for identity, and whether the request reached us over https.
//!
//! The IP is the socket peer, unless the peer is a configured trusted proxy: then it is the
//! right-most untrusted hop of the configured forwarding header (see [`super::forwarded`]).
//! When a trusted proxy does not say who its client is (no header, or a hop that cannot be
//! read), the client is unknown: [`Peer::known`] is false and [`Peer::ip`] is the proxy's
//! address, which `/collect` may count by but the admin gate never takes for local.
//! A proxy's `X-Forwarded-Proto` / `Forwarded: proto=` is likewise believed only from a
//! trusted proxy, so a client cannot talk its way into anything. The address is used in
//! memory only; it is never stored or logged.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use super::forwarded::{self, Client, ForwardedHeader};
use crate::http::error::AppError;
use crate::state::AppState;

/// The client as the collector sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// The client's address, or the nearest trusted proxy's when the client is unknown
    /// (never written anywhere).
    pub ip: IpAddr,
    /// Whether `ip` is the client's own address (false: a trusted proxy did not say).
    pub known: bool,
    /// Whether the request came over https.
    pub https: bool,
}

impl Peer {
    /// Reads the peer from the socket address and headers, believing forwarding headers
    /// (`header` for the address) only from `trusted` proxies.
    pub fn from_parts(
        socket: SocketAddr,
        headers: &HeaderMap,
        trusted: &[IpNet],
        header: ForwardedHeader,
    ) -> Peer {
        let peer = socket.ip();
        let (client, https) = if forwarded::is_trusted(peer, trusted) {
            let hops = forwarded::hops(headers, header);
            (
                forwarded::client_ip(peer, &hops, trusted),
                forwarded_https(headers),
            )
        } else {
            (forwarded::client_ip(peer, &[], trusted), false)
        };
        Peer {
            ip: client.address(),
            known: matches!(client, Client::Known(_)),
            https,
        }
    }

    /// Whether the client is known to be on this host (`127.0.0.0/8`, `::1`, or IPv4
    /// loopback mapped into IPv6). An unknown client never is.
    pub fn is_loopback(&self) -> bool {
        self.known
            && match self.ip {
                IpAddr::V4(v4) => v4.is_loopback(),
                IpAddr::V6(v6) => {
                    v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
                }
            }
    }
}

/// Whether a proxy's headers say the original request used https.
fn forwarded_https(headers: &HeaderMap) -> bool {
    let proto = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(p) = proto("x-forwarded-proto") {
        return p.eq_ignore_ascii_case("https");
    }
    proto("forwarded").is_some_and(|f| {
        f.split([';', ','])
            .filter_map(|pair| pair.split_once('='))
            .any(|(k, v)| k.trim().eq_ignore_ascii_case("proto") && v.trim_matches('"') == "https")
    })
}

impl<S> FromRequestParts<S> for Peer
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // The extractor (not the raw extension) so `MockConnectInfo` works in tests.
        let ConnectInfo(socket) = ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::Internal("server started without ConnectInfo".into()))?;
        let state = AppState::from_ref(state);
        Ok(Peer::from_parts(
            socket,
            &parts.headers,
            &state.config.trusted_proxies,
            state.config.client_ip_header,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    const XFF: ForwardedHeader = ForwardedHeader::XForwardedFor;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_socket_peer_is_the_client() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4")]);
        let p = Peer::from_parts(addr("203.0.113.9:5000"), &h, &[], XFF);
        assert_eq!(
            p,
            Peer {
                ip: "203.0.113.9".parse().unwrap(),
                known: true,
                https: false
            }
        );
    }

    #[test]
    fn https_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["127.0.0.0/8".parse().unwrap()];
        let h = headers(&[("x-forwarded-proto", "https")]);
        assert!(Peer::from_parts(addr("127.0.0.1:1"), &h, &trusted, XFF).https);
        assert!(!Peer::from_parts(addr("198.51.100.1:1"), &h, &trusted, XFF).https);
        let f = headers(&[("forwarded", "for=192.0.2.60;proto=https;by=203.0.113.43")]);
        assert!(Peer::from_parts(addr("127.0.0.1:1"), &f, &trusted, XFF).https);
        let http = headers(&[("x-forwarded-proto", "http")]);
        assert!(!Peer::from_parts(addr("127.0.0.1:1"), &http, &trusted, XFF).https);
    }

    #[test]
    fn behind_a_trusted_proxy_the_forwarded_client_is_used() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7")]);
        let p = Peer::from_parts(addr("127.0.0.1:1"), &h, &trusted, XFF);
        assert_eq!(p.ip, "198.51.100.7".parse::<IpAddr>().unwrap());
        let f = Peer::from_parts(
            addr("127.0.0.1:1"),
            &h,
            &trusted,
            ForwardedHeader::Forwarded,
        );
        assert_eq!(
            f.ip,
            "127.0.0.1".parse::<IpAddr>().unwrap(),
            "the other header is ignored"
        );
    }

    #[test]
    fn a_trusted_proxy_without_a_readable_client_is_never_local() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        let none = Peer::from_parts(addr("127.0.0.1:1"), &HeaderMap::new(), &trusted, XFF);
        assert!(!none.known && !none.is_loopback());
        assert_eq!(none.ip, "127.0.0.1".parse::<IpAddr>().unwrap());
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"\xff, 198.51.100.7").unwrap(),
        );
        let p = Peer::from_parts(addr("127.0.0.1:1"), &h, &trusted, XFF);
        assert!(p.known && !p.is_loopback());
        assert_eq!(p.ip, "198.51.100.7".parse::<IpAddr>().unwrap());
        let local = Peer::from_parts(addr("[::ffff:127.0.0.1]:1"), &HeaderMap::new(), &[], XFF);
        assert!(local.is_loopback());
    }
}
