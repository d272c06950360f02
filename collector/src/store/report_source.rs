//! [`ReportSource`]: the answers site owners read ([`reports`](crate::reports)) and the
//! all-time summary, on a [`ReportQuery`] that says what to answer (site, range, filters,
//! what to count, which links make persons) and never how: whether rollups or a scan
//! answer is the engine's business.

use super::{StoreFuture, Summary};
use crate::identity::graph::Mode;
use crate::reports::funnel::{FunnelDef, Step};
use crate::reports::{
    Counts, Dimension, FunnelHit, Interval, LogSession, Realtime, ReportQuery, Row,
};

/// Transitions around a page: `(views, before, after)` as raw counts.
pub type RawTransitions = (u64, Vec<(String, u64)>, Vec<(String, u64)>);

/// What a store answers reports from.
pub trait ReportSource: Send + Sync {
    /// Counts over everything stored for `site`; `persons` under `mode`.
    fn summary(&self, site: &str, mode: Mode) -> StoreFuture<'_, Summary>;

    /// Sites with events, sorted.
    fn sites(&self) -> StoreFuture<'_, Vec<String>>;

    /// Counters over the query's range.
    fn counts(&self, q: &ReportQuery) -> StoreFuture<'_, Counts>;

    /// Counters over the query's range and over the previous period of equal length.
    fn counts_with_previous(&self, q: &ReportQuery) -> StoreFuture<'_, (Counts, Counts)> {
        let now = self.counts(q);
        let before = self.counts(&q.with_range(q.range.previous()));
        Box::pin(async move { Ok((now.await?, before.await?)) })
    }

    /// Counters per bucket of `interval` over the range, each bucket's start (Unix ms)
    /// with its counters, every bucket present.
    fn series(&self, q: &ReportQuery, interval: Interval) -> StoreFuture<'_, Vec<(i64, Counts)>>;

    /// The rows of a breakdown (sorted, at most `limit`), with shares.
    fn breakdown(&self, q: &ReportQuery, dimension: &Dimension) -> StoreFuture<'_, Vec<Row>>;

    /// Visitors and pages of the events whose time is from `since_ms` to `until_ms`.
    fn realtime(&self, site: &str, since_ms: i64, until_ms: i64) -> StoreFuture<'_, Realtime>;

    /// Transitions around `page`.
    fn transitions(&self, q: &ReportQuery, page: &str) -> StoreFuture<'_, RawTransitions>;

    /// The first `steps` page views of sessions (of the 5 each remembers), equal
    /// sequences added up, with their session counts: at least the `q.limit` most common
    /// (by sessions, then pages, as [`flows::build`](crate::reports::flows::build) keeps
    /// them), all of them where that costs no more.
    fn flows(&self, q: &ReportQuery, steps: usize) -> StoreFuture<'_, Vec<(Vec<String>, u64)>>;

    /// The events that match each step, from the range's start to its end plus
    /// `window_ms`: all of them, or a subset from which
    /// [`funnel::evaluate`](crate::reports::funnel::evaluate) gives the same answer.
    fn funnel_hits(
        &self,
        q: &ReportQuery,
        steps: &[Step],
        window_ms: i64,
    ) -> StoreFuture<'_, Vec<FunnelHit>>;

    /// Saves (or replaces) a named funnel.
    fn save_funnel(&self, site: &str, funnel: &FunnelDef) -> StoreFuture<'_, ()>;

    /// The saved funnels of `site`, by name.
    fn funnels(&self, site: &str) -> StoreFuture<'_, Vec<FunnelDef>>;

    /// Sessions of the range, newest first, at most `limit`.
    fn visitor_log(&self, q: &ReportQuery) -> StoreFuture<'_, Vec<LogSession>>;

    /// Page views of the range sent by the loader's no-wasm fallback, per reason (see
    /// [`payload::fallback`](crate::payload::fallback)), most first; the filters do not
    /// apply. Empty where the beacon ran everywhere.
    fn fallbacks(&self, q: &ReportQuery) -> StoreFuture<'_, Vec<(String, u64)>>;
}
