//! [`Maintenance`] on ClickHouse: the retention purge and erasure as mutations
//! (`ALTER TABLE … DELETE`, on every shard), export as reads, health as `SELECT 1`.

use super::ClickHouseStore;
use super::client::backend;
use crate::maintenance::erasure::{Erased, Subject, SubjectExport};
use crate::maintenance::retention::Purged;
use crate::store::{Maintenance, StoreError, StoreFuture};

/// Not written yet on this engine.
fn unsupported<T>(what: &str) -> StoreFuture<'static, T> {
    let e: StoreError = backend(format!("{what}: not yet on ClickHouse"));
    Box::pin(async move { Err(e) })
}

impl Maintenance for ClickHouseStore {
    fn purge_before(&self, _cutoff_ms: i64) -> StoreFuture<'_, Purged> {
        unsupported("purge_before")
    }
    fn export(&self, _site: &str, _subject: &Subject) -> StoreFuture<'_, SubjectExport> {
        unsupported("export")
    }
    fn erase(&self, _site: &str, _subject: &Subject) -> StoreFuture<'_, Erased> {
        unsupported("erase")
    }
    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move { self.client().command("SELECT 1".into(), &[]).await })
    }
}
