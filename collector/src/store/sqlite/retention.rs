//! The SQL of [`Store::purge_before`](crate::store::Store::purge_before): old events,
//! sessions and links deleted in chunks, each chunk its own short transaction (and its own
//! turn at the writer connection), so the ingest writer is never held up for long.

use rusqlite::params;

use super::SqliteStore;
use crate::retention::Purged;
use crate::store::StoreError;

/// Rows deleted per transaction.
const CHUNK: i64 = 5_000;

/// Deletes events with client time before `cutoff_ms` (site by site, through the
/// `(site, ts)` index), sessions whose last event is before it, and links recorded
/// before it.
pub(super) fn purge_before(store: &SqliteStore, cutoff_ms: i64) -> Result<Purged, StoreError> {
    let sites: Vec<String> = {
        let conn = store.reader();
        let mut stmt = conn.prepare("SELECT DISTINCT site FROM sessions")?;
        let mut sites: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut stmt = conn.prepare("SELECT DISTINCT site FROM events")?;
        for site in stmt.query_map([], |r| r.get::<_, String>(0))? {
            sites.push(site?);
        }
        sites.sort();
        sites.dedup();
        sites
    };
    let mut purged = Purged::default();
    for site in &sites {
        purged.events += drain(
            store,
            "DELETE FROM events WHERE rowid IN
                 (SELECT rowid FROM events WHERE site = ?1 AND ts < ?2 LIMIT ?3)",
            site,
            cutoff_ms,
        )?;
        purged.sessions += drain(
            store,
            "DELETE FROM sessions WHERE rowid IN
                 (SELECT rowid FROM sessions WHERE site = ?1 AND last_ts < ?2 LIMIT ?3)",
            site,
            cutoff_ms,
        )?;
        purged.links += drain(
            store,
            "DELETE FROM links WHERE id IN
                 (SELECT id FROM links WHERE site = ?1 AND at_ms < ?2 LIMIT ?3)",
            site,
            cutoff_ms,
        )?;
    }
    Ok(purged)
}

/// Runs `sql` (a chunked DELETE: `?1` site, `?2` cutoff, `?3` chunk size) until it deletes
/// nothing; returns the rows deleted.
fn drain(store: &SqliteStore, sql: &str, site: &str, cutoff_ms: i64) -> Result<usize, StoreError> {
    let mut total = 0;
    loop {
        let n = store
            .writer()
            .prepare_cached(sql)?
            .execute(params![site, cutoff_ms, CHUNK])?;
        total += n;
        if n == 0 {
            return Ok(total);
        }
    }
}
