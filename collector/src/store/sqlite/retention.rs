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

#[cfg(test)]
mod tests {
    use crate::event::{Event, IdentityEffects};
    use crate::identity::graph::{LinkKind, Mode};
    use crate::identity::resolver::NewLink;
    use crate::store::sqlite::SqliteStore;
    use crate::store::sqlite::tests::event;
    use crate::store::{Store, StoreError};

    const DAY_MS: i64 = 86_400_000;

    fn at(id: u128, site: &str, visitor: &str, ts: i64) -> Event {
        let mut e = event(id, visitor, visitor);
        e.site = site.into();
        e.client.ts = ts;
        e.received = ts;
        e
    }

    #[test]
    fn old_events_sessions_and_links_go_in_chunks_on_every_site() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let t0 = 1_780_000_000_000;
        // More old events than one chunk, so the purge has to loop.
        let old: Vec<Event> = (0..super::CHUNK as u128 + 1_000)
            .map(|i| at(i, "demo", "v-old", t0))
            .collect();
        store.insert_events(&old)?;
        let mut login = at(100_000, "demo", "v-old", t0);
        login.identity = IdentityEffects {
            links: vec![NewLink {
                a: "v-old".into(),
                b: "user:u".into(),
                kind: LinkKind::Login,
                confidence: 1.0,
            }],
            ..IdentityEffects::default()
        };
        store.insert_events(&[
            login,
            at(100_001, "other", "v-x", t0),
            at(100_002, "demo", "v-new", t0 + 40 * DAY_MS),
        ])?;

        let purged = store.purge_before(t0 + DAY_MS)?;
        assert_eq!(purged.events, old.len() + 2);
        assert_eq!((purged.sessions, purged.links), (2, 1));
        let demo = store.summary("demo", Mode::Inclusive)?;
        assert_eq!((demo.events, demo.sessions, demo.visitors), (1, 1, 1));
        assert_eq!(store.summary("other", Mode::Inclusive)?.events, 0);
        assert_eq!(store.purge_before(t0 + DAY_MS)?, Default::default());
        Ok(())
    }
}
