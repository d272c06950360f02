//! The daily salt behind cookieless fingerprints.
//!
//! Salts are random, one per UTC day, kept in the store (so every collector sharing a store
//! hashes alike) and deleted by the store two days later, after which yesterday's
//! fingerprints can no longer be recomputed by anyone. [`SaltCache`] keeps today's and
//! yesterday's salts in memory so a request costs no store round trip. (Yesterday's salt
//! lets the NAT guard ask whether the same network and user agent was shared by several
//! visitors yesterday; see [`resolver`](super::resolver).)

use std::sync::{Arc, Mutex};

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
}

impl SaltCache {
    /// A cache over `store`, empty until first used.
    pub fn new(store: Arc<dyn Store>) -> SaltCache {
        SaltCache {
            store,
            recent: Mutex::new(Vec::with_capacity(CACHED_DAYS + 1)),
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

    async fn for_day(&self, day: i64) -> Result<[u8; 32], StoreError> {
        let cached = self
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(d, _)| *d == day)
            .map(|(_, salt)| *salt);
        if let Some(salt) = cached {
            return Ok(salt);
        }
        let store = Arc::clone(&self.store);
        let salt = tokio::task::spawn_blocking(move || store.daily_salt(day))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??;
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if !recent.iter().any(|(d, _)| *d == day) {
            recent.push((day, salt));
            recent.sort_by_key(|(d, _)| *d);
            let excess = recent.len().saturating_sub(CACHED_DAYS);
            recent.drain(..excess);
        }
        Ok(salt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    #[tokio::test]
    async fn one_salt_per_day_and_a_new_one_the_next() -> Result<(), StoreError> {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory()?);
        let cache = SaltCache::new(Arc::clone(&store));
        let day0 = 20_000 * DAY_MS;
        let a = cache.for_time(day0 + 5).await?;
        assert_eq!(a, cache.for_time(day0 + DAY_MS - 1).await?);
        assert_eq!(
            a,
            store.daily_salt(20_000)?,
            "the cache agrees with the store"
        );
        let b = cache.for_time(day0 + DAY_MS).await?;
        assert_ne!(a, b);
        assert_eq!(a, cache.for_day_before(day0 + DAY_MS).await?);
        assert_eq!(b, cache.for_time(day0 + DAY_MS + 1).await?);
        Ok(())
    }
}
