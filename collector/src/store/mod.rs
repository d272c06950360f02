//! Storage behind a seam cut by kind of data, not by one engine's shape, so the collector
//! runs on the embedded SQLite store ([`sqlite::SqliteStore`]) and, later, on ClickHouse
//! (#13) without the handlers knowing. This module owns the seam: the four traits, the
//! [`Store`] handle that joins them, the neutral [`StoreError`], and the shapes the traits
//! answer with.
//!
//! | trait | owns |
//! | --- | --- |
//! | [`EventSink`] (`sink.rs`) | appending groups of events, idempotent on event id; failed events; the identity epoch the ingest writer watches; the writer's blocking side ([`BlockingSink`]) |
//! | [`IdentityState`] (`identity_state.rs`) | daily salts and their expiry, secrets and credentials, the identity memory behind the writer's caches, persons, explain and refused links, event persons, undoing a link, ids per cookie |
//! | [`ReportSource`] (`report_source.rs`) | every report answer ([`reports`](crate::reports)) and the summary, on a [`ReportQuery`](crate::reports::ReportQuery) that names what to answer, never how |
//! | [`Maintenance`] (`maintenance.rs`) | the retention purge, export and erasure of one subject, the health ping |
//!
//! Every method (but [`EventSink::blocking`]) is async and returns a [`StoreFuture`]: the
//! SQLite store runs its synchronous code on tokio's blocking pool inside it, so callers
//! simply `.await` and the async workers stay free. A store reports failures as [`StoreError::Backend`], never
//! as its driver's error type, and names rows by what the data is (event ids, visitor ids,
//! link ids), not by how an engine stores them.
//!
//! **A second engine** (ClickHouse, #13) implements the four traits on its own type (the
//! blanket impl makes it a [`Store`]); [`BlockingSink`] may wrap its async client with
//! `Handle::block_on`, since the ingest writer calls it from its blocking task. It joins
//! the conformance suite by implementing `collector/tests/conformance/`'s `Backend`
//! (`create` a new store, `start` a `Collector` over it with the suite's config and clock)
//! in `collector/tests/conformance_<engine>.rs`, one test per area, as
//! `conformance_sqlite.rs` does; no expectation is relaxed for an engine. Whatever the
//! engine keeps apart from the seam (SQLite's rollups versus scans, `rebuild-reports`,
//! the generator's bulk load) stays inherent to its type.

pub mod clickhouse;
mod identity_state;
mod maintenance;
pub mod person_page;
mod report_source;
pub(crate) mod rollup;
mod sink;
pub mod sqlite;

#[cfg(test)]
mod seam_tests;

use std::future::Future;
use std::pin::Pin;

pub use identity_state::IdentityState;
pub use maintenance::Maintenance;
pub use report_source::{RawTransitions, ReportSource};
pub use sink::{BlockingSink, EventSink, MemoryAsk};

use serde::Serialize;

use crate::identity::graph::Link;

/// A store failed to do what was asked. Backend-neutral: an engine maps its own errors
/// into [`StoreError::Backend`] (SQLite's conversion lives in [`sqlite`]).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The engine refused or failed a statement.
    #[error("{engine}: {message}")]
    Backend {
        /// Which engine (`sqlite`, `clickhouse`).
        engine: &'static str,
        /// What it said.
        message: String,
    },
    /// The database file or its directory could not be prepared.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The system's random source failed (needed for salts and keys).
    #[error("random source: {0}")]
    Random(String),
    /// A task running a store call died.
    #[error("store task: {0}")]
    Task(String),
}

/// What every store method returns: a boxed future, so the traits stay dyn-compatible
/// (`Arc<dyn Store>`) without an async-trait crate. It borrows the store only; arguments
/// an implementation needs after the call returns are copied in.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// How an insert went: events new to the store, and events whose id was already stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsertOutcome {
    /// Events written.
    pub stored: usize,
    /// Events skipped because their id was already stored.
    pub duplicates: usize,
}

/// Headline numbers over everything stored for one site.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// The site asked about.
    pub site: String,
    /// Page views.
    pub pageviews: u64,
    /// Distinct visitors.
    pub visitors: u64,
    /// Distinct persons among those visitors: visitors joined by active identity links
    /// (see [`graph`](crate::identity::graph)), under the requested reading.
    pub persons: u64,
    /// Server sessions (see [`session`](crate::session)); events stored before sessions
    /// existed belong to none.
    pub sessions: u64,
    /// All events of every kind.
    pub events: u64,
    /// Share of sessions that bounced, from 0 to 1 (0 when there are none).
    pub bounce_rate: f64,
    /// Mean session duration in milliseconds, rounded (0 when there are none).
    pub mean_duration_ms: u64,
}

/// One link as reports show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkView {
    /// The link's id (`DELETE /api/links/{id}` undoes it).
    pub id: i64,
    /// One visitor id (or `user:` node).
    pub a: String,
    /// The other.
    pub b: String,
    /// The evidence: `server-cookie`, `client-id`, `fingerprint`, `login`, `recovery`.
    pub kind: &'static str,
    /// How sure, 0 to 1.
    pub confidence: f32,
    /// When it was recorded, Unix ms.
    pub at_ms: i64,
    /// False once undone or withdrawn.
    pub active: bool,
    /// Recorded but not followed: it would join two users into one person (see
    /// [`persons`](crate::identity::persons)).
    pub refused: bool,
}

impl From<&Link> for LinkView {
    fn from(l: &Link) -> LinkView {
        LinkView {
            id: l.id,
            a: l.a.clone(),
            b: l.b.clone(),
            kind: l.kind.as_str(),
            confidence: l.confidence,
            at_ms: l.at_ms,
            active: l.active,
            refused: false,
        }
    }
}

/// One event in a person's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    /// The event id.
    pub id: String,
    /// Client time, Unix ms.
    pub ts: i64,
    /// The event type.
    pub kind: String,
    /// The page path.
    pub path: String,
    /// The visitor it was counted for.
    pub visitor: String,
    /// The evidence that chose that visitor.
    pub evidence: String,
}

/// A person: visitor ids joined by links, with the evidence and their events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Person {
    /// The site.
    pub site: String,
    /// The person's id: one of its visitor ids, the larger side's at each merge (see
    /// [`keeps_label`](crate::identity::persons::keeps_label)).
    pub person: String,
    /// Its visitor ids, sorted.
    pub visitors: Vec<String>,
    /// The site user ids that logged in as it, sorted.
    pub users: Vec<String>,
    /// Every link touching its members, active or not, oldest first.
    pub links: Vec<LinkView>,
    /// The stretches of each browser shared by this person and another user (logged in
    /// as both without a reset): whose its events are, from when. Empty for most persons.
    pub shared: Vec<StretchView>,
    /// Its newest events (at most 1000), oldest first.
    pub timeline: Vec<TimelineEntry>,
}

/// One stretch of a browser shared by two users: from `from_ms` on (until the next), its
/// events belong to `person`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StretchView {
    /// The shared visitor id.
    pub visitor: String,
    /// Start of the stretch (the login that began it), collector time, Unix ms; `None`
    /// for the first stretch.
    pub from_ms: Option<i64>,
    /// The person its events belong to.
    pub person: String,
    /// Whether that is the person asked about.
    pub this_person: bool,
}

/// The whole seam as one handle (`AppState.store: Arc<dyn Store>`): every type that
/// implements the four traits is a `Store`.
pub trait Store: EventSink + IdentityState + ReportSource + Maintenance + 'static {}

impl<T: EventSink + IdentityState + ReportSource + Maintenance + 'static> Store for T {}

/// An event that failed validation, as the `failed_events` table keeps it. Never holds a
/// client address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedEvent {
    /// When the collector received it, Unix ms.
    pub received_ms: i64,
    /// The site the batch named.
    pub site: String,
    /// A stable code (`invalid_event`, `timestamp`, `hostname`).
    pub reason_code: String,
    /// The reason the client was given.
    pub reason: String,
    /// The event's JSON (its URLs without query but `utm_*`, nor fragment), cut to a few
    /// KiB.
    pub raw: String,
}

/// Fills `buf` from the operating system's random source.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(buf)
}
