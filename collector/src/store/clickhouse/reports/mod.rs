//! [`ReportSource`] on ClickHouse: every answer worked out from the `events` table. A
//! session is the events carrying its id, grouped by [`sessions`] with the SQLite store's
//! definitions; each report builds on that subquery.
//!
//! Without a filter, counting visitors, the rollups answer instead (`fast`).
//!
//! Layout: `sessions` the session grouping, filters, sources and persons · `fast` the
//! answers from the rollups · `counts`
//! counters, series and the summary · `breakdown` the grouped tables · `paths`
//! transitions and flows · `funnel` funnel hits and saved funnels · `log` the visitor log,
//! real-time, fallbacks and sites.

mod breakdown;
mod counts;
mod fast;
mod funnel;
mod log;
mod paths;
mod sessions;

use super::ClickHouseStore;
use crate::identity::graph::Mode;
use crate::reports::funnel::{FunnelDef, Step};
use crate::reports::{
    Counts, Dimension, FunnelHit, Interval, LogSession, Realtime, ReportQuery, Row,
};
use crate::store::{RawTransitions, ReportSource, StoreFuture, Summary};

impl ReportSource for ClickHouseStore {
    fn summary(&self, site: &str, mode: Mode) -> StoreFuture<'_, Summary> {
        let site = site.to_owned();
        Box::pin(async move { self.site_summary(&site, mode).await })
    }

    fn sites(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(self.site_names())
    }

    fn counts(&self, q: &ReportQuery) -> StoreFuture<'_, Counts> {
        let q = q.clone();
        Box::pin(async move { self.range_counts(&q).await })
    }

    fn counts_with_previous(&self, q: &ReportQuery) -> StoreFuture<'_, (Counts, Counts)> {
        let q = q.clone();
        Box::pin(async move { self.range_counts_with_previous(&q).await })
    }

    fn series(&self, q: &ReportQuery, interval: Interval) -> StoreFuture<'_, Vec<(i64, Counts)>> {
        let q = q.clone();
        Box::pin(async move { self.range_series(&q, interval).await })
    }

    fn breakdown(&self, q: &ReportQuery, dimension: &Dimension) -> StoreFuture<'_, Vec<Row>> {
        let (q, dimension) = (q.clone(), dimension.clone());
        Box::pin(async move { self.range_breakdown(&q, &dimension).await })
    }

    fn realtime(&self, site: &str, since_ms: i64, until_ms: i64) -> StoreFuture<'_, Realtime> {
        let site = site.to_owned();
        Box::pin(async move { self.live(&site, since_ms, until_ms).await })
    }

    fn transitions(&self, q: &ReportQuery, page: &str) -> StoreFuture<'_, RawTransitions> {
        let (q, page) = (q.clone(), page.to_owned());
        Box::pin(async move { self.range_transitions(&q, &page).await })
    }

    fn flows(&self, q: &ReportQuery, steps: usize) -> StoreFuture<'_, Vec<(Vec<String>, u64)>> {
        let q = q.clone();
        Box::pin(async move { self.range_flows(&q, steps).await })
    }

    fn funnel_hits(
        &self,
        q: &ReportQuery,
        steps: &[Step],
        window_ms: i64,
    ) -> StoreFuture<'_, Vec<FunnelHit>> {
        let (q, steps) = (q.clone(), steps.to_vec());
        Box::pin(async move { self.range_funnel_hits(&q, &steps, window_ms).await })
    }

    fn save_funnel(&self, site: &str, funnel: &FunnelDef) -> StoreFuture<'_, ()> {
        let (site, funnel) = (site.to_owned(), funnel.clone());
        Box::pin(async move { self.store_funnel(&site, &funnel).await })
    }

    fn funnels(&self, site: &str) -> StoreFuture<'_, Vec<FunnelDef>> {
        let site = site.to_owned();
        Box::pin(async move { self.saved_funnels(&site).await })
    }

    fn visitor_log(&self, q: &ReportQuery) -> StoreFuture<'_, Vec<LogSession>> {
        let q = q.clone();
        Box::pin(async move { self.range_visitor_log(&q).await })
    }

    fn fallbacks(&self, q: &ReportQuery) -> StoreFuture<'_, Vec<(String, u64)>> {
        let q = q.clone();
        Box::pin(async move { self.range_fallbacks(&q).await })
    }
}
