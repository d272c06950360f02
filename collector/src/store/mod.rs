//! Storage behind one trait, [`Store`], so the collector runs on the embedded SQLite store
//! ([`sqlite::SqliteStore`]) and, later, on ClickHouse without the handlers knowing.
//!
//! The trait is synchronous: SQLite is a blocking library, and callers run store calls on
//! tokio's blocking pool (`spawn_blocking`), which keeps the async workers free.

pub mod sqlite;

use serde::Serialize;

use crate::event::Event;
use crate::identity::graph::{Link, Mode};
use crate::identity::resolver::Memory;
use crate::maintenance::erasure::{Erased, Subject, SubjectExport};
use crate::maintenance::retention::Purged;

/// A store failed to do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
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
    /// A blocking task running a store call died.
    #[error("store task: {0}")]
    Task(String),
}

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
    /// The person's id: the smallest node id in it.
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

/// What the collector needs from a store.
pub trait Store: Send + Sync + 'static {
    /// Writes every group of events in one transaction, all or nothing, and reports each
    /// group's outcome in order. An event whose id is already stored (or appears earlier in
    /// the same call) is skipped and counted as a duplicate. Each new event is assigned to
    /// its visitor's server session ([`session`](crate::session)) in the same transaction,
    /// and its [`IdentityEffects`](crate::event::IdentityEffects) are applied there too.
    /// Returns only once the write is durable.
    fn insert_groups(&self, groups: &[&[Event]]) -> Result<Vec<InsertOutcome>, StoreError>;

    /// Writes one group of events; see [`Store::insert_groups`].
    fn insert_events(&self, events: &[Event]) -> Result<InsertOutcome, StoreError> {
        Ok(self
            .insert_groups(&[events])?
            .into_iter()
            .next()
            .unwrap_or_default())
    }

    /// Counts over everything stored for `site`; `persons` under `mode`.
    fn summary(&self, site: &str, mode: Mode) -> Result<Summary, StoreError>;

    /// What the store remembers that bears on resolving an event of `site` with
    /// `client_id` behind `fingerprint` on Unix day `day` (UTC). An empty `fingerprint` is
    /// not looked up (nobody behind it).
    fn identity_memory(
        &self,
        site: &str,
        client_id: Option<&str>,
        fingerprint: &str,
        day: i64,
    ) -> Result<Memory, StoreError>;

    /// The person `visitor` belongs to under `mode`, or `None` for an unknown visitor.
    fn person(&self, site: &str, visitor: &str, mode: Mode) -> Result<Option<Person>, StoreError>;

    /// Why `a` and `b` (visitor ids, or `user:` nodes) are one person under `mode`: a
    /// shortest chain of active links from `a` to `b` (empty when `a == b`), or `None`
    /// when they are different persons.
    fn explain(
        &self,
        site: &str,
        a: &str,
        b: &str,
        mode: Mode,
    ) -> Result<Option<Vec<LinkView>>, StoreError>;

    /// The links between `a`'s and `b`'s persons that are recorded but not followed under
    /// `mode`, because they would join two users (see [`persons`](crate::identity::persons)).
    fn refused(
        &self,
        site: &str,
        a: &str,
        b: &str,
        mode: Mode,
    ) -> Result<Vec<LinkView>, StoreError>;

    /// Every event of `site` with the person its visitor belongs to under `mode`, as
    /// `(event id, person id)` (the accuracy simulator scores these against its truth).
    fn event_persons(&self, site: &str, mode: Mode) -> Result<Vec<(String, String)>, StoreError>;

    /// Deactivates link `id` (persons are recomputed without it); false if unknown.
    fn deactivate_link(&self, id: i64) -> Result<bool, StoreError>;

    /// The random salt of Unix day `day` (UTC), created on first use. Salts of days before
    /// `day - 1` are deleted on the way, so no salt outlives two days.
    fn daily_salt(&self, day: i64) -> Result<[u8; 32], StoreError>;

    /// Deletes the salts of days before `today - 1` (Unix days, UTC), those days'
    /// fingerprint observations and daily counters of ids per cookie, whether or not a
    /// request came today; returns the number of salts deleted. Run hourly by
    /// [`SaltExpiry`](crate::identity::salt::SaltExpiry).
    fn expire_salts(&self, today: i64) -> Result<usize, StoreError>;

    /// Whether two or more distinct id visitors were seen behind `fingerprint` (a hash under
    /// the salt of Unix day `day`) on that day: the NAT guard's look back at yesterday.
    fn fingerprint_shared(
        &self,
        site: &str,
        fingerprint: &str,
        day: i64,
    ) -> Result<bool, StoreError>;

    /// How many client ids were linked to `visitor` (a server cookie's) on Unix day `day`
    /// (UTC): the identity guard's counter, read in constant time.
    fn cookie_ids(&self, site: &str, visitor: &str, day: i64) -> Result<u32, StoreError>;

    /// A long-lived random secret of 64 bytes named `name`, created on first use (the
    /// cookie signing key). Kept in the store so restarts and sibling collectors agree.
    fn secret(&self, name: &str) -> Result<[u8; 64], StoreError>;

    /// The value stored under `name` by [`Store::set_credential`] (the hash of the
    /// generated admin token), if any. Kept beside the secrets.
    fn credential(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores `value` under `name`, or deletes it (`None`). Deleting a [`Store::secret`]'s
    /// name makes the next read create a new one (how the admin sessions are revoked).
    fn set_credential(&self, name: &str, value: Option<&[u8]>) -> Result<(), StoreError>;

    /// The store's answers to reports (see [`reports`](crate::reports)).
    fn reports(&self) -> &dyn crate::reports::Reports;

    /// Deletes events whose client time is before `cutoff_ms`, sessions whose last event is,
    /// and links recorded before it ([`retention`](crate::maintenance::retention)).
    fn purge_before(&self, cutoff_ms: i64) -> Result<Purged, StoreError>;

    /// Everything stored about `subject` on `site` ([`erasure`](crate::maintenance::erasure)).
    fn export(&self, site: &str, subject: &Subject) -> Result<SubjectExport, StoreError>;

    /// Deletes everything stored about `subject` on `site`, in one transaction, leaving
    /// none of it readable in the store's files; returns what was deleted.
    fn erase(&self, site: &str, subject: &Subject) -> Result<Erased, StoreError>;

    /// Records events that failed validation, then deletes the oldest rows beyond `keep`,
    /// in one transaction.
    fn insert_failed(&self, rows: &[FailedEvent], keep: usize) -> Result<(), StoreError>;

    /// Whether the store answers at all: the cheapest possible read (`/healthz`).
    fn ping(&self) -> Result<(), StoreError>;

    /// A value that changes whenever something other than this store's
    /// [`Store::insert_groups`] may have changed identity memory (an erasure, a retention
    /// purge, another process writing to the same store), so the ingest writer knows its
    /// caches of it ([`ingest`](crate::ingest)) may no longer agree with the store.
    fn identity_epoch(&self) -> u64;
}

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
