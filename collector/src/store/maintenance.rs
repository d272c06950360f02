//! [`Maintenance`]: what the operator and the data subject ask of the store as a whole:
//! the retention purge, export and erasure of one subject, and the health ping.

use super::StoreFuture;
use crate::maintenance::erasure::{Erased, Subject, SubjectExport};
use crate::maintenance::retention::Purged;

/// Retention, access, erasure and health.
pub trait Maintenance: Send + Sync {
    /// Deletes events whose client time is before `cutoff_ms`, sessions whose last event
    /// is, and links recorded before it ([`retention`](crate::maintenance::retention)),
    /// with everything derived from them.
    fn purge_before(&self, cutoff_ms: i64) -> StoreFuture<'_, Purged>;

    /// Everything stored about `subject` on `site` ([`erasure`](crate::maintenance::erasure)).
    fn export(&self, site: &str, subject: &Subject) -> StoreFuture<'_, SubjectExport>;

    /// Deletes everything stored about `subject` on `site`, all or nothing, leaving none
    /// of it readable in the store's files; answers what was deleted.
    fn erase(&self, site: &str, subject: &Subject) -> StoreFuture<'_, Erased>;

    /// Whether the store answers at all: the cheapest possible read (`/healthz`).
    fn ping(&self) -> StoreFuture<'_, ()>;
}
