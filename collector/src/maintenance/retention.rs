//! Retention: events older than the configured age are deleted by a background task that
//! runs at start and then every hour.
//!
//! An event's age is its client time (`ts`, what reports show). With the events go the
//! server sessions whose last event is older than the cutoff and the identity links
//! recorded before it; fingerprint observations already go with their daily salt after two
//! days.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::store::Store;

/// How often the task purges.
pub const PURGE_EVERY: Duration = Duration::from_secs(60 * 60);

/// What one purge deleted: row counts per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Purged {
    /// Rows of `events`.
    pub events: usize,
    /// Rows of `sessions`.
    pub sessions: usize,
    /// Rows of `links`.
    pub links: usize,
    /// Rows of the report rollups (`report_hours`, `report_keys`, `report_flows`) for hours and days wholly
    /// before the cutoff.
    pub rollups: usize,
    /// Rows of `failed_events` received before the cutoff.
    pub failed_events: usize,
}

/// The running purge task; aborted when dropped.
pub struct Retention {
    task: JoinHandle<()>,
}

impl Retention {
    /// Purges `store` of what is older than `max_age` by `clock`, now and then every
    /// `every`.
    pub fn start(store: Arc<dyn Store>, clock: Clock, max_age: Duration, every: Duration) -> Self {
        let max_age_ms = i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX);
        let task = tokio::spawn(async move {
            loop {
                let cutoff = clock.now_ms().saturating_sub(max_age_ms);
                match store.purge_before(cutoff).await {
                    Ok(purged) if purged != Purged::default() => {
                        tracing::info!(
                            cutoff_ms = cutoff,
                            events = purged.events,
                            sessions = purged.sessions,
                            links = purged.links,
                            "retention purge"
                        );
                    }
                    Ok(_) => {}
                    // Retried at the next run; nothing is lost by waiting.
                    Err(e) => tracing::error!(error = %e, "retention purge failed"),
                }
                tokio::time::sleep(every).await;
            }
        });
        Retention { task }
    }
}

impl Drop for Retention {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::identity::graph::Mode;
    use crate::store::StoreError;
    use crate::store::sqlite::SqliteStore;

    const DAY_MS: i64 = 86_400_000;

    fn event(id: u128, ts: i64) -> Event {
        let mut e = crate::store::sqlite::tests::event(id, &format!("v{id}"), "s");
        e.client.ts = ts;
        e.received = ts;
        e
    }

    #[tokio::test]
    async fn the_task_purges_what_is_older_than_the_retention_age() -> Result<(), StoreError> {
        let now = 1_800_000_000_000;
        let store = Arc::new(SqliteStore::open_in_memory()?);
        store.insert_events(&[event(1, now - 40 * DAY_MS), event(2, now - 10 * DAY_MS)])?;
        let clock = Clock::manual(now);
        let _retention = Retention::start(
            store.clone(),
            clock.clone(),
            Duration::from_secs(30 * 86_400),
            Duration::from_millis(10),
        );
        let events = |s: &SqliteStore| s.summary("demo", Mode::Inclusive).map(|s| s.events);
        for _ in 0..500 {
            if events(&store)? == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(events(&store)?, 1, "the 40-day-old event is purged");
        assert_eq!(store.summary("demo", Mode::Inclusive)?.sessions, 1);
        // Time passes: the other one ages out too.
        clock.set(now + 25 * DAY_MS);
        for _ in 0..500 {
            if events(&store)? == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(events(&store)?, 0);
        assert_eq!(store.summary("demo", Mode::Inclusive)?.sessions, 0);
        Ok(())
    }
}
