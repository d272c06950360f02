//! The event model: what the browser reported ([`ClientEvent`]) and what the collector
//! stores once it has decided who sent it ([`Event`]).

use uuid::Uuid;

use crate::identity::Evidence;

/// What kind of thing happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A page was shown.
    Pageview,
}

impl EventKind {
    /// The name used on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Pageview => "pageview",
        }
    }

    /// The kind named `s` on the wire, if it is one.
    pub fn parse(s: &str) -> Option<EventKind> {
        match s {
            "pageview" => Some(EventKind::Pageview),
            _ => None,
        }
    }
}

/// One validated event, as the browser described it (identity is not resolved yet).
#[derive(Debug, Clone, PartialEq)]
pub struct ClientEvent {
    /// Client-generated idempotency key: the same id is stored once.
    pub id: Uuid,
    /// What happened.
    pub kind: EventKind,
    /// The page's full URL.
    pub url: String,
    /// Host name of the page URL.
    pub hostname: String,
    /// Path of the page URL (no query, no fragment).
    pub path: String,
    /// Where the visitor came from, if the browser said.
    pub referrer: Option<String>,
    /// The page title.
    pub title: Option<String>,
    /// The beacon's visitor id (from its cookie or storage), if it had one.
    pub client_id: Option<String>,
    /// The beacon's session id, if it had one.
    pub session: Option<String>,
    /// When it happened, by the client's clock, in Unix milliseconds.
    pub ts: i64,
}

/// A batch that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The site the events belong to.
    pub site: String,
    /// The events, in the order sent.
    pub events: Vec<ClientEvent>,
}

/// An event ready for the store: the client's report plus what the collector resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The site the event belongs to.
    pub site: String,
    /// What the browser reported.
    pub client: ClientEvent,
    /// The visitor it is counted for.
    pub visitor: String,
    /// Which evidence chose that visitor.
    pub evidence: Evidence,
    /// When the collector received it, in Unix milliseconds.
    pub received: i64,
}
