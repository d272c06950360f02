//! Tomorrow's daily salt, chosen hours before the day begins.
//!
//! Collectors that find no salt for a day race to create one, and a reader waits until the
//! earliest candidate is older than the candidate window before trusting it (see
//! `chosen_or_create`). If the first cookieless request of a day made the salt, every
//! request at midnight would wait for that window. So every collector makes sure, at start
//! and then hourly, that yesterday's (the NAT guard reads it), today's and tomorrow's salts
//! exist; at midnight the new day's salt is hours old and read at once. (A collector that
//! starts on a new database still waits the window once, for the salts it made at start.)
//! A salt still goes two days after its day
//! ([`expire_salts`](crate::store::IdentityState::expire_salts)): a salt made a day early
//! changes nothing about when its fingerprints stop being computable.

use std::time::Duration;

use super::now_ms;
use crate::identity::salt::DAY_MS;
use crate::store::IdentityState;
use crate::store::clickhouse::ClickHouseStore;

/// How often the salts ahead are looked for.
const EVERY: Duration = Duration::from_secs(60 * 60);

/// Makes yesterday's, today's and tomorrow's salts exist, now and every [`EVERY`], while the store
/// lives (the task holds it weakly and ends with it); a failed run is logged and tried at
/// the next.
pub(in crate::store::clickhouse) fn run(store: &ClickHouseStore) {
    let weak = std::sync::Arc::downgrade(&store.inner);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            let Some(inner) = weak.upgrade() else { return };
            let store = ClickHouseStore { inner, since: 0 };
            let today = now_ms().div_euclid(DAY_MS);
            for day in [today - 1, today, today + 1] {
                if let Err(e) = store.daily_salt(day).await {
                    tracing::warn!(error = %e, day, "making a daily salt ahead failed");
                }
            }
        }
    });
}
