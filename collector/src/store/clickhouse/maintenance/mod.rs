//! [`Maintenance`] on ClickHouse: the retention purge and erasure as mutations
//! (`ALTER TABLE … DELETE`, on every shard), export as reads, health as `SELECT 1`.
//!
//! ClickHouse 18.16 runs mutations in the background and has no `mutations_sync`, so
//! every purge and erasure waits ([`ClickHouseStore::mutated`]) until `system.mutations`
//! says its mutations are done (on a cluster: on every server) before it recomputes what
//! derives from the deleted rows (persons, from the links that remain) and answers: what
//! an erasure deleted is no longer readable when it answers. Both then bump the
//! maintenance epoch, which tells every collector's writer to drop its identity caches
//! ([`ClickHouseStore::maintenance_epoch`]).

mod erasure;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::ClickHouseStore;
use super::client::{backend, quote};
use crate::maintenance::erasure::{Erased, Subject, SubjectExport};
use crate::maintenance::retention::Purged;
use crate::store::{Maintenance, StoreError, StoreFuture};

/// How long a purge or erasure waits for its mutations before failing.
const MUTATION_DEADLINE: Duration = Duration::from_secs(300);

#[derive(serde::Deserialize)]
struct Count {
    n: u64,
}

impl Maintenance for ClickHouseStore {
    fn purge_before(&self, cutoff_ms: i64) -> StoreFuture<'_, Purged> {
        Box::pin(async move { self.purge(cutoff_ms).await })
    }
    fn export(&self, site: &str, subject: &Subject) -> StoreFuture<'_, SubjectExport> {
        let (site, subject) = (site.to_string(), subject.clone());
        Box::pin(async move { self.export_subject(&site, &subject).await })
    }
    fn erase(&self, site: &str, subject: &Subject) -> StoreFuture<'_, Erased> {
        let (site, subject) = (site.to_string(), subject.clone());
        Box::pin(async move { self.erase_subject(&site, &subject).await })
    }
    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move { self.client().command("SELECT 1".into(), &[]).await })
    }
}

impl ClickHouseStore {
    /// `SELECT toUInt64(…) AS n …`'s one number.
    async fn count(&self, sql: String) -> Result<u64, StoreError> {
        let rows: Vec<Count> = self.client().rows(sql, &self.consistent_read()).await?;
        Ok(rows.first().map_or(0, |r| r.n))
    }

    /// Starts `ALTER TABLE {table} DELETE WHERE {condition}` (on every shard).
    async fn delete_where(&self, table: &str, condition: &str) -> Result<(), StoreError> {
        self.client()
            .command(
                format!(
                    "ALTER TABLE {} DELETE WHERE {condition}",
                    self.local_table(table)
                ),
                &[],
            )
            .await
    }

    /// Waits until no mutation of the store's database is left to do (on a cluster, on
    /// any of its servers).
    pub(in crate::store::clickhouse) async fn mutated(&self) -> Result<(), StoreError> {
        let layout = &self.inner.layout;
        let from = match &layout.cluster {
            Some(c) => format!("cluster({}, system, mutations)", quote(c)),
            None => "system.mutations".to_string(),
        };
        let sql = format!(
            "SELECT toUInt64(count()) AS n FROM {from} WHERE database = {} AND is_done = 0",
            quote(&layout.db)
        );
        let deadline = Instant::now() + MUTATION_DEADLINE;
        let mut pause = Duration::from_millis(20);
        loop {
            if self.count(sql.clone()).await? == 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(backend(format!(
                    "mutations of {} not done within {MUTATION_DEADLINE:?}",
                    layout.db
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// The retention purge: events whose client time is before `cutoff_ms` and their ids,
    /// the visitors' latest sessions that ended before it, links recorded before it (the
    /// persons of their ends worked out again), failed events received before it.
    async fn purge(&self, cutoff_ms: i64) -> Result<Purged, StoreError> {
        let events = self.table("events");
        let old = format!("ts < {cutoff_ms}");
        let purged_events = self
            .count(format!(
                "SELECT toUInt64(uniqExact(site, id)) AS n FROM {events} WHERE {old}"
            ))
            .await?;
        // Sessions all of whose events go.
        let sessions = self
            .count(format!(
                "SELECT toUInt64(count()) AS n FROM (SELECT session, max(ts) AS last FROM {events} \
                 WHERE session GLOBAL IN (SELECT session FROM {events} WHERE {old}) \
                 AND session != toUUID('00000000-0000-0000-0000-000000000000') \
                 GROUP BY session HAVING last < {cutoff_ms})"
            ))
            .await?;
        #[derive(serde::Deserialize)]
        struct Old {
            site: String,
            id: i64,
            a: String,
            b: String,
        }
        let links: Vec<Old> = self
            .client()
            .rows(
                format!(
                    "SELECT site, id, any(a) AS a, any(b) AS b FROM {} WHERE at_ms < {cutoff_ms} \
                     GROUP BY site, id ORDER BY site, id",
                    self.table("links")
                ),
                &self.consistent_read(),
            )
            .await?;
        let failed = self
            .count(format!(
                "SELECT toUInt64(count()) AS n FROM {} WHERE received_ms < {cutoff_ms}",
                self.table("failed_events")
            ))
            .await?;
        // The rollups' rows of hours and days wholly before the cutoff.
        let rollups_old = format!(
            "(dim = 'hour' AND bucket < {}) OR (dim != 'hour' AND bucket < {})",
            cutoff_ms.div_euclid(3_600_000),
            cutoff_ms.div_euclid(86_400_000)
        );
        let rollups = self
            .count(format!(
                "SELECT toUInt64(count()) AS n FROM {} WHERE {rollups_old}",
                self.table("report_counts")
            ))
            .await?;
        let purged = Purged {
            events: usize::try_from(purged_events).unwrap_or(usize::MAX),
            sessions: usize::try_from(sessions).unwrap_or(usize::MAX),
            links: links.len(),
            rollups: usize::try_from(rollups).unwrap_or(usize::MAX),
            failed_events: usize::try_from(failed).unwrap_or(usize::MAX),
        };
        if purged == Purged::default() {
            return Ok(purged);
        }
        if purged_events > 0 {
            // The ids first, read while their events are still there.
            let ids: Vec<erasure::EventKey> = self
                .client()
                .rows(
                    format!("SELECT DISTINCT site, toString(id) AS id FROM {events} WHERE {old}"),
                    &self.consistent_read(),
                )
                .await?;
            self.delete_event_ids(&ids).await?;
            self.delete_where("events", &old).await?;
            self.delete_where("latest_sessions", &format!("last_ts < {cutoff_ms}"))
                .await?;
            // The hours wholly before the cutoff.
            self.delete_where(
                "visitor_hours",
                &format!("hour < {}", cutoff_ms.div_euclid(3_600_000)),
            )
            .await?;
        }
        if !links.is_empty() {
            self.delete_where("links", &format!("at_ms < {cutoff_ms}"))
                .await?;
            for chunk in links.chunks(1000) {
                let ids: Vec<String> = chunk.iter().map(|l| l.id.to_string()).collect();
                self.delete_where("link_ids", &format!("id IN ({})", ids.join(",")))
                    .await?;
            }
        }
        if rollups > 0 {
            self.delete_where("report_counts", &rollups_old).await?;
            self.delete_where("report_visitors", &rollups_old).await?;
        }
        if failed > 0 {
            self.delete_where("failed_events", &format!("received_ms < {cutoff_ms}"))
                .await?;
        }
        self.mutated().await?;
        // The persons of the purged links' ends, from the links that remain.
        let mut by_site: std::collections::BTreeMap<&str, BTreeSet<&str>> =
            std::collections::BTreeMap::new();
        for l in &links {
            let ends = by_site.entry(l.site.as_str()).or_default();
            ends.insert(&l.a);
            ends.insert(&l.b);
        }
        for (site, ends) in by_site {
            let ends: Vec<&str> = ends.into_iter().collect();
            self.relink(site, &ends).await?;
        }
        self.bump_maintenance_epoch().await?;
        Ok(purged)
    }
}
