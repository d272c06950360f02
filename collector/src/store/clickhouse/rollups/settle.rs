//! Entry and exit pages' visitors. A session's entry and exit can move while it goes on
//! (a later page view moves its exit, a late one its entry), and a visitor sketch cannot
//! forget: so a session's visitor goes into its entry and exit rows of `report_visitors`
//! only once it is settled, an idle timeout after its latest arrival (as on SQLite,
//! `store/sqlite/reports/settle.rs`), and the reports add the visitors of the sessions
//! not settled yet from the events ([`ClickHouseStore::unsettled`]).
//!
//! Settling is one `INSERT … SELECT` inside ClickHouse over the sessions whose latest
//! arrival lies between the last mark (`rollup_marks`, `settled`) and now minus the
//! timeout, then a new mark. Every collector runs it every minute ([`run`]); running it
//! twice, or two collectors at once, adds the same visitors again, which a sketch
//! ignores. Its cost is the events of the last few days, whatever the site's history
//! (the first run on a database settles its whole history once).

use std::time::Duration;

use serde::Deserialize;

use super::super::ClickHouseStore;
use super::super::client::quote;
use super::super::identity::now_ms;
use crate::reports::range::{DAY_MS, date};
use crate::store::StoreError;

/// How often each collector settles.
const EVERY: Duration = Duration::from_secs(60);

/// Every how many runs old `settled` marks are deleted (hourly).
const PRUNE_EVERY_RUNS: u64 = 60;

/// How far before a window's first arrival its sessions' events may lie (by their
/// client time, the `day` of the primary key): a session lasts at most a local day, and
/// an event may arrive a while after it happened.
const LOOKBACK_MS: i64 = 3 * DAY_MS;

/// A mark.
#[derive(Deserialize)]
struct Mark {
    at: i64,
}

impl ClickHouseStore {
    /// The arrival time up to which every session's entry and exit visitors are in
    /// `report_visitors` (0: none yet).
    pub(in crate::store::clickhouse) async fn settled_mark(&self) -> Result<i64, StoreError> {
        let rows: Vec<Mark> = self
            .client()
            .rows(
                format!(
                    "SELECT toInt64(max(at)) AS at FROM {} WHERE name = 'settled'",
                    self.table("rollup_marks")
                ),
                &self.consistent_read(),
            )
            .await?;
        Ok(rows.first().map_or(0, |m| m.at))
    }

    /// Settles the sessions whose latest arrival is older than the idle timeout at
    /// `now_ms`; returns the new mark. Every collector runs it every minute.
    pub async fn settle(&self, now_ms: i64) -> Result<i64, StoreError> {
        let from = self.settled_mark().await?;
        self.settle_from(from, now_ms).await
    }

    /// Settles every session whose latest arrival is older than the idle timeout at
    /// `now_ms`, whatever the mark: for a history written with arrival times already past
    /// (`spoor-gen`, an import), which the minutely runs, following arrivals as they come,
    /// never look at. Its cost is every event stored.
    pub async fn settle_all(&self, now_ms: i64) -> Result<i64, StoreError> {
        self.settle_from(0, now_ms).await
    }

    /// Settles the sessions whose latest arrival is in `[from, now_ms - idle timeout)`
    /// and marks the end of that window settled: a day of arrivals at a time, each
    /// marked, so the memory a statement takes (the shipped cap is 1 GB) follows a day's
    /// sessions whatever the window, and a run cut off goes on from its last mark.
    async fn settle_from(&self, from: i64, now_ms: i64) -> Result<i64, StoreError> {
        let idle = i64::try_from(self.rules().idle_timeout.as_millis()).unwrap_or(i64::MAX);
        let to = now_ms.saturating_sub(idle);
        // From a mark of 0 (none yet): no earlier than the first arrival stored.
        let mut start = if from == 0 {
            self.first_arrival().await?.min(to)
        } else {
            from
        };
        while start < to {
            let end = start.saturating_add(DAY_MS).min(to);
            let sessions = self.sessions_arrived(None, start, Some(end));
            self.client()
                .command(
                    format!(
                        "INSERT INTO {} (site, dim, bucket, key, visitor) \
                         SELECT site, dim, intDiv(start_ts, {DAY_MS}) AS bucket, key, visitor \
                         FROM ({sessions}) \
                         ARRAY JOIN ['entry', 'exit'] AS dim, [entry_path, exit_path] AS key",
                        self.table("report_visitors_in"),
                    ),
                    &self.state_settings(),
                )
                .await?;
            self.client()
                .command(
                    format!(
                        "INSERT INTO {} (name, at) VALUES ('settled', {end})",
                        self.table("rollup_marks")
                    ),
                    &self.state_settings(),
                )
                .await?;
            start = end;
        }
        Ok(to.max(from))
    }

    /// Deletes the `settled` marks more than a day older than the latest (every collector
    /// adds one a minute; only the latest is read).
    pub async fn prune_settled_marks(&self) -> Result<(), StoreError> {
        let mark = self.settled_mark().await?;
        self.client()
            .command(
                format!(
                    "ALTER TABLE {} DELETE WHERE name = 'settled' AND at < {}",
                    self.local_table("rollup_marks"),
                    mark.saturating_sub(DAY_MS)
                ),
                &[],
            )
            .await
    }

    /// The earliest arrival of any stored event (`i64::MAX` with none).
    async fn first_arrival(&self) -> Result<i64, StoreError> {
        let rows: Vec<Mark> = self
            .client()
            .rows(
                format!(
                    "SELECT if(count() = 0, toInt64({}), toInt64(min(ts + received_after))) AS at \
                     FROM {}",
                    i64::MAX,
                    self.table("events")
                ),
                &[],
            )
            .await?;
        Ok(rows.first().map_or(i64::MAX, |m| m.at))
    }

    /// `site, visitor, start_ts, entry_path, exit_path` of the sessions (of `site`, or
    /// of every site) whose latest arrival is in `[from, to)` (`to` `None`: from `from`
    /// on), with the definitions of the sessions of the reports
    /// ([`sessions`](super::super::reports)), as a subquery.
    pub(in crate::store::clickhouse) fn sessions_arrived(
        &self,
        site: Option<&str>,
        from: i64,
        to: Option<i64>,
    ) -> String {
        let events = self.table("events");
        let site = site.map_or(String::new(), |s| format!("site = {} AND ", quote(s)));
        let window_day = date(from.saturating_sub(LOOKBACK_MS).max(0).div_euclid(DAY_MS));
        // A session's events lie within a local day (and a few minutes) of each other.
        let events_day = date(
            from.saturating_sub(LOOKBACK_MS + DAY_MS)
                .max(0)
                .div_euclid(DAY_MS),
        );
        let before = to.map_or(String::new(), |t| format!(" AND arrived < {t}"));
        // Nor after the window's end, but for a client clock ahead of the collector's.
        let events_until = to.map_or(String::new(), |t| {
            format!(
                " AND day <= '{}'",
                date(t.saturating_add(DAY_MS).div_euclid(DAY_MS))
            )
        });
        let window_before = to.map_or(String::new(), |t| format!(" AND received < {t}"));
        format!(
            "SELECT site, session, any(visitor) AS visitor, min(ts) AS start_ts, \
                 argMin(path, (ts, received)) AS entry_path, \
                 if(countIf(kind = 'pageview') > 0, \
                    argMaxIf(path, (ts, received), kind = 'pageview'), \
                    argMax(path, (ts, received))) AS exit_path, \
                 max(received) AS arrived \
             FROM {events} \
             WHERE {site}day >= '{events_day}'{events_until} AND session IN (\
                 SELECT session FROM {events} \
                 WHERE {site}day >= '{window_day}' AND received >= {from}{window_before}) \
             GROUP BY site, session HAVING arrived >= {from}{before}"
        )
    }
}

/// Settles, and reconciles yesterday once it is over
/// ([`reconcile_closed`](ClickHouseStore::reconcile_closed)), every [`EVERY`] while the
/// store lives (the task holds it weakly and ends with
/// it); a failed run is logged and tried again at the next.
pub(in crate::store::clickhouse) fn run(store: &ClickHouseStore) {
    let weak = std::sync::Arc::downgrade(&store.inner);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.tick().await;
        for n in 1u64.. {
            tick.tick().await;
            let Some(inner) = weak.upgrade() else { return };
            let store = ClickHouseStore { inner, since: 0 };
            if let Err(e) = store.settle(now_ms()).await {
                tracing::warn!(error = %e, "settling entry and exit visitors failed");
            }
            if n % PRUNE_EVERY_RUNS == 0 {
                if let Err(e) = store.prune_settled_marks().await {
                    tracing::warn!(error = %e, "deleting old settled marks failed");
                }
            }
            match store.reconcile_closed(now_ms()).await {
                Ok(Some(days)) => tracing::info!(?days, "yesterday's rollups reconciled"),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "reconciling yesterday's rollups failed"),
            }
        }
    });
}
