//! Settled sessions: when a session's visitor enters the visitor sketches of its entry and
//! exit rows in `report_keys`, and where it is counted until then (`unsettled_sessions`,
//! migration 0021).
//!
//! A session's entry page can move (a late event) and its exit page moves with every page
//! view, and a sketch cannot take a visitor back. So a session counts its visitor in the
//! entry and exit sketches only once it is **settled**: no event arrived for it for the
//! session timeout, by the writer's clock (the latest `received` stamp of a commit, which
//! the collector's [`Clock`](crate::clock::Clock) sets). Until then it is a row of
//! `unsettled_sessions` (its site, day, visitor, entry and exit, and when it is due), which
//! the writer keeps up to date in the insert transaction, and the unfiltered entry and exit
//! breakdowns add the visitors of the range's unsettled sessions to the sketches they merge
//! ([`unsettled`]). That read is bounded by the sessions of the last half hour (plus any
//! backlog the writer has not settled yet), not by the range: the breakdown costs the
//! (day, key) rows it merges, like every other one.
//!
//! **Settling** ([`step`]) runs at each commit, before its sessions are written (so whether
//! a session settled depends on when its events arrived, not on when commits happened),
//! for at most [`STEP`] due sessions more than the commit writes (so the work of a commit
//! stays in proportion to its own, and settling keeps up with any rate of new sessions, a
//! bulk load's included), oldest first: each adds its visitor to its entry and exit
//! sketches (merged in [`Rollups`], one write per row) and leaves the table, in the same
//! transaction as the events that made it due, so a crash leaves a session either settled
//! with its sketches written or unsettled without them. [`SqliteStore::settle`] does the same without
//! events (the writer's clock given), for an idle store and the tests.
//!
//! **After settling**, an event that still joins the session (its client time within the
//! timeout of the session's, but arriving more than the timeout after the last one: a
//! beacon flushed late) moves the session's counters as always, but its visitor stays
//! under the entry and exit it had when it settled: the session is not unsettled again.
//! The visitor is thus counted once per dimension, never under both the old and the new
//! page; the new page's row counts the session without its visitor. A rebuild of the
//! reports (`backfill`) makes every session unsettled again, with its current pages, and
//! settles those due by the latest arrival stored ([`settle_all`]).
//!
//! **Why not a sketch that can forget** (per row, a count of sessions per HyperLogLog
//! register and rank, so a session can be taken back exactly): every page view moves a
//! session's exit, and each move would read and rewrite two such rows on the write path,
//! thousands of (register, rank) counts on a busy page's row (tens of kilobytes at 100,000
//! visitors a day, against the 2 KB sketches the issue already names as the write path's
//! cost). Settling writes each session's visitor once, into sketches of the usual size, and
//! leaves the writer one small row per active session.

use rusqlite::{Connection, Transaction, params};

use super::rollup::{Flush, Rollups};
use crate::store::StoreError;
use crate::store::sqlite::SqliteStore;

/// Most sessions settled by one commit beyond the sessions it wrote: a commit's cost stays
/// bounded when a backlog is due (an upgraded file's sessions, a collector that was idle).
pub(in crate::store::sqlite) const STEP: usize = 256;

/// Every session unsettled again, due half an hour after its last event (as migration
/// 0021 leaves an upgraded file): what a rebuild of the reports does once the sketches
/// are gone.
pub(in crate::store::sqlite) const RESET: &str = "DELETE FROM unsettled_sessions;
    INSERT INTO unsettled_sessions (session, site, day, visitor, entry, exit, due)
        SELECT r.id, v.site, v.start_ts / 86400000, v.visitor, v.entry_path,
            coalesce(v.last_page, v.exit_path), v.last_ts + 1800000
        FROM sessions v JOIN session_rows r ON r.rowid = v.rowid
        WHERE v.entry_path IS NOT NULL AND coalesce(v.last_page, v.exit_path) IS NOT NULL;";

/// A session as the writer leaves it in a commit.
pub(in crate::store::sqlite) struct Touched<'a> {
    /// `session_rows.id`.
    pub id: &'a [u8],
    pub site: &'a str,
    /// The day its rollups count in (its start's UTC day).
    pub day: i64,
    pub visitor: &'a str,
    pub entry: &'a str,
    pub exit: &'a str,
    /// Started by this commit (otherwise it was stored before, settled or not).
    pub new: bool,
}

/// Records `s`, due to settle at `due` (Unix ms): a new session is inserted, an unsettled
/// one follows its pages, a settled one stays settled (see the module docs).
pub(in crate::store::sqlite) fn touched(
    tx: &Transaction<'_>,
    s: &Touched<'_>,
    due: i64,
) -> Result<(), StoreError> {
    if s.new {
        tx.prepare_cached(
            "INSERT INTO unsettled_sessions (session, site, day, visitor, entry, exit, due)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (session) DO UPDATE SET day = excluded.day, entry = excluded.entry,
                 exit = excluded.exit, due = excluded.due",
        )?
        .execute(params![
            s.id, s.site, s.day, s.visitor, s.entry, s.exit, due
        ])?;
    } else {
        tx.prepare_cached(
            "UPDATE unsettled_sessions SET day = ?2, entry = ?3, exit = ?4, due = ?5
             WHERE session = ?1",
        )?
        .execute(params![s.id, s.day, s.entry, s.exit, due])?;
    }
    Ok(())
}

/// Settles at most `limit` sessions due at `now` (Unix ms, the writer's clock), oldest
/// first: their visitors go into `rollups`' entry and exit sketches and their rows leave
/// the table. Returns how many settled.
pub(in crate::store::sqlite) fn step(
    tx: &Transaction<'_>,
    now: i64,
    limit: usize,
    rollups: &mut Rollups,
) -> Result<usize, StoreError> {
    let due: Vec<(rusqlite::types::Value, String, i64, String, String, String)> = tx
        .prepare_cached(
            "SELECT session, site, day, visitor, entry, exit FROM unsettled_sessions
             WHERE due <= ?1 ORDER BY due LIMIT ?2",
        )?
        .query_map(
            params![now, i64::try_from(limit).unwrap_or(i64::MAX)],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )?
        .collect::<Result<_, _>>()?;
    let mut delete = tx.prepare_cached("DELETE FROM unsettled_sessions WHERE session = ?1")?;
    for (id, site, day, visitor, entry, exit) in &due {
        rollups.settled(site, *day, visitor, entry, exit);
        delete.execute([id])?;
    }
    Ok(due.len())
}

/// Settles, in `tx`, every session due by the latest arrival stored (all but the last
/// half hour's): what an upgrade to v21 and a rebuild of the reports do once every
/// session is unsettled ([`RESET`]), so their entry and exit breakdowns read the sketches
/// from the start instead of the whole backlog until commits have settled it.
pub(in crate::store::sqlite) fn settle_stored(
    tx: &Transaction<'_>,
    chunk: usize,
) -> Result<usize, StoreError> {
    let latest: Option<i64> = tx.query_row("SELECT max(received) FROM events", [], |r| r.get(0))?;
    match latest {
        Some(now) => settle_all(tx, now, chunk),
        None => Ok(0),
    }
}

/// Settles every session due at `now`, `chunk` at a time, in `tx` (the backfill's
/// transaction: a rebuild leaves only the last half hour's sessions unsettled).
pub(in crate::store::sqlite) fn settle_all(
    tx: &Transaction<'_>,
    now: i64,
    chunk: usize,
) -> Result<usize, StoreError> {
    let mut total = 0;
    loop {
        let mut rollups = Rollups::default();
        let n = step(tx, now, chunk, &mut rollups)?;
        rollups.flush(tx)?;
        total += n;
        if n < chunk {
            return Ok(total);
        }
    }
}

/// The (entry or, if `exit`, exit page, visitor) of each unsettled session of `site`
/// counted in days `first..=last`, through `unsettled_site_day`.
pub(in crate::store::sqlite) fn unsettled(
    conn: &Connection,
    site: &str,
    first: i64,
    last: i64,
    exit: bool,
) -> Result<Vec<(String, String)>, StoreError> {
    let sql = if exit {
        "SELECT exit, visitor FROM unsettled_sessions
         WHERE site = ?1 AND day >= ?2 AND day <= ?3"
    } else {
        "SELECT entry, visitor FROM unsettled_sessions
         WHERE site = ?1 AND day >= ?2 AND day <= ?3"
    };
    let rows = conn
        .prepare_cached(sql)?
        .query_map(params![site, first, last], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

impl SqliteStore {
    /// Settles the sessions due at `now_ms` (the writer's clock), [`STEP`] per
    /// transaction until none is due: what each commit does (see the module docs), for a
    /// store that receives no events. Returns how many settled.
    pub fn settle(&self, now_ms: i64) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let mut conn = self.writer();
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut rollups = Rollups::default();
            let n = step(&tx, now_ms, STEP, &mut rollups)?;
            rollups.flush(&tx)?;
            tx.commit()?;
            total += n;
            if n < STEP {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::reports::range::{DAY_MS, HOUR_MS, Range};
    use crate::reports::{Dimension, ReportQuery};
    use crate::store::sqlite::tests::event;

    const D: i64 = 20_601;
    const T: i64 = D * DAY_MS + 10 * HOUR_MS;
    const S: i64 = 1000;
    const MIN: i64 = 60 * S;

    /// A page view of `path` by `visitor` at `ts`, received (the writer's clock) at
    /// `received`.
    fn pv(id: u128, visitor: &str, ts: i64, path: &str, received: i64) -> Event {
        let mut e = event(id, visitor, "s");
        e.client.ts = ts;
        e.client.path = path.to_string();
        e.client.hostname = "example.com".into();
        e.received = received;
        e
    }

    fn query(from: i64, to: i64) -> ReportQuery {
        ReportQuery::new("demo", Range { from, to })
    }

    /// (key, visitors, sessions) of the entry or exit breakdown by key, from the rollups
    /// and exactly (from the sessions).
    type Line = (String, u64, u64);

    fn lines(
        store: &SqliteStore,
        q: &ReportQuery,
        d: Dimension,
    ) -> Result<[Vec<Line>; 2], StoreError> {
        let of = |s: &SqliteStore| -> Result<Vec<Line>, StoreError> {
            let mut lines: Vec<Line> = s
                .breakdown(q, &d)?
                .into_iter()
                .map(|r| (r.key, r.visitors, r.sessions))
                .collect();
            lines.sort();
            Ok(lines)
        };
        Ok([of(store)?, of(&store.without_rollups())?])
    }

    fn line(key: &str, visitors: u64, sessions: u64) -> Line {
        (key.to_string(), visitors, sessions)
    }

    fn unsettled_visitors(store: &SqliteStore) -> Result<Vec<String>, StoreError> {
        let conn = store.reader();
        let rows = conn
            .prepare("SELECT visitor FROM unsettled_sessions ORDER BY visitor")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The visitors sketched in an entry or exit row (exact while few).
    fn sketched(store: &SqliteStore, dim: &str, key: &str) -> Result<u64, StoreError> {
        let conn = store.reader();
        let bytes: Option<Vec<u8>> = conn.query_row(
            "SELECT visitors FROM report_keys WHERE site = 'demo' AND dim = ?1 AND key = ?2",
            params![dim, key],
            |r| r.get(0),
        )?;
        Ok(bytes.map_or(0, |b| crate::reports::hll::Hll::from_bytes(&b).estimate()))
    }

    /// a views `/x` then `/y` (its exit moves), b views `/x`; a timeout after a's last
    /// arrival, a commit (c's page view) settles both: a's visitor is sketched under exit
    /// `/y` only, b's under `/x`, and the breakdowns do not change. Then a page view of a's
    /// session that arrives two hours late moves its exit to `/z`: the session's counters
    /// follow, its visitor stays where it settled (`/y`, a row with no session left, so not
    /// shown), and is counted nowhere twice.
    #[test]
    fn sessions_settle_a_timeout_after_their_last_arrival() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        store.insert_events(&[pv(1, "a", T, "/x", T), pv(2, "b", T, "/x", T)])?;
        store.insert_events(&[pv(3, "a", T + MIN, "/y", T + MIN)])?;
        let q = query(D, D);
        let exits = [line("/x", 1, 1), line("/y", 1, 1)];
        assert_eq!(
            lines(&store, &q, Dimension::Exit)?,
            [exits.clone(), exits.clone()]
        );
        assert_eq!(unsettled_visitors(&store)?, ["a", "b"]);
        assert_eq!(sketched(&store, "exit", "/x")?, 0, "nothing settled yet");

        // b is due at T + 30 min, a at T + 31 min: c's event at T + 30 min settles b only.
        store.insert_events(&[pv(4, "c", T + 30 * MIN, "/c", T + 30 * MIN)])?;
        assert_eq!(unsettled_visitors(&store)?, ["a", "c"]);
        store.insert_events(&[pv(5, "c", T + 31 * MIN, "/c", T + 31 * MIN)])?;
        assert_eq!(unsettled_visitors(&store)?, ["c"]);
        assert_eq!(
            sketched(&store, "exit", "/x")?,
            1,
            "b only: a moved on before"
        );
        assert_eq!(sketched(&store, "exit", "/y")?, 1);
        assert_eq!(sketched(&store, "entry", "/x")?, 2);
        let exits = [line("/c", 1, 1), line("/x", 1, 1), line("/y", 1, 1)];
        assert_eq!(
            lines(&store, &q, Dimension::Exit)?,
            [exits.clone(), exits.clone()]
        );

        // A page view of a's settled session (client time T + 90 s), received at T + 2 h.
        store.insert_events(&[pv(6, "a", T + 90 * S, "/z", T + 2 * HOUR_MS)])?;
        assert_eq!(
            unsettled_visitors(&store)?,
            Vec::<String>::new(),
            "not unsettled again"
        );
        let [rollups, exact] = lines(&store, &q, Dimension::Exit)?;
        assert_eq!(
            rollups,
            [line("/c", 1, 1), line("/x", 1, 1), line("/z", 0, 1)]
        );
        assert_eq!(
            exact,
            [line("/c", 1, 1), line("/x", 1, 1), line("/z", 1, 1)]
        );
        assert_eq!(
            sketched(&store, "exit", "/y")?,
            1,
            "a stays where it settled"
        );
        Ok(())
    }

    /// A session is due a timeout after its own latest arrival, not the commit's: a's
    /// page view and c's, 20 minutes later, arrive in one batch; a settles 30 minutes
    /// after its own.
    #[test]
    fn a_session_is_due_a_timeout_after_its_own_last_arrival() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        store.insert_events(&[pv(1, "a", T, "/x", T), pv(2, "c", T, "/c", T + 20 * MIN)])?;
        store.insert_events(&[pv(3, "d", T + 30 * MIN, "/d", T + 30 * MIN)])?;
        assert_eq!(unsettled_visitors(&store)?, ["c", "d"]);
        assert_eq!(sketched(&store, "exit", "/x")?, 1);
        Ok(())
    }

    /// A commit that fails after settling (here its flow row is refused) settles nothing:
    /// the session stays unsettled and no sketch holds its visitor; the retry settles it
    /// with its sketches. What a crash before the commit leaves is the same rollback.
    #[test]
    fn a_failed_commit_settles_nothing() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        store.insert_events(&[pv(1, "a", T, "/x", T)])?;
        store.writer().execute_batch(
            "CREATE TEMP TRIGGER refuse BEFORE INSERT ON report_flows
             BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        )?;
        let later = pv(2, "b", T + HOUR_MS, "/b", T + HOUR_MS);
        assert!(store.insert_events(std::slice::from_ref(&later)).is_err());
        assert_eq!(unsettled_visitors(&store)?, ["a"]);
        assert_eq!(sketched(&store, "exit", "/x")?, 0);
        store.writer().execute_batch("DROP TRIGGER refuse;")?;
        store.insert_events(&[later])?;
        assert_eq!(unsettled_visitors(&store)?, ["b"]);
        assert_eq!(sketched(&store, "exit", "/x")?, 1);
        Ok(())
    }

    /// A backlog larger than [`STEP`] (every session of a rebuilt store is due) settles
    /// [`STEP`] sessions per commit more than the commit wrote, each commit in full: the
    /// answers never change.
    #[test]
    fn a_commit_settles_at_most_a_step() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let n = STEP + 44;
        let events: Vec<Event> = (0..n)
            .map(|i| {
                let v = format!("v{i}");
                pv(
                    i as u128 + 1,
                    &v,
                    T,
                    if i % 2 == 0 { "/a" } else { "/b" },
                    T,
                )
            })
            .collect();
        store.insert_events(&events)?;
        assert_eq!(unsettled_visitors(&store)?.len(), n);
        let q = query(D, D);
        let before = lines(&store, &q, Dimension::Entry)?;
        let next = |id: u128, at: i64| pv(1_000 + id, "late", at, "/late", at);
        store.insert_events(&[next(1, T + HOUR_MS)])?;
        // One session written (late's), so STEP + 1 settle; late's own is not due.
        assert_eq!(unsettled_visitors(&store)?.len(), n - (STEP + 1) + 1);
        let mut now = lines(&store, &q, Dimension::Entry)?;
        now[0].retain(|(k, ..)| k != "/late");
        now[1].retain(|(k, ..)| k != "/late");
        assert_eq!(now, before);
        store.insert_events(&[next(2, T + HOUR_MS + S)])?;
        assert_eq!(unsettled_visitors(&store)?, ["late"]);
        assert_eq!(sketched(&store, "entry", "/a")?, (n as u64).div_ceil(2));
        Ok(())
    }

    /// `sessions` settled sessions a day on each of 7 days over 4 pages, and 3 sessions
    /// of the last half hour, each received as it happened.
    fn history(sessions: usize) -> Result<SqliteStore, StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let pages = ["/", "/a", "/b", "/c"];
        let mut id = 0u128;
        for day in 0..7 {
            let start = (D - 6 + day) * DAY_MS;
            let events: Vec<Event> = (0..sessions)
                .flat_map(|i| {
                    let ts = start + (i as i64 * 20 * HOUR_MS) / sessions as i64;
                    let v = format!("v{}", i % (sessions / 2).max(1));
                    [0, 1].map(|k| {
                        id += 1;
                        let path = pages[(i + k) % pages.len()];
                        pv(id, &v, ts + k as i64 * MIN, path, ts + k as i64 * MIN)
                    })
                })
                .collect();
            for chunk in events.chunks(200) {
                store.insert_events(chunk)?;
            }
        }
        let end = D * DAY_MS + 22 * HOUR_MS;
        let fresh: Vec<Event> = (0..3)
            .map(|i| pv(1_000_000 + i, &format!("fresh{i}"), end, "/", end))
            .collect();
        store.insert_events(&fresh)?;
        Ok(store)
    }

    /// The unfiltered entry and exit breakdowns of a week read as many rows for ten times
    /// the sessions: the (day, key) rows of `report_keys` and the sessions not settled
    /// yet, each through an index.
    #[test]
    fn entry_and_exit_rows_read_do_not_grow_with_the_sessions() -> Result<(), StoreError> {
        let q = query(D - 6, D);
        let mut read = Vec::new();
        for sessions in [40, 400] {
            let store = history(sessions)?;
            let conn = store.reader();
            let (exit, exit_read) = super::super::fast::pages(&conn, &q, true)?;
            let (_, entry_read) = super::super::fast::pages(&conn, &q, false)?;
            let total: u64 = exit.iter().map(|r| r.sessions).sum();
            assert_eq!(total, 7 * sessions as u64 + 3);
            read.push((exit_read, entry_read));
            let plan = |sql: &str| -> Result<String, StoreError> {
                let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                let rows: Vec<String> = stmt
                    .query_map(params!["demo", D - 6, D], |r| r.get(3))?
                    .collect::<Result<_, _>>()?;
                Ok(rows.join("; "))
            };
            let unsettled = plan(
                "SELECT exit, visitor FROM unsettled_sessions
                 WHERE site = ?1 AND day >= ?2 AND day <= ?3",
            )?;
            assert!(
                unsettled.contains("USING INDEX unsettled_site_day"),
                "{unsettled}"
            );
            let keys = plan(
                "SELECT key, pageviews, events, sessions, visitors FROM report_keys
                 WHERE site = ?1 AND dim = 'exit' AND day >= ?2 AND day <= ?3",
            )?;
            assert!(
                keys.starts_with("SEARCH report_keys USING PRIMARY KEY"),
                "{keys}"
            );
        }
        // 7 days × 4 pages, and the 3 fresh sessions.
        assert_eq!(read, [(7 * 4 + 3, 7 * 4 + 3), (7 * 4 + 3, 7 * 4 + 3)]);
        Ok(())
    }

    /// A rebuild makes every session unsettled again and settles those due by the latest
    /// arrival (all but the 3 fresh ones); settled, the rows are the insert path's,
    /// sketches included.
    #[test]
    fn a_rebuild_settles_into_the_same_rows() -> Result<(), StoreError> {
        let store = history(40)?;
        store.settle(D * DAY_MS + 23 * HOUR_MS)?;
        let rows = |store: &SqliteStore| -> Result<Vec<String>, StoreError> {
            let conn = store.reader();
            let rows = conn
                .prepare(
                    "SELECT dim || ' ' || day || ' ' || key || ' ' || sessions || ' '
                         || coalesce(hex(visitors), '')
                     FROM report_keys WHERE dim IN ('entry', 'exit') ORDER BY 1",
                )?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        };
        let before = rows(&store)?;
        assert!(unsettled_visitors(&store)?.is_empty());
        store.rebuild_reports()?;
        assert_eq!(unsettled_visitors(&store)?, ["fresh0", "fresh1", "fresh2"]);
        assert_eq!(store.settle(D * DAY_MS + 23 * HOUR_MS)?, 3);
        assert_eq!(rows(&store)?, before);
        Ok(())
    }

    /// A v20 file of `batches`, its exit lines of day `D` before the upgrade, and the file
    /// upgraded to v21 by opening it again. `older` may change the v20 file first (as an
    /// older collector left it).
    fn upgraded_from_v20(
        batches: &[&[Event]],
        older: impl FnOnce(&SqliteStore) -> Result<(), StoreError>,
    ) -> Result<(tempfile::TempDir, SqliteStore, [Vec<Line>; 2]), StoreError> {
        let dir = tempfile::tempdir().map_err(|source| StoreError::Io {
            path: "tmp".into(),
            source,
        })?;
        let path = dir.path().join("v20.db");
        let before = {
            let store = SqliteStore::open(&path)?;
            for batch in batches {
                store.insert_events(batch)?;
            }
            let before = lines(&store, &query(D, D), Dimension::Exit)?;
            older(&store)?;
            store.writer().execute_batch(
                "DROP TRIGGER session_rows_unsettled; DROP TABLE unsettled_sessions;
                 PRAGMA user_version = 20;",
            )?;
            before
        };
        let store = SqliteStore::open(&path)?;
        Ok((dir, store, before))
    }

    /// A v20 file gains every session as unsettled, due half an hour after its last event,
    /// and loses its entry and exit sketches (an older collector's overcounted): the
    /// answers stay, and once settled they come from the new sketches.
    #[test]
    fn version_21_carries_every_session_over_unsettled() -> Result<(), StoreError> {
        let (_dir, store, before) = upgraded_from_v20(
            &[
                &[pv(1, "a", T, "/x", T), pv(2, "b", T, "/x", T)],
                &[pv(3, "a", T + MIN, "/y", T + MIN)],
            ],
            |store| {
                // A sketch as an older collector left it: a under `/x`, which it moved on
                // from.
                let mut stale = crate::reports::hll::Hll::new();
                stale.add("a");
                stale.add("b");
                store.writer().execute(
                    "UPDATE report_keys SET visitors = ?1 WHERE dim = 'exit' AND key = '/x'",
                    [stale.to_bytes()],
                )?;
                Ok(())
            },
        )?;
        let q = query(D, D);
        let due: Vec<(String, String, i64)> = store
            .reader()
            .prepare("SELECT visitor, exit, due FROM unsettled_sessions ORDER BY visitor")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        assert_eq!(
            due,
            [
                ("a".to_string(), "/y".to_string(), T + 31 * MIN),
                ("b".to_string(), "/x".to_string(), T + 30 * MIN)
            ]
        );
        assert_eq!(lines(&store, &q, Dimension::Exit)?, before);
        assert_eq!(store.settle(T + 31 * MIN)?, 2);
        assert_eq!(sketched(&store, "exit", "/y")?, 1);
        assert_eq!(
            sketched(&store, "exit", "/x")?,
            1,
            "b only: the stale sketch went"
        );
        assert_eq!(lines(&store, &q, Dimension::Exit)?, before);
        Ok(())
    }

    /// The upgrade to v21 settles, in its transaction, every session due by the latest
    /// arrival stored, so an upgraded file's entry and exit breakdowns read the sketches
    /// from its first start: here a and b (due half an hour after T + 1 min and T) by c's
    /// arrival two hours later; c, the last half hour's, stays unsettled.
    #[test]
    fn version_21_settles_what_is_due_by_the_latest_arrival() -> Result<(), StoreError> {
        let (_dir, store, before) = upgraded_from_v20(
            &[
                &[pv(1, "a", T, "/x", T), pv(2, "b", T, "/x", T)],
                &[pv(3, "a", T + MIN, "/y", T + MIN)],
                &[pv(4, "c", T + 120 * MIN, "/z", T + 120 * MIN)],
            ],
            |store| {
                store.writer().execute_batch(
                    "UPDATE report_keys SET visitors = NULL WHERE dim IN ('entry', 'exit')",
                )?;
                Ok(())
            },
        )?;
        assert_eq!(unsettled_visitors(&store)?, ["c"]);
        assert_eq!(sketched(&store, "exit", "/y")?, 1);
        assert_eq!(sketched(&store, "exit", "/x")?, 1);
        assert_eq!(lines(&store, &query(D, D), Dimension::Exit)?, before);
        Ok(())
    }

    /// An erased visitor leaves no unsettled session (its id is personal data).
    #[test]
    fn an_erased_visitor_leaves_no_unsettled_session() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        store.insert_events(&[pv(1, "a", T, "/x", T), pv(2, "b", T, "/x", T)])?;
        store
            .writer()
            .execute("DELETE FROM sessions WHERE visitor = 'a'", [])?;
        assert_eq!(unsettled_visitors(&store)?, ["b"]);
        Ok(())
    }
}
