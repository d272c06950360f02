//! The SQL of [`Maintenance::purge_before`](crate::store::Maintenance::purge_before): old events,
//! sessions, links, report rollups and failed events deleted in chunks, each chunk its own
//! short transaction (and its own turn at the writer connection), so the ingest writer is
//! never held up for long. When links go, the persons of their ends are recomputed in the
//! same transaction (`visitor_persons`).

use rusqlite::params;

use super::SqliteStore;
use crate::maintenance::retention::Purged;
use crate::store::StoreError;

/// Rows deleted per transaction.
const CHUNK: i64 = 5_000;

/// The report rollups' rows of hours and days wholly before the cutoff (`?2`, Unix ms),
/// a chunk (`?3`) of a site (`?1`) at a time.
const ROLLUPS: [&str; 3] = [
    "DELETE FROM report_hours WHERE rowid IN
         (SELECT rowid FROM report_hours WHERE site = ?1 AND hour < ?2 / 3600000 LIMIT ?3)",
    // WITHOUT ROWID (migration 0015): the rows by their key.
    "DELETE FROM report_keys WHERE (site, dim, day, key) IN
         (SELECT site, dim, day, key FROM report_keys
          WHERE site = ?1 AND day < ?2 / 86400000 LIMIT ?3)",
    "DELETE FROM report_flows WHERE (site, day, key) IN
         (SELECT site, day, key FROM report_flows
          WHERE site = ?1 AND day < ?2 / 86400000 LIMIT ?3)",
];

/// Deletes events with client time before `cutoff_ms` (site by site, through the
/// `(site, ts)` index), sessions whose last event is before it, and links recorded
/// before it.
pub(super) fn purge_before(store: &SqliteStore, cutoff_ms: i64) -> Result<Purged, StoreError> {
    let sites: Vec<String> = {
        let conn = store.reader();
        let mut stmt = conn.prepare(
            "SELECT value FROM strings WHERE id IN (SELECT DISTINCT site FROM session_rows)",
        )?;
        let mut sites: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for sql in [
            "SELECT value FROM strings WHERE id IN (SELECT DISTINCT site FROM event_rows)",
            "SELECT DISTINCT site FROM failed_events",
        ] {
            let mut stmt = conn.prepare(sql)?;
            for site in stmt.query_map([], |r| r.get::<_, String>(0))? {
                sites.push(site?);
            }
        }
        sites.sort();
        sites.dedup();
        sites
    };
    let mut purged = Purged::default();
    for site in &sites {
        purged.events += drain(
            store,
            "DELETE FROM event_rows WHERE rowid IN
                 (SELECT rowid FROM event_rows
                  WHERE site = (SELECT id FROM strings WHERE value = ?1) AND ts < ?2 LIMIT ?3)",
            site,
            cutoff_ms,
        )?;
        purged.sessions += drain(
            store,
            "DELETE FROM session_rows WHERE rowid IN
                 (SELECT rowid FROM session_rows
                  WHERE site = (SELECT id FROM strings WHERE value = ?1) AND last_ts < ?2
                  LIMIT ?3)",
            site,
            cutoff_ms,
        )?;
        purged.links += purge_links(store, site, cutoff_ms)?;
        for rollup in ROLLUPS {
            purged.rollups += drain(store, rollup, site, cutoff_ms)?;
        }
        purged.failed_events += drain(
            store,
            "DELETE FROM failed_events WHERE id IN
                 (SELECT id FROM failed_events WHERE site = ?1 AND received_ms < ?2 LIMIT ?3)",
            site,
            cutoff_ms,
        )?;
    }
    // The strings only the purged events held; the writer's cached ids may name them.
    let conn = store.writer();
    super::dict::sweep(&conn)?;
    store.dict().forget();
    Ok(purged)
}

/// Deletes the links of `site` recorded before `cutoff_ms`, a chunk per transaction, and
/// recomputes the persons of their ends.
fn purge_links(store: &SqliteStore, site: &str, cutoff_ms: i64) -> Result<usize, StoreError> {
    let mut total = 0;
    loop {
        let mut conn = store.writer();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let old: Vec<(i64, String, String)> = tx
            .prepare_cached("SELECT id, a, b FROM links WHERE site = ?1 AND at_ms < ?2 LIMIT ?3")?
            .query_map(params![site, cutoff_ms, CHUNK], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<_, _>>()?;
        if old.is_empty() {
            return Ok(total);
        }
        let mut delete = tx.prepare_cached("DELETE FROM links WHERE id = ?1")?;
        for (id, _, _) in &old {
            delete.execute([id])?;
        }
        drop(delete);
        let ends: std::collections::BTreeSet<&str> = old
            .iter()
            .flat_map(|(_, a, b)| [a.as_str(), b.as_str()])
            .collect();
        super::reports::persons::relink(&tx, site, &ends.into_iter().collect::<Vec<_>>())?;
        tx.commit()?;
        total += old.len();
    }
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
    use crate::store::StoreError;
    use crate::store::sqlite::SqliteStore;
    use crate::store::sqlite::tests::event;

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
        // v-old and v-two log in as one user: one person of two visitors.
        let login = |id: u128, visitor: &str| {
            let mut e = at(id, "demo", visitor, t0);
            e.identity = IdentityEffects {
                links: vec![NewLink {
                    a: visitor.into(),
                    b: "user:u".into(),
                    kind: LinkKind::Login,
                    confidence: 1.0,
                    verified: false,
                }],
                ..IdentityEffects::default()
            };
            e
        };
        store.insert_events(&[
            login(100_000, "v-old"),
            login(100_003, "v-two"),
            at(100_001, "other", "v-x", t0),
            at(100_002, "demo", "v-new", t0 + 40 * DAY_MS),
        ])?;

        store.insert_failed(
            &[crate::store::FailedEvent {
                received_ms: t0,
                site: "demo".into(),
                reason_code: "invalid_event".into(),
                reason: "events[0].type: unknown".into(),
                raw: "{}".into(),
            }],
            10,
        )?;
        let mapped = |store: &SqliteStore| -> Result<i64, StoreError> {
            Ok(store.reader().query_row(
                "SELECT COUNT(*) FROM visitor_persons WHERE visitor = 'v-old'",
                [],
                |r| r.get(0),
            )?)
        };
        assert_eq!(
            mapped(&store)?,
            2,
            "v-old is a person with v-two in both readings"
        );

        let purged = store.purge_before(t0 + DAY_MS)?;
        assert_eq!(purged.events, old.len() + 3);
        assert_eq!((purged.sessions, purged.links), (3, 2));
        assert_eq!(
            mapped(&store)?,
            0,
            "the purged link's persons are recomputed"
        );
        assert_eq!(purged.failed_events, 1);
        assert!(
            purged.rollups > 0,
            "the old hours and days of the rollups go"
        );
        let rollup_days: i64 = store.reader().query_row(
            "SELECT COUNT(DISTINCT day) FROM report_keys WHERE site = 'demo'",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(rollup_days, 1, "only v-new's day is left");
        let flow_days: i64 = store.reader().query_row(
            "SELECT COUNT(DISTINCT day) FROM report_flows WHERE site = 'demo'",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(flow_days, 1, "flows of the old days go too");
        let demo = store.summary("demo", Mode::Inclusive)?;
        assert_eq!((demo.events, demo.sessions, demo.visitors), (1, 1, 1));
        assert_eq!(store.summary("other", Mode::Inclusive)?.events, 0);
        assert_eq!(store.purge_before(t0 + DAY_MS)?, Default::default());
        Ok(())
    }

    #[test]
    fn the_strings_only_purged_events_held_go_with_them() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let t0 = 1_780_000_000_000;
        let mut old = at(1, "demo", "v-old", t0);
        old.client.path = "/only-old".into();
        store.insert_events(&[old, at(2, "demo", "v-new", t0 + 40 * DAY_MS)])?;
        store.purge_before(t0 + DAY_MS)?;
        let left: Vec<String> = store
            .reader()
            .prepare("SELECT value FROM strings WHERE value IN ('/only-old', 'v-old', '/a')")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        assert_eq!(left, ["/a"], "v-new's page stays");
        // The writer's cache was dropped with them: a new event of v-old is stored whole.
        store.insert_events(&[at(3, "demo", "v-old", t0 + 41 * DAY_MS)])?;
        let visitors: i64 =
            store
                .reader()
                .query_row("SELECT count(DISTINCT visitor) FROM events", [], |r| {
                    r.get(0)
                })?;
        assert_eq!(visitors, 2);
        Ok(())
    }
}
