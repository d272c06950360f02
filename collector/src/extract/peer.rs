//! [`Peer`]: who is on the other end of the connection — the client IP the collector uses
//! for identity, and whether the request reached us over https.
//!
//! The IP is the socket peer, unless the peer is a configured trusted proxy: then it is the
//! right-most untrusted hop of the configured forwarding header (see [`super::forwarded`]).
//! A proxy's `X-Forwarded-Proto` / `Forwarded: proto=` is likewise believed only from a
//! trusted proxy, so a client cannot talk its way into anything. The address is used in
//! memory only; it is never stored or logged.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use super::forwarded::{self, ForwardedHeader};
use crate::error::AppError;
use crate::state::AppState;

/// The client as the collector sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// The client's address (never written anywhere).
    pub ip: IpAddr,
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
        if !forwarded::is_trusted(peer, trusted) {
            return Peer {
                ip: forwarded::client_ip(peer, &[], trusted),
                https: false,
            };
        }
        let ip = forwarded::client_ip(peer, &forwarded::hops(headers, header), trusted);
        Peer {
            ip,
            https: forwarded_https(headers),
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
}
