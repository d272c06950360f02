//! [`EventSink`] on ClickHouse: appending events once each, and the failed events.

use std::sync::Arc;

use super::ClickHouseStore;
use super::client::backend;
use crate::event::Event;
use crate::identity::resolver::Memory;
use crate::store::{
    BlockingSink, EventSink, FailedEvent, IdentityState, InsertOutcome, StoreError, StoreFuture,
};

impl EventSink for ClickHouseStore {
    fn append(&self, groups: Vec<Vec<Event>>) -> StoreFuture<'_, Vec<InsertOutcome>> {
        Box::pin(async move {
            let slices: Vec<&[Event]> = groups.iter().map(Vec::as_slice).collect();
            self.append_groups(&slices).await
        })
    }

    fn append_failed(&self, _rows: Vec<FailedEvent>, _keep: usize) -> StoreFuture<'_, ()> {
        Box::pin(async move { Err(backend("append_failed: not yet on ClickHouse".into())) })
    }

    fn identity_epoch(&self) -> StoreFuture<'_, u64> {
        Box::pin(async move { Ok(0) })
    }

    fn blocking(&self) -> Arc<dyn BlockingSink> {
        Arc::new(self.clone())
    }
}

impl ClickHouseStore {
    async fn append_groups(&self, _groups: &[&[Event]]) -> Result<Vec<InsertOutcome>, StoreError> {
        Err(backend("append: not yet on ClickHouse".into()))
    }
}

impl BlockingSink for ClickHouseStore {
    fn insert_groups(&self, groups: &[&[Event]]) -> Result<Vec<InsertOutcome>, StoreError> {
        self.block_on(self.append_groups(groups))
    }

    fn identity_memory(
        &self,
        site: &str,
        client_id: Option<&str>,
        fingerprint: &str,
        day: i64,
    ) -> Result<Memory, StoreError> {
        self.block_on(IdentityState::identity_memory(
            self,
            site,
            client_id,
            fingerprint,
            day,
        ))
    }

    fn cookie_ids(&self, site: &str, visitor: &str, day: i64) -> Result<u32, StoreError> {
        self.block_on(IdentityState::cookie_ids(self, site, visitor, day))
    }

    fn identity_epoch(&self) -> u64 {
        0
    }
}
