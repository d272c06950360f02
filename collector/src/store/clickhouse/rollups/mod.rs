//! The rollups on ClickHouse (migration `0005_rollups.sql`): the writer's
//! [`Rollups`] of one call appended as `report_counts` rows (signed counter changes,
//! summed by the SummingMergeTree as parts merge and by every read) and
//! `report_visitors_in` rows (visitor ids, made `uniqCombined` states by a materialized
//! view); and [`settle`], which adds the entry and exit pages' visitors once their
//! sessions can no longer move.
//!
//! Exact as long as every event's call writes its rollups once. A call cut off after its
//! events and before its ids is carried on by its retry (the writer, `sink.rs`), which
//! writes its rollups then; one cut off after its rollups and before its ids is counted
//! twice. [`reconcile`] makes a day exact again from its events (`rebuild-reports`). A
//! report over a range before `since` (the rollups' start, see [`ClickHouseStore::since`])
//! is answered from the events.

pub(super) mod reconcile;
pub(super) mod settle;

use std::collections::HashSet;

use serde::Serialize;

use super::ClickHouseStore;
use crate::store::StoreError;
use crate::store::rollup::{Delta, Rollups};

/// One row of `report_counts`.
#[derive(Serialize)]
struct CountRow<'a> {
    site: &'a str,
    dim: &'a str,
    bucket: i64,
    key: &'a str,
    pageviews: i64,
    events: i64,
    sessions: i64,
    bounces: i64,
    duration_ms: i64,
    batch: u64,
}

/// One row of `report_visitors_in`.
#[derive(Serialize)]
pub(super) struct VisitorRow<'a> {
    pub site: &'a str,
    pub dim: &'a str,
    pub bucket: i64,
    pub key: &'a str,
    pub visitor: &'a str,
}

/// The counter and visitor rows of one touched rollup row.
fn rows<'a>(
    (site, dim, bucket, key): (&'a str, &'a str, i64, &'a str),
    d: &'a Delta<HashSet<String>>,
    batch: u64,
    counts: &mut Vec<CountRow<'a>>,
    visitors: &mut Vec<VisitorRow<'a>>,
) {
    if d.pageviews != 0 || d.events != 0 || d.sessions != 0 || d.bounces != 0 || d.duration_ms != 0
    {
        counts.push(CountRow {
            site,
            dim,
            bucket,
            key,
            pageviews: d.pageviews,
            events: d.events,
            sessions: d.sessions,
            bounces: d.bounces,
            duration_ms: d.duration_ms,
            batch,
        });
    }
    for visitor in d.visitors.iter().flatten() {
        visitors.push(VisitorRow {
            site,
            dim,
            bucket,
            key,
            visitor,
        });
    }
}

impl ClickHouseStore {
    /// Appends one call's rollups; `batch` names the call (see the migration).
    pub(super) async fn write_rollups(
        &self,
        rollups: Rollups<HashSet<String>>,
        batch: u64,
    ) -> Result<(), StoreError> {
        let mut counts = Vec::new();
        let mut visitors = Vec::new();
        for ((site, hour), d) in &rollups.hours {
            rows(
                (site, "hour", *hour, ""),
                d,
                batch,
                &mut counts,
                &mut visitors,
            );
        }
        for ((site, dim, day, key), d) in &rollups.keys {
            rows((site, dim, *day, key), d, batch, &mut counts, &mut visitors);
        }
        for ((site, day, flow), n) in &rollups.flows {
            if *n != 0 {
                counts.push(CountRow {
                    site,
                    dim: "flow",
                    bucket: *day,
                    key: flow,
                    pageviews: 0,
                    events: 0,
                    sessions: *n,
                    bounces: 0,
                    duration_ms: 0,
                    batch,
                });
            }
        }
        // Two independent inserts, sent together.
        let settings = self.state_settings();
        let counts = self.client().insert("report_counts", &counts, &settings);
        let visitors = self
            .client()
            .insert("report_visitors_in", &visitors, &settings);
        tokio::try_join!(counts, visitors).map(|_| ())
    }
}
