//! The ingest writer's store when peers are configured: the store itself, except that its
//! identity epoch also moves when the set of live peers does ([`Liveness::epoch`]), so the
//! writer drops its identity caches then (see [`ingest`](crate::ingest)).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::liveness::Liveness;
use crate::event::Event;
use crate::identity::resolver::Memory;
use crate::store::{BlockingSink, InsertOutcome, StoreError};

/// A [`BlockingSink`] whose epoch is the store's and the live set's together.
pub struct PeeredSink {
    /// The store.
    pub inner: Arc<dyn BlockingSink>,
    /// The peers' state.
    pub liveness: Arc<Liveness>,
}

impl BlockingSink for PeeredSink {
    fn insert_groups(&self, groups: &[&[Event]]) -> Result<Vec<InsertOutcome>, StoreError> {
        self.inner.insert_groups(groups)
    }

    fn identity_memory(
        &self,
        site: &str,
        client_id: Option<&str>,
        fingerprint: &str,
        day: i64,
    ) -> Result<Memory, StoreError> {
        self.inner
            .identity_memory(site, client_id, fingerprint, day)
    }

    fn cookie_ids(&self, site: &str, visitor: &str, day: i64) -> Result<u32, StoreError> {
        self.inner.cookie_ids(site, visitor, day)
    }

    fn identity_epoch(&self) -> u64 {
        let mut hash = DefaultHasher::new();
        (self.inner.identity_epoch(), self.liveness.epoch()).hash(&mut hash);
        hash.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::metrics::PeerMetrics;
    use crate::store::sqlite::SqliteStore;

    #[test]
    fn the_epoch_moves_when_a_peer_goes_down_or_comes_back() -> Result<(), StoreError> {
        let store: Arc<dyn BlockingSink> = Arc::new(SqliteStore::open_in_memory()?);
        let liveness = Arc::new(Liveness::new(3, 0));
        let sink = PeeredSink {
            inner: store,
            liveness: Arc::clone(&liveness),
        };
        let metrics = PeerMetrics::default();
        let first = sink.identity_epoch();
        assert_eq!(sink.identity_epoch(), first, "stable while nothing changes");
        liveness.set(1, false, &metrics);
        let second = sink.identity_epoch();
        assert_ne!(second, first);
        liveness.set(1, true, &metrics);
        assert_ne!(sink.identity_epoch(), second);
        Ok(())
    }
}
