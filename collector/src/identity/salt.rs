//! The daily salt behind cookieless fingerprints.
//!
//! Salts are random, one per UTC day, kept in the store (so every collector sharing a store
//! hashes alike) and deleted two days later, with that day's fingerprint observations,
//! after which its fingerprints can no longer be recomputed by anyone. [`SaltExpiry`]
//! deletes them on a timer (at start, then hourly), so an old salt does not wait for the
//! next request to go. [`SaltCache`] keeps today's and yesterday's salts in memory so a
//! request costs no store round trip. (Yesterday's salt lets the NAT guard ask whether the
//! same network and user agent was shared by several visitors yesterday; see
//! [`resolver`](super::resolver).)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::store::{Store, StoreError};

/// Milliseconds in a UTC day.
pub const DAY_MS: i64 = 86_400_000;

/// How many days' salts [`SaltCache`] holds: today's and yesterday's.
const CACHED_DAYS: usize = 2;

/// Recent days' salts, each fetched from the store once.
pub struct SaltCache {
    /// Where salts are created and kept.
    store: Arc<dyn Store>,
    /// Day numbers (Unix days, UTC) and their salts, newest last, at most [`CACHED_DAYS`].
    recent: Mutex<Vec<(i64, [u8; 32])>>,
    /// Held while a salt is fetched, so the requests that miss at once (the first ones of
    /// a day) ask the store once: on a shared store each miss could make a candidate.
    fetching: tokio::sync::Mutex<()>,
}

impl SaltCache {
    /// A cache over `store`, empty until first used.
    pub fn new(store: Arc<dyn Store>) -> SaltCache {
        SaltCache {
            store,
            recent: Mutex::new(Vec::with_capacity(CACHED_DAYS + 1)),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The salt of the UTC day that contains `now_ms`.
    pub async fn for_time(&self, now_ms: i64) -> Result<[u8; 32], StoreError> {
        self.for_day(now_ms.div_euclid(DAY_MS)).await
    }

    /// The salt of the UTC day before the one that contains `now_ms`.
    pub async fn for_day_before(&self, now_ms: i64) -> Result<[u8; 32], StoreError> {
        self.for_day(now_ms.div_euclid(DAY_MS) - 1).await
    }

    /// Deletes the salts older than yesterday (by `now_ms`), from memory and from the
    /// store, with their days' fingerprint observations; returns the number of salts the
    /// store deleted.
    pub async fn expire(&self, now_ms: i64) -> Result<usize, StoreError> {
        let today = now_ms.div_euclid(DAY_MS);
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(day, _)| *day >= today - 1);
        self.store.expire_salts(today).await
    }

    async fn for_day(&self, day: i64) -> Result<[u8; 32], StoreError> {
        if let Some(salt) = self.cached(day) {
            return Ok(salt);
        }
        let _fetching = self.fetching.lock().await;
        if let Some(salt) = self.cached(day) {
            return Ok(salt);
        }
        let salt = self.store.daily_salt(day).await?;
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if !recent.iter().any(|(d, _)| *d == day) {
            recent.push((day, salt));
            recent.sort_by_key(|(d, _)| *d);
            let excess = recent.len().saturating_sub(CACHED_DAYS);
            recent.drain(..excess);
        }
        Ok(salt)
    }

    /// The salt of `day` if it is in memory.
    fn cached(&self, day: i64) -> Option<[u8; 32]> {
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(d, _)| *d == day)
            .map(|(_, salt)| *salt)
    }
}

/// How often [`SaltExpiry`] looks for old salts.
pub const EXPIRE_EVERY: Duration = Duration::from_secs(60 * 60);

/// The task that deletes old salts ([`SaltCache::expire`]) at start and then every
/// [`EXPIRE_EVERY`]; aborted when dropped.
pub struct SaltExpiry {
    task: JoinHandle<()>,
}

impl SaltExpiry {
    /// Expires the salts of `salts` by `clock`, now and then every `every`.
    pub fn start(salts: Arc<SaltCache>, clock: Clock, every: Duration) -> SaltExpiry {
        let task = tokio::spawn(async move {
            loop {
                match salts.expire(clock.now_ms()).await {
                    Ok(0) => {}
                    Ok(deleted) => tracing::info!(salts = deleted, "old daily salts deleted"),
                    // Retried at the next run.
                    Err(e) => tracing::error!(error = %e, "deleting old daily salts failed"),
                }
                tokio::time::sleep(every).await;
            }
        });
        SaltExpiry { task }
    }
}

impl Drop for SaltExpiry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    /// The days whose salts the database file at `path` holds.
    fn salt_days(path: &std::path::Path) -> Result<Vec<i64>, StoreError> {
        let conn = rusqlite::Connection::open(path)?;
        let mut stmt = conn.prepare("SELECT day FROM daily_salts ORDER BY day")?;
        let days = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<i64>, _>>()?;
        Ok(days)
    }

    /// Polls `salt_days` until it is `want` (or 5 s pass), returning the last reading.
    async fn wait_for(path: &std::path::Path, want: &[i64]) -> Result<Vec<i64>, StoreError> {
        let mut days = salt_days(path)?;
        for _ in 0..500 {
            if days == want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            days = salt_days(path)?;
        }
        Ok(days)
    }

    #[tokio::test]
    async fn old_salts_go_on_the_timer_without_any_request() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|source| StoreError::Io {
            path: "tmp".into(),
            source,
        })?;
        let path = dir.path().join("spoor.db");
        let store = Arc::new(SqliteStore::open(&path)?);
        let today = 20_000;
        for day in [today - 1, today] {
            store.daily_salt(day)?;
        }
        let clock = Clock::manual(today * DAY_MS + 1000);
        let cache = Arc::new(SaltCache::new(store.clone()));
        let before = cache.for_time(today * DAY_MS).await?;
        let _expiry =
            SaltExpiry::start(Arc::clone(&cache), clock.clone(), Duration::from_millis(10));
        assert_eq!(
            wait_for(&path, &[today - 1, today]).await?,
            [today - 1, today]
        );
        // Two days later, with no request in between, both are gone from the store…
        clock.set((today + 2) * DAY_MS);
        assert_eq!(wait_for(&path, &[]).await?, Vec::<i64>::new());
        // …and from memory: the cache cannot hand out the old salt again.
        assert_ne!(cache.for_time(today * DAY_MS).await?, before);
        Ok(())
    }

    #[tokio::test]
    async fn one_salt_per_day_and_a_new_one_the_next() -> Result<(), StoreError> {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory()?);
        let cache = SaltCache::new(Arc::clone(&store));
        let day0 = 20_000 * DAY_MS;
        let a = cache.for_time(day0 + 5).await?;
        assert_eq!(a, cache.for_time(day0 + DAY_MS - 1).await?);
        assert_eq!(
            a,
            store.daily_salt(20_000).await?,
            "the cache agrees with the store"
        );
        let b = cache.for_time(day0 + DAY_MS).await?;
        assert_ne!(a, b);
        assert_eq!(a, cache.for_day_before(day0 + DAY_MS).await?);
        assert_eq!(b, cache.for_time(day0 + DAY_MS + 1).await?);
        Ok(())
    }
}
