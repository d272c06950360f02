//! Who sent an event, and which visitor ids are one person.
//!
//! - [`resolver`]: the resolution rule (server cookie first, provisional ids yield, NAT
//!   guard, recovery, login, reset) as a pure function; `/collect` runs it with the
//!   fingerprint and link memory the store keeps.
//! - [`graph`]: links between visitor ids with their evidence, and the chain of links
//!   that explains a merge.
//! - [`persons`]: the rule that groups visitor ids into persons, each anchored on at most
//!   one user (a shared browser is split by who was logged in when).
//! - [`fingerprint`], [`salt`]: the cookieless visitor id and its daily salt.
//! - [`server_cookie`]: the collector's signed `HttpOnly` cookie.
//! - [`verify`]: the site's signature on an `identify` user id.
//!
//! [`Evidence`] is stored with every event, so a report can say why an event belongs to
//! its visitor.

pub mod fingerprint;
pub mod graph;
pub mod persons;
pub mod resolver;
pub mod salt;
pub mod server_cookie;
pub mod verify;

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
