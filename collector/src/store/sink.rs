//! [`EventSink`]: where events go. Appending groups of events (idempotent on event id: a
//! known id is a duplicate, not an error), the bounded record of events that failed
//! validation, and the identity epoch the ingest writer watches.

use std::sync::Arc;

use super::{FailedEvent, InsertOutcome, StoreError, StoreFuture};
use crate::event::Event;
use crate::identity::resolver::Memory;

/// Appends events and failed events.
pub trait EventSink: Send + Sync {
    /// Appends every group of events at once, all or nothing, and answers each group's
    /// outcome in order. An event whose id is already stored (or appears earlier in the
    /// same call) is a duplicate: counted, not stored again, its effects not applied
    /// again. Each new event joins its visitor's server session
    /// ([`session`](crate::session)) and its [`IdentityEffects`](crate::event::IdentityEffects)
    /// take effect with it. Resolves only once the append is durable (the collector
    /// acknowledges after it), and leaves nothing derived from an event that was not
    /// appended.
    fn append(&self, groups: Vec<Vec<Event>>) -> StoreFuture<'_, Vec<InsertOutcome>>;

    /// Records events that failed validation, keeping only the newest `keep`.
    fn append_failed(&self, rows: Vec<FailedEvent>, keep: usize) -> StoreFuture<'_, ()>;

    /// A value that changes whenever something other than this store's append may have
    /// changed identity memory (an erasure, a retention purge, another process writing to
    /// the same store), so the ingest writer knows its caches of it
    /// ([`ingest`](crate::ingest)) may no longer agree with the store.
    fn identity_epoch(&self) -> StoreFuture<'_, u64>;

    /// The synchronous side the ingest writer drives from its blocking task.
    fn blocking(&self) -> Arc<dyn BlockingSink>;
}

/// One question of [`BlockingSink::identity_memories`]: the arguments of
/// [`BlockingSink::identity_memory`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemoryAsk {
    /// The site.
    pub site: String,
    /// The client id to tell known or not (`None`: not asked).
    pub client_id: Option<String>,
    /// The fingerprint whose visitors to list (empty: not asked).
    pub fingerprint: String,
    /// Unix day (UTC) of the fingerprint.
    pub day: i64,
}

/// What the ingest writer calls from inside its blocking task (one per batch), where it
/// resolves each request in turn against its caches and commits: the append and the
/// reads behind a cache miss. Synchronous because the resolver's rule reads the memory
/// request by request, in order; an async engine answers through `Handle::block_on`.
pub trait BlockingSink: Send + Sync {
    /// [`EventSink::append`], waiting for it.
    fn insert_groups(&self, groups: &[&[Event]]) -> Result<Vec<InsertOutcome>, StoreError>;

    /// [`IdentityState::identity_memory`](super::IdentityState::identity_memory), waiting
    /// for it.
    fn identity_memory(
        &self,
        site: &str,
        client_id: Option<&str>,
        fingerprint: &str,
        day: i64,
    ) -> Result<Memory, StoreError>;

    /// [`BlockingSink::identity_memory`] for each of `asks`, answered in order: what the
    /// writer reads before resolving a batch, so that an engine whose reads are round
    /// trips answers all of a batch's cache misses at once. By default, one at a time.
    fn identity_memories(&self, asks: &[MemoryAsk]) -> Result<Vec<Memory>, StoreError> {
        asks.iter()
            .map(|a| self.identity_memory(&a.site, a.client_id.as_deref(), &a.fingerprint, a.day))
            .collect()
    }

    /// [`IdentityState::cookie_ids`](super::IdentityState::cookie_ids), waiting for it.
    fn cookie_ids(&self, site: &str, visitor: &str, day: i64) -> Result<u32, StoreError>;

    /// [`EventSink::identity_epoch`].
    fn identity_epoch(&self) -> u64;
}
