//! [`ReportSource`] on ClickHouse: every answer worked out from the `events` table (a
//! session is the events carrying its id, grouped here).

use super::ClickHouseStore;
use super::client::backend;
use crate::identity::graph::Mode;
use crate::reports::funnel::{FunnelDef, Step};
use crate::reports::{
    Counts, Dimension, FunnelHit, Interval, LogSession, Realtime, ReportQuery, Row,
};
use crate::store::{RawTransitions, ReportSource, StoreError, StoreFuture, Summary};

/// Not written yet on this engine.
fn unsupported<T>(what: &str) -> StoreFuture<'static, T> {
    let e: StoreError = backend(format!("{what}: not yet on ClickHouse"));
    Box::pin(async move { Err(e) })
}

impl ReportSource for ClickHouseStore {
    fn summary(&self, _site: &str, _mode: Mode) -> StoreFuture<'_, Summary> {
        unsupported("summary")
    }
    fn sites(&self) -> StoreFuture<'_, Vec<String>> {
        unsupported("sites")
    }
    fn counts(&self, _q: &ReportQuery) -> StoreFuture<'_, Counts> {
        unsupported("counts")
    }
    fn series(&self, _q: &ReportQuery, _interval: Interval) -> StoreFuture<'_, Vec<(i64, Counts)>> {
        unsupported("series")
    }
    fn breakdown(&self, _q: &ReportQuery, _dimension: &Dimension) -> StoreFuture<'_, Vec<Row>> {
        unsupported("breakdown")
    }
    fn realtime(&self, _site: &str, _since_ms: i64, _until_ms: i64) -> StoreFuture<'_, Realtime> {
        unsupported("realtime")
    }
    fn transitions(&self, _q: &ReportQuery, _page: &str) -> StoreFuture<'_, RawTransitions> {
        unsupported("transitions")
    }
    fn flows(&self, _q: &ReportQuery, _steps: usize) -> StoreFuture<'_, Vec<(Vec<String>, u64)>> {
        unsupported("flows")
    }
    fn funnel_hits(
        &self,
        _q: &ReportQuery,
        _steps: &[Step],
        _window_ms: i64,
    ) -> StoreFuture<'_, Vec<FunnelHit>> {
        unsupported("funnel_hits")
    }
    fn save_funnel(&self, _site: &str, _funnel: &FunnelDef) -> StoreFuture<'_, ()> {
        unsupported("save_funnel")
    }
    fn funnels(&self, _site: &str) -> StoreFuture<'_, Vec<FunnelDef>> {
        unsupported("funnels")
    }
    fn visitor_log(&self, _q: &ReportQuery) -> StoreFuture<'_, Vec<LogSession>> {
        unsupported("visitor_log")
    }
    fn fallbacks(&self, _q: &ReportQuery) -> StoreFuture<'_, Vec<(String, u64)>> {
        unsupported("fallbacks")
    }
}
