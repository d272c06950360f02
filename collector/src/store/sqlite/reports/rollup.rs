//! The rollups' SQLite tables: [`Rollups`](crate::store::rollup::Rollups) of one insert
//! transaction written to `report_hours` (per site and hour), `report_keys` (per site,
//! dimension, day and key) and `report_flows` (sessions per site, day and first page
//! views), once per touched row, each row's visitor sketch merged with the stored one.

use rusqlite::{OptionalExtension, Transaction, params};

use crate::reports::hll::Hll;
use crate::store::StoreError;
pub(in crate::store::sqlite) use crate::store::rollup::{
    Counted, Rollups, SessionFacts, SessionState,
};

/// Writes the rollups of a transaction.
pub(in crate::store::sqlite) trait Flush {
    /// Writes every touched row.
    fn flush(self, tx: &Transaction<'_>) -> Result<(), StoreError>;
}

impl Flush for Rollups<Hll> {
    fn flush(self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        let mut read_hour =
            tx.prepare_cached("SELECT visitors FROM report_hours WHERE site = ?1 AND hour = ?2")?;
        let mut write_hour = tx.prepare_cached(
            "INSERT INTO report_hours (site, hour, pageviews, events, sessions, bounces,
                 duration_ms, visitors)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (site, hour) DO UPDATE SET
                 pageviews = pageviews + excluded.pageviews, events = events + excluded.events,
                 sessions = sessions + excluded.sessions, bounces = bounces + excluded.bounces,
                 duration_ms = duration_ms + excluded.duration_ms,
                 visitors = coalesce(excluded.visitors, visitors)",
        )?;
        for ((site, hour), d) in self.hours {
            let sketch = merged(&mut read_hour, params![site, hour], d.visitors)?;
            write_hour.execute(params![
                site,
                hour,
                d.pageviews,
                d.events,
                d.sessions,
                d.bounces,
                d.duration_ms,
                sketch
            ])?;
        }
        let mut read_key = tx.prepare_cached(
            "SELECT visitors FROM report_keys WHERE site = ?1 AND dim = ?2 AND day = ?3 AND key = ?4",
        )?;
        let mut write_key = tx.prepare_cached(
            "INSERT INTO report_keys (site, dim, day, key, pageviews, events, sessions, visitors)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (site, dim, day, key) DO UPDATE SET
                 pageviews = pageviews + excluded.pageviews, events = events + excluded.events,
                 sessions = sessions + excluded.sessions,
                 visitors = coalesce(excluded.visitors, visitors)",
        )?;
        for ((site, dim, day, key), d) in self.keys {
            if d.is_empty() {
                continue;
            }
            let sketch = merged(&mut read_key, params![site, dim, day, key], d.visitors)?;
            write_key.execute(params![
                site,
                dim,
                day,
                key,
                d.pageviews,
                d.events,
                d.sessions,
                sketch
            ])?;
        }
        let mut write_flow = tx.prepare_cached(
            "INSERT INTO report_flows (site, day, key, sessions) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (site, day, key) DO UPDATE SET sessions = sessions + excluded.sessions",
        )?;
        // A flow a session has moved on from (its next page view made it longer) may be
        // left with no session.
        let mut drop_empty = tx.prepare_cached(
            "DELETE FROM report_flows WHERE site = ?1 AND day = ?2 AND key = ?3 AND sessions <= 0",
        )?;
        for ((site, day, key), n) in self.flows {
            if n == 0 {
                continue;
            }
            write_flow.execute(params![site, day, key, n])?;
            if n < 0 {
                drop_empty.execute(params![site, day, key])?;
            }
        }
        Ok(())
    }
}

/// The stored sketch merged with `new` (None when there is nothing new to add).
fn merged(
    read: &mut rusqlite::CachedStatement<'_>,
    key: impl rusqlite::Params,
    new: Option<Hll>,
) -> Result<Option<Vec<u8>>, StoreError> {
    let Some(mut new) = new else { return Ok(None) };
    let stored: Option<Option<Vec<u8>>> = read.query_row(key, |r| r.get(0)).optional()?;
    if let Some(bytes) = stored.flatten() {
        new.merge(&Hll::from_bytes(&bytes));
    }
    Ok(Some(new.to_bytes()))
}
