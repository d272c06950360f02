//! Who sent an event. [`resolve`] is a pure function from the evidence a request carries to
//! a visitor id and the kind of evidence that decided it; the evidence is stored with every
//! event so a report can say why an event belongs to a visitor.
//!
//! First cut, in this order: the beacon's client id; else the collector's signed server
//! cookie; else a provisional visitor from a keyed hash of (daily salt, site, IP, user agent).
//! The response then sets the server cookie to the resolved visitor, so a browser that loses
//! its client id (or never runs the beacon) keeps its visitor while the cookie lives.
//!
//! [`graph`] holds the person model that issue #4 builds on: links between visitor ids
//! with their evidence, persons as connected components, and the chain of links that
//! explains a merge. [`resolver`] is the full rule of issue #4 (server cookie first, NAT
//! guard, recovery, login, reset) as a pure function; `/collect` does not use it yet,
//! because the store keeps no link or fingerprint memory so far.

pub mod fingerprint;
pub mod graph;
pub mod resolver;
pub mod salt;
pub mod server_cookie;

/// The evidence that decided an event's visitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// The beacon sent its own visitor id (cookie or storage).
    ClientId,
    /// The collector's signed `HttpOnly` cookie named the visitor.
    ServerCookie,
    /// Neither id was present: a provisional visitor from the network fingerprint.
    Fingerprint,
}

impl Evidence {
    /// The name stored in the `evidence` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Evidence::ClientId => "client-id",
            Evidence::ServerCookie => "server-cookie",
            Evidence::Fingerprint => "fingerprint",
        }
    }
}

/// A resolved visitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The visitor id events are counted by.
    pub visitor: String,
    /// Why it is this visitor.
    pub evidence: Evidence,
}

/// Picks the visitor for one event. `fingerprint` is only called when no id is present,
/// since computing it needs the day's salt.
pub fn resolve(
    client_id: Option<&str>,
    server_cookie: Option<&str>,
    fingerprint: impl FnOnce() -> String,
) -> Resolution {
    match (client_id, server_cookie) {
        (Some(id), _) => Resolution {
            visitor: id.to_string(),
            evidence: Evidence::ClientId,
        },
        (None, Some(id)) => Resolution {
            visitor: id.to_string(),
            evidence: Evidence::ServerCookie,
        },
        (None, None) => Resolution {
            visitor: fingerprint(),
            evidence: Evidence::Fingerprint,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp() -> String {
        "fp_x".into()
    }

    #[test]
    fn client_id_comes_first() {
        assert_eq!(
            resolve(Some("a"), Some("b"), fp).evidence,
            Evidence::ClientId
        );
        assert_eq!(resolve(Some("a"), Some("b"), fp).visitor, "a");
    }

    #[test]
    fn server_cookie_stands_in_for_a_missing_client_id() {
        assert_eq!(
            resolve(None, Some("b"), fp),
            Resolution {
                visitor: "b".into(),
                evidence: Evidence::ServerCookie
            }
        );
    }

    #[test]
    fn fingerprint_only_without_any_id() {
        let mut called = false;
        let r = resolve(Some("a"), None, || {
            called = true;
            fp()
        });
        assert!(!called);
        assert_eq!(r.visitor, "a");
        assert_eq!(resolve(None, None, fp).evidence, Evidence::Fingerprint);
    }
}
