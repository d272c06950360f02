//! The cookieless visitor id: a keyed hash of (daily salt, site, network, user agent).
//!
//! The salt is random and changes every day, so the id cannot be linked across days nor
//! reversed into an IP address; only this id, never the address, reaches the store.
//! IPv6 clients are taken by their /64, since privacy extensions rotate the lower half.

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Prefix that marks a fingerprint visitor id apart from beacon-made ids.
pub const PREFIX: &str = "fp_";

/// The network part of an address used for identity: IPv4 whole, IPv6 by its /64.
pub fn network_key(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_ipv6_mapped().octets(),
            None => {
                let mut o = v6.octets();
                o[8..].fill(0);
                o
            }
        },
    }
}

/// The provisional visitor id for this salt, site, address and user agent.
pub fn visitor_id(salt: &[u8; 32], site: &str, ip: IpAddr, user_agent: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail; the fallback keeps it total.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(salt) else {
        return PREFIX.to_string();
    };
    mac.update(site.as_bytes());
    mac.update(&[0]);
    mac.update(&network_key(ip));
    mac.update(user_agent.as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut id = String::with_capacity(PREFIX.len() + 32);
    id.push_str(PREFIX);
    for b in &digest[..16] {
        id.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        id.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    const UA: &str = "Mozilla/5.0";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn same_inputs_same_id_and_no_address_inside() {
        let a = visitor_id(&[1; 32], "demo", ip("203.0.113.7"), UA);
        assert_eq!(a, visitor_id(&[1; 32], "demo", ip("203.0.113.7"), UA));
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 32);
        assert!(!a.contains("203") || !a.contains("113"));
    }

    #[test]
    fn salt_site_address_and_agent_all_matter() {
        let base = visitor_id(&[1; 32], "demo", ip("203.0.113.7"), UA);
        assert_ne!(base, visitor_id(&[2; 32], "demo", ip("203.0.113.7"), UA));
        assert_ne!(base, visitor_id(&[1; 32], "other", ip("203.0.113.7"), UA));
        assert_ne!(base, visitor_id(&[1; 32], "demo", ip("203.0.113.8"), UA));
        assert_ne!(
            base,
            visitor_id(&[1; 32], "demo", ip("203.0.113.7"), "curl")
        );
    }

    #[test]
    fn ipv6_is_taken_by_its_64() {
        let a = visitor_id(&[1; 32], "demo", ip("2001:db8:1:2:aaaa::1"), UA);
        assert_eq!(
            a,
            visitor_id(&[1; 32], "demo", ip("2001:db8:1:2:bbbb::9"), UA)
        );
        assert_ne!(a, visitor_id(&[1; 32], "demo", ip("2001:db8:1:3::1"), UA));
    }

    #[test]
    fn mapped_ipv4_is_the_same_client() {
        assert_eq!(
            network_key(ip("::ffff:198.51.100.1")),
            network_key(ip("198.51.100.1"))
        );
    }
}
