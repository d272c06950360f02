//! The daily salt behind cookieless fingerprints.
//!
//! Salts are random, one per UTC day, kept in the store (so every collector sharing a store
//! hashes alike) and deleted by the store two days later, after which yesterday's
//! fingerprints can no longer be recomputed by anyone. [`SaltCache`] keeps today's salt in
//! memory so a request costs no store round trip.

use std::sync::{Arc, Mutex};

use crate::store::{Store, StoreError};

/// Milliseconds in a UTC day.
pub const DAY_MS: i64 = 86_400_000;

/// Today's salt, fetched from the store once per day.
pub struct SaltCache {
    /// Where salts are created and kept.
    store: Arc<dyn Store>,
    /// The day number (Unix days, UTC) and salt last fetched.
    current: Mutex<Option<(i64, [u8; 32])>>,
}

impl SaltCache {
    /// A cache over `store`, empty until first used.
    pub fn new(store: Arc<dyn Store>) -> SaltCache {
        SaltCache {
            store,
            current: Mutex::new(None),
        }
    }

    /// The salt of the UTC day that contains `now_ms`.
    pub async fn for_time(&self, now_ms: i64) -> Result<[u8; 32], StoreError> {
        let day = now_ms.div_euclid(DAY_MS);
        if let Some((d, salt)) = *self.current.lock().unwrap_or_else(|p| p.into_inner()) {
            if d == day {
                return Ok(salt);
            }
        }
        let store = Arc::clone(&self.store);
        let salt = tokio::task::spawn_blocking(move || store.daily_salt(day))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??;
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some((day, salt));
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
        Ok(())
    }
}
