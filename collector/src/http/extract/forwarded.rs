//! The client address behind trusted reverse proxies.
//!
//! A proxy appends the address it received a request from to a forwarding header, so the
//! header lists hops from the client (left) to the last proxy (right). Only the right end
//! can be trusted: everything left of the first untrusted hop may have been written by the
//! client itself. [`client_ip`] therefore walks from the socket peer leftwards through hops
//! that are trusted proxies and stops at the first one that is not — the real client.
//!
//! Which header is read is configuration, not a guess: a proxy that appends to
//! `X-Forwarded-For` passes a client's `Forwarded` header through untouched, so reading the
//! "other" header would let anyone choose their address.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The header trusted proxies write the client's address to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx's `$proxy_add_x_forwarded_for`).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for="[2001:db8::1]:4711"`.
    Forwarded,
}

impl std::str::FromStr for ForwardedHeader {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(ForwardedHeader::XForwardedFor),
            "forwarded" => Ok(ForwardedHeader::Forwarded),
            _ => Err("must be x-forwarded-for or forwarded".into()),
        }
    }
}

/// One hop of the chain: an address, or `None` for a hop that is not one (`unknown`, an
/// obfuscated `_name`, bytes that are not visible ASCII, garbage).
pub type Hop = Option<IpAddr>;

/// The hops listed in `header`, left to right, over every occurrence of the header in
/// order. Empty when the header is absent.
///
/// The raw bytes are split on `,` before anything is decoded: a client may put any byte in
/// its own part of the line, and the hops a trusted proxy appended to its right must still
/// be read. A hop that is not visible ASCII is one unreadable hop, not a reason to drop
/// the whole line.
pub fn hops(headers: &HeaderMap, header: ForwardedHeader) -> Vec<Hop> {
    let name = match header {
        ForwardedHeader::XForwardedFor => "x-forwarded-for",
        ForwardedHeader::Forwarded => "forwarded",
    };
    let mut out = Vec::new();
    for value in headers.get_all(name) {
        for element in value.as_bytes().split(|b| *b == b',') {
            let Some(element) = readable(element) else {
                out.push(None);
                continue;
            };
            match header {
                ForwardedHeader::XForwardedFor => out.push(parse_node(element)),
                ForwardedHeader::Forwarded => {
                    let node = element.split(';').find_map(|pair| {
                        let (key, value) = pair.split_once('=')?;
                        key.trim().eq_ignore_ascii_case("for").then_some(value)
                    });
                    // An element without `for=` still is a hop (the proxy did not say).
                    out.push(node.and_then(parse_node));
                }
            }
        }
    }
    out
}

/// `bytes` as text when every byte is visible ASCII, a space or a tab.
fn readable(bytes: &[u8]) -> Option<&str> {
    bytes
        .iter()
        .all(|b| b.is_ascii_graphic() || *b == b' ' || *b == b'\t')
        .then(|| std::str::from_utf8(bytes).ok())
        .flatten()
}

/// Parses one node: `192.0.2.1`, `192.0.2.1:8080`, `2001:db8::1`, `[2001:db8::1]:443`,
/// optionally in double quotes.
fn parse_node(node: &str) -> Hop {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    let inner = node.strip_prefix('[')?.split(']').next()?;
    inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// Who the client is, as far as the forwarding chain tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// The client's address is known: the socket peer, or a hop a trusted proxy reported.
    Known(IpAddr),
    /// A trusted proxy forwarded the request but did not say who for (no header), or said
    /// it in a hop that cannot be read. `proxy` is the last trusted address on the way in:
    /// good enough to rate-limit or fingerprint by, never the client itself (so never
    /// "local").
    Unknown {
        /// The trusted proxy nearest the unknown client.
        proxy: IpAddr,
    },
}

impl Client {
    /// The address to count the client under: its own, or the proxy's when unknown.
    pub fn address(self) -> IpAddr {
        match self {
            Client::Known(ip) | Client::Unknown { proxy: ip } => ip,
        }
    }
}

/// The client: the socket `peer` unless it is a trusted proxy, in which case the
/// right-most hop that is not a trusted proxy. When a hop cannot be read, or a trusted
/// peer sent no hop at all, the client is [`Client::Unknown`] (behind the last trusted
/// address); when every hop is trusted, the left-most one is the client.
pub fn client_ip(peer: IpAddr, hops: &[Hop], trusted: &[IpNet]) -> Client {
    let mut client = canonical(peer);
    if !is_trusted(client, trusted) {
        return Client::Known(client);
    }
    if hops.is_empty() {
        return Client::Unknown { proxy: client };
    }
    for hop in hops.iter().rev() {
        match hop {
            None => return Client::Unknown { proxy: client },
            Some(ip) => {
                client = canonical(*ip);
                if !is_trusted(client, trusted) {
                    return Client::Known(client);
                }
            }
        }
    }
    Client::Known(client)
}

/// Whether `ip` (IPv4-mapped IPv6 taken as IPv4) is inside one of the `trusted` networks.
pub fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = canonical(ip);
    trusted.iter().any(|net| net.contains(&ip))
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, as dual-stack sockets report IPv4
/// peers) are the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(name, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let h = hops(
            &headers("x-forwarded-for", &["1.2.3.4"]),
            ForwardedHeader::XForwardedFor,
        );
        assert_eq!(
            client_ip(ip("203.0.113.9"), &h, &nets(&["10.0.0.0/8"])),
            Client::Known(ip("203.0.113.9"))
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = nets(&["10.0.0.0/8"]);
        // A client spoofs 1.2.3.4; its real address 198.51.100.7 was appended by the proxy.
        let h = headers("x-forwarded-for", &["1.2.3.4, 198.51.100.7, 10.0.0.2"]);
        let chain = hops(&h, ForwardedHeader::XForwardedFor);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &chain, &trusted),
            Client::Known(ip("198.51.100.7"))
        );
    }

    #[test]
    fn several_header_lines_are_one_list() {
        let h = headers("x-forwarded-for", &["1.2.3.4", "198.51.100.7"]);
        let chain = hops(&h, ForwardedHeader::XForwardedFor);
        assert_eq!(chain, [Some(ip("1.2.3.4")), Some(ip("198.51.100.7"))]);
    }

    #[test]
    fn rfc7239_nodes_with_ports_quotes_and_ipv6() {
        let h = headers(
            "forwarded",
            &[r#"for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711""#],
        );
        let chain = hops(&h, ForwardedHeader::Forwarded);
        assert_eq!(
            chain,
            [Some(ip("192.0.2.60")), Some(ip("2001:db8:cafe::17"))]
        );
        let trusted = nets(&["127.0.0.1/32"]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &chain, &trusted),
            Client::Known(ip("2001:db8:cafe::17"))
        );
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let h = headers("forwarded", &["for=1.2.3.4"]);
        assert!(hops(&h, ForwardedHeader::XForwardedFor).is_empty());
        assert_eq!(
            client_ip(ip("127.0.0.1"), &[], &nets(&["127.0.0.1/32"])),
            Client::Unknown {
                proxy: ip("127.0.0.1")
            },
            "a trusted proxy that names no client does not make itself the client"
        );
    }

    #[test]
    fn an_unreadable_hop_stops_the_walk_at_the_proxy_that_reported_it() {
        let trusted = nets(&["10.0.0.0/8"]);
        let h = headers("forwarded", &["for=1.2.3.4, for=unknown, for=10.0.0.9"]);
        let chain = hops(&h, ForwardedHeader::Forwarded);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &chain, &trusted),
            Client::Unknown {
                proxy: ip("10.0.0.9")
            }
        );
    }

    #[test]
    fn all_trusted_gives_the_left_most_and_mapped_v4_is_v4() {
        let trusted = nets(&["10.0.0.0/8"]);
        let chain = [Some(ip("10.1.1.1")), Some(ip("10.2.2.2"))];
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.1"), &chain, &trusted),
            Client::Known(ip("10.1.1.1"))
        );
        assert_eq!(
            client_ip(ip("::ffff:192.0.2.1"), &[], &trusted),
            Client::Known(ip("192.0.2.1"))
        );
    }

    /// The attack: nginx appends the real address to the client's own line, which holds a
    /// byte that is not ASCII. The line as a whole cannot be decoded, but the appended hop
    /// can, and it is the client.
    #[test]
    fn a_non_ascii_byte_of_the_client_does_not_hide_the_hop_appended_to_it() {
        let trusted = nets(&["127.0.0.1/32"]);
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"\xff, 198.51.100.7").unwrap(),
        );
        let chain = hops(&h, ForwardedHeader::XForwardedFor);
        assert_eq!(chain, [None, Some(ip("198.51.100.7"))]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &chain, &trusted),
            Client::Known(ip("198.51.100.7"))
        );
        let mut f = HeaderMap::new();
        f.insert(
            "forwarded",
            HeaderValue::from_bytes(b"for=\"\xc3\xa9\", for=198.51.100.7").unwrap(),
        );
        let chain = hops(&f, ForwardedHeader::Forwarded);
        assert_eq!(chain, [None, Some(ip("198.51.100.7"))]);
    }

    #[test]
    fn an_unreadable_hop_next_to_the_proxy_leaves_the_client_unknown() {
        let trusted = nets(&["127.0.0.1/32"]);
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"198.51.100.7, caf\xe9").unwrap(),
        );
        let chain = hops(&h, ForwardedHeader::XForwardedFor);
        let client = client_ip(ip("127.0.0.1"), &chain, &trusted);
        assert_eq!(
            client,
            Client::Unknown {
                proxy: ip("127.0.0.1")
            }
        );
        assert_eq!(client.address(), ip("127.0.0.1"), "counted under the proxy");
    }

    proptest! {
        #[test]
        fn parsing_never_panics(value in "\\PC{0,200}", forwarded in any::<bool>()) {
            if let Ok(v) = HeaderValue::from_str(&value) {
                let mut h = HeaderMap::new();
                let header = if forwarded { ForwardedHeader::Forwarded } else { ForwardedHeader::XForwardedFor };
                h.insert(if forwarded { "forwarded" } else { "x-forwarded-for" }, v);
                let chain = hops(&h, header);
                let _ = client_ip(ip("127.0.0.1"), &chain, &nets(&["127.0.0.0/8"]));
            }
        }

        #[test]
        fn whatever_the_client_writes_the_hop_its_proxy_appends_is_read(
            prefix in proptest::collection::vec(any::<u8>(), 0..64),
            real in any::<[u8; 4]>(),
        ) {
            prop_assume!(real[0] != 127);
            let mut line = prefix;
            line.extend_from_slice(b", ");
            line.extend_from_slice(IpAddr::from(real).to_string().as_bytes());
            if let Ok(value) = HeaderValue::from_bytes(&line) {
                let mut h = HeaderMap::new();
                h.insert("x-forwarded-for", value);
                let chain = hops(&h, ForwardedHeader::XForwardedFor);
                prop_assert_eq!(
                    client_ip(ip("127.0.0.1"), &chain, &nets(&["127.0.0.0/8"])),
                    Client::Known(IpAddr::from(real))
                );
            }
        }

        #[test]
        fn a_trusted_proxy_is_never_the_client_of_a_line_it_could_not_read(
            prefix in proptest::collection::vec(any::<u8>(), 0..64),
            bad in 0x80u8..=0xff,
        ) {
            // The right-most hop, next to the proxy, holds a byte that is not ASCII.
            let mut line = prefix;
            line.extend_from_slice(b", 1.2.3.4");
            line.push(bad);
            if let Ok(value) = HeaderValue::from_bytes(&line) {
                let mut h = HeaderMap::new();
                h.insert("x-forwarded-for", value);
                let chain = hops(&h, ForwardedHeader::XForwardedFor);
                let client = client_ip(ip("127.0.0.1"), &chain, &nets(&["127.0.0.0/8"]));
                prop_assert!(matches!(client, Client::Unknown { .. }), "{:?}", client);
            }
        }

        #[test]
        fn an_untrusted_peer_is_never_overridden(a in any::<[u8; 4]>(), spoof in any::<[u8; 4]>()) {
            let peer = IpAddr::from(a);
            prop_assume!(a[0] != 10);
            let chain = [Some(IpAddr::from(spoof))];
            prop_assert_eq!(client_ip(peer, &chain, &nets(&["10.0.0.0/8"])), Client::Known(peer));
        }
    }
}
