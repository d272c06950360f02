//! [`SqliteStore`] behind the seam: each trait method copies what it needs out of its
//! arguments and runs the store's synchronous code on tokio's blocking pool (SQLite is a
//! blocking library), so callers await it and the async workers stay free. The ingest
//! writer, already on the blocking pool, calls the synchronous methods through
//! [`BlockingSink`].

use std::sync::Arc;

use super::SqliteStore;
use crate::event::Event;
use crate::identity::graph::Mode;
use crate::identity::resolver::Memory;
use crate::maintenance::erasure::{Erased, Subject, SubjectExport};
use crate::maintenance::retention::Purged;
use crate::reports::funnel::{FunnelDef, Step};
use crate::reports::{
    Counts, Dimension, FunnelHit, Interval, LogSession, Realtime, ReportQuery, Row,
};
use crate::store::{
    BlockingSink, EventSink, FailedEvent, IdentityState, InsertOutcome, LinkView, Maintenance,
    Person, RawTransitions, ReportSource, StoreError, StoreFuture, Summary,
};

impl SqliteStore {
    /// Runs `f` over a handle on this store on the blocking pool.
    fn blocking_call<T, F>(&self, f: F) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&SqliteStore) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || f(&store))
                .await
                .map_err(|e| StoreError::Task(e.to_string()))?
        })
    }
}

impl EventSink for SqliteStore {
    fn append(&self, groups: Vec<Vec<Event>>) -> StoreFuture<'_, Vec<InsertOutcome>> {
        self.blocking_call(move |s| {
            let slices: Vec<&[Event]> = groups.iter().map(Vec::as_slice).collect();
            s.insert_groups(&slices)
        })
    }

    fn append_failed(&self, rows: Vec<FailedEvent>, keep: usize) -> StoreFuture<'_, ()> {
        self.blocking_call(move |s| s.insert_failed(&rows, keep))
    }

    fn identity_epoch(&self) -> StoreFuture<'_, u64> {
        self.blocking_call(|s| Ok(s.identity_epoch()))
    }

    fn blocking(&self) -> Arc<dyn BlockingSink> {
        Arc::new(self.clone())
    }
}

impl BlockingSink for SqliteStore {
    fn insert_groups(&self, groups: &[&[Event]]) -> Result<Vec<InsertOutcome>, StoreError> {
        SqliteStore::insert_groups(self, groups)
    }

    fn identity_memory(
        &self,
        site: &str,
        client_id: Option<&str>,
        fingerprint: &str,
        day: i64,
    ) -> Result<Memory, StoreError> {
        SqliteStore::identity_memory(self, site, client_id, fingerprint, day)
    }

    fn cookie_ids(&self, site: &str, visitor: &str, day: i64) -> Result<u32, StoreError> {
        SqliteStore::cookie_ids(self, site, visitor, day)
    }

    fn identity_epoch(&self) -> u64 {
        SqliteStore::identity_epoch(self)
    }
}

impl IdentityState for SqliteStore {
    fn daily_salt(&self, day: i64) -> StoreFuture<'_, [u8; 32]> {
        self.blocking_call(move |s| s.daily_salt(day))
    }

    fn expire_salts(&self, today: i64) -> StoreFuture<'_, usize> {
        self.blocking_call(move |s| s.expire_salts(today))
    }

    fn secret(&self, name: &str) -> StoreFuture<'_, [u8; 64]> {
        let name = name.to_owned();
        self.blocking_call(move |s| s.secret(&name))
    }

    fn credential(&self, name: &str) -> StoreFuture<'_, Option<Vec<u8>>> {
        let name = name.to_owned();
        self.blocking_call(move |s| s.credential(&name))
    }

    fn set_credential(&self, name: &str, value: Option<&[u8]>) -> StoreFuture<'_, ()> {
        let (name, value) = (name.to_owned(), value.map(<[u8]>::to_vec));
        self.blocking_call(move |s| s.set_credential(&name, value.as_deref()))
    }

    fn identity_memory(
        &self,
        site: &str,
        client_id: Option<&str>,
        fingerprint: &str,
        day: i64,
    ) -> StoreFuture<'_, Memory> {
        let (site, fingerprint) = (site.to_owned(), fingerprint.to_owned());
        let client_id = client_id.map(str::to_owned);
        self.blocking_call(move |s| {
            s.identity_memory(&site, client_id.as_deref(), &fingerprint, day)
        })
    }

    fn fingerprint_shared(&self, site: &str, fingerprint: &str, day: i64) -> StoreFuture<'_, bool> {
        let (site, fingerprint) = (site.to_owned(), fingerprint.to_owned());
        self.blocking_call(move |s| s.fingerprint_shared(&site, &fingerprint, day))
    }

    fn cookie_ids(&self, site: &str, visitor: &str, day: i64) -> StoreFuture<'_, u32> {
        let (site, visitor) = (site.to_owned(), visitor.to_owned());
        self.blocking_call(move |s| s.cookie_ids(&site, &visitor, day))
    }

    fn person(&self, site: &str, visitor: &str, mode: Mode) -> StoreFuture<'_, Option<Person>> {
        let (site, visitor) = (site.to_owned(), visitor.to_owned());
        self.blocking_call(move |s| s.person(&site, &visitor, mode))
    }

    fn explain(
        &self,
        site: &str,
        a: &str,
        b: &str,
        mode: Mode,
    ) -> StoreFuture<'_, Option<Vec<LinkView>>> {
        let (site, a, b) = (site.to_owned(), a.to_owned(), b.to_owned());
        self.blocking_call(move |s| s.explain(&site, &a, &b, mode))
    }

    fn refused(&self, site: &str, a: &str, b: &str, mode: Mode) -> StoreFuture<'_, Vec<LinkView>> {
        let (site, a, b) = (site.to_owned(), a.to_owned(), b.to_owned());
        self.blocking_call(move |s| s.refused(&site, &a, &b, mode))
    }

    fn event_persons(&self, site: &str, mode: Mode) -> StoreFuture<'_, Vec<(String, String)>> {
        let site = site.to_owned();
        self.blocking_call(move |s| s.event_persons(&site, mode))
    }

    fn undo_link(&self, id: i64) -> StoreFuture<'_, bool> {
        self.blocking_call(move |s| s.deactivate_link(id))
    }
}

impl ReportSource for SqliteStore {
    fn summary(&self, site: &str, mode: Mode) -> StoreFuture<'_, Summary> {
        let site = site.to_owned();
        self.blocking_call(move |s| s.summary(&site, mode))
    }

    fn sites(&self) -> StoreFuture<'_, Vec<String>> {
        self.blocking_call(|s| s.sites())
    }

    fn counts(&self, q: &ReportQuery) -> StoreFuture<'_, Counts> {
        let q = q.clone();
        self.blocking_call(move |s| s.counts(&q))
    }

    fn counts_with_previous(&self, q: &ReportQuery) -> StoreFuture<'_, (Counts, Counts)> {
        let q = q.clone();
        self.blocking_call(move |s| s.counts_with_previous(&q))
    }

    fn series(&self, q: &ReportQuery, interval: Interval) -> StoreFuture<'_, Vec<(i64, Counts)>> {
        let q = q.clone();
        self.blocking_call(move |s| s.series(&q, interval))
    }

    fn breakdown(&self, q: &ReportQuery, dimension: &Dimension) -> StoreFuture<'_, Vec<Row>> {
        let (q, dimension) = (q.clone(), dimension.clone());
        self.blocking_call(move |s| s.breakdown(&q, &dimension))
    }

    fn realtime(&self, site: &str, since_ms: i64, until_ms: i64) -> StoreFuture<'_, Realtime> {
        let site = site.to_owned();
        self.blocking_call(move |s| s.realtime(&site, since_ms, until_ms))
    }

    fn transitions(&self, q: &ReportQuery, page: &str) -> StoreFuture<'_, RawTransitions> {
        let (q, page) = (q.clone(), page.to_owned());
        self.blocking_call(move |s| s.transitions(&q, &page))
    }

    fn flows(&self, q: &ReportQuery, steps: usize) -> StoreFuture<'_, Vec<(Vec<String>, u64)>> {
        let q = q.clone();
        self.blocking_call(move |s| s.flows(&q, steps))
    }

    fn funnel_hits(
        &self,
        q: &ReportQuery,
        steps: &[Step],
        window_ms: i64,
    ) -> StoreFuture<'_, Vec<FunnelHit>> {
        let (q, steps) = (q.clone(), steps.to_vec());
        self.blocking_call(move |s| s.funnel_hits(&q, &steps, window_ms))
    }

    fn save_funnel(&self, site: &str, funnel: &FunnelDef) -> StoreFuture<'_, ()> {
        let (site, funnel) = (site.to_owned(), funnel.clone());
        self.blocking_call(move |s| s.save_funnel(&site, &funnel))
    }

    fn funnels(&self, site: &str) -> StoreFuture<'_, Vec<FunnelDef>> {
        let site = site.to_owned();
        self.blocking_call(move |s| s.funnels(&site))
    }

    fn visitor_log(&self, q: &ReportQuery) -> StoreFuture<'_, Vec<LogSession>> {
        let q = q.clone();
        self.blocking_call(move |s| s.visitor_log(&q))
    }

    fn fallbacks(&self, q: &ReportQuery) -> StoreFuture<'_, Vec<(String, u64)>> {
        let q = q.clone();
        self.blocking_call(move |s| s.fallbacks(&q))
    }
}

impl Maintenance for SqliteStore {
    fn purge_before(&self, cutoff_ms: i64) -> StoreFuture<'_, Purged> {
        self.blocking_call(move |s| s.purge_before(cutoff_ms))
    }

    fn export(&self, site: &str, subject: &Subject) -> StoreFuture<'_, SubjectExport> {
        let (site, subject) = (site.to_owned(), subject.clone());
        self.blocking_call(move |s| s.export(&site, &subject))
    }

    fn erase(&self, site: &str, subject: &Subject) -> StoreFuture<'_, Erased> {
        let (site, subject) = (site.to_owned(), subject.clone());
        self.blocking_call(move |s| s.erase(&site, &subject))
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        self.blocking_call(|s| s.ping())
    }
}
