//! Schema versions: numbered files in `collector/migrations/sqlite/`, applied in order,
//! each in its own transaction, with the schema's version kept in `PRAGMA user_version`;
//! a file written before the reports (below v5) gets v5 onwards in one transaction with
//! the [`backfill`](super::backfill) of its report data.
//! Migrations add (tables, nullable columns, indexes), so a newer collector opens an
//! older file and keeps every row; one rebuilds: v13 moves the events into
//! the compact `event_rows` (strings in a dictionary) and leaves a view named `events` that
//! decodes them, copying every row, because re-encoding in place is not something SQLite's
//! `ALTER TABLE` can do and the old row layout was most of the bytes each event cost.

use rusqlite::Connection;

use crate::store::StoreError;

/// Migrations in order; the n-th one brings the schema to `user_version` n.
pub(super) const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/sqlite/0001_events.sql"),
    include_str!("../../../migrations/sqlite/0002_event_details.sql"),
    include_str!("../../../migrations/sqlite/0003_sessions.sql"),
    include_str!("../../../migrations/sqlite/0004_identity.sql"),
    include_str!("../../../migrations/sqlite/0005_reports.sql"),
    include_str!("../../../migrations/sqlite/0006_failed_events.sql"),
    include_str!("../../../migrations/sqlite/0007_flows.sql"),
    include_str!("../../../migrations/sqlite/0008_erasure_indexes.sql"),
    include_str!("../../../migrations/sqlite/0009_cookie_ids.sql"),
    include_str!("../../../migrations/sqlite/0010_verified_links.sql"),
    include_str!("../../../migrations/sqlite/0011_fallback.sql"),
    include_str!("../../../migrations/sqlite/0012_person_stretches.sql"),
    include_str!("../../../migrations/sqlite/0013_compact_events.sql"),
    include_str!("../../../migrations/sqlite/0014_compact_sessions.sql"),
    include_str!("../../../migrations/sqlite/0015_report_keys_without_rowid.sql"),
    include_str!("../../../migrations/sqlite/0016_uuid_ids.sql"),
    include_str!("../../../migrations/sqlite/0017_session_rowids.sql"),
    include_str!("../../../migrations/sqlite/0018_beacon_sessions.sql"),
    include_str!("../../../migrations/sqlite/0019_no_session_id_index.sql"),
    include_str!("../../../migrations/sqlite/0020_person_sets.sql"),
    include_str!("../../../migrations/sqlite/0021_unsettled_sessions.sql"),
];

/// The version whose migration keeps persons by union by size: a file upgraded to it
/// has its persons replayed from the links ([`backfill::persons_again`]).
///
/// [`backfill::persons_again`]: super::backfill::persons_again
const PERSON_SETS: i64 = 20;

/// The version whose migration keeps entry and exit visitors by settled sessions: a file
/// upgraded to it has its sessions settled up to its latest arrival in the same
/// transaction ([`settle_stored`](super::reports::settle::settle_stored)).
const SETTLED: i64 = 21;

/// Sessions settled per step of that upgrade.
const SETTLE_CHUNK: usize = 20_000;

/// A migration with the version it brings the schema to.
type Migration = (i64, &'static str);

/// The version whose migration added the reports' rollups and session facts.
const REPORTS: i64 = 5;

/// Applies the migrations `conn`'s schema has not had yet.
///
/// A file below [`REPORTS`] gets the migrations from [`REPORTS`] on in one transaction,
/// together with the [`backfill`](super::backfill) of its report data and its new
/// version: interrupted, it stays at its old version and is upgraded again next time.
pub(super) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let (alone, with_backfill): (Vec<Migration>, Vec<Migration>) = (1i64..)
        .zip(MIGRATIONS.iter().copied())
        .skip_while(|(i, _)| *i <= version)
        .partition(|(i, _)| version >= REPORTS || *i < REPORTS);
    for (i, sql) in alone {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        if i == PERSON_SETS {
            super::backfill::persons_again(&tx)?;
        }
        if i == SETTLED {
            super::reports::settle::settle_stored(&tx, SETTLE_CHUNK)?;
        }
        tx.pragma_update(None, "user_version", i)?;
        tx.commit()?;
        tracing::info!(version = i, "applied SQLite migration");
    }
    if let Some(&(last, _)) = with_backfill.last() {
        let tx = conn.unchecked_transaction()?;
        for (_, sql) in &with_backfill {
            tx.execute_batch(sql)?;
        }
        super::backfill::run(&tx)?;
        tx.pragma_update(None, "user_version", last)?;
        tx.commit()?;
        tracing::info!(version = last, "applied SQLite migrations");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    #[test]
    fn a_version_1_file_gains_the_detail_columns_and_sessions_and_keeps_its_rows()
    -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|source| StoreError::Io {
            path: "tmp".into(),
            source,
        })?;
        let path = dir.path().join("spoor.db");
        {
            let conn = Connection::open(&path)?;
            conn.execute_batch(MIGRATIONS[0])?;
            conn.pragma_update(None, "user_version", 1)?;
            conn.execute(
                "INSERT INTO events (id, site, kind, ts, received, visitor, evidence, url,
                     hostname, path)
                 VALUES ('old', 'demo', 'pageview', 1, 2, 'v', 'client-id', 'https://e/',
                     'e', '/')",
                [],
            )?;
        }
        let store = SqliteStore::open(&path)?;
        let conn = store.reader();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        assert_eq!(version, MIGRATIONS.len() as i64);
        let details: (Option<String>, Option<String>, Option<i64>) = conn.query_row(
            "SELECT screen, utm_source, visible_ms FROM events WHERE id = 'old'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        assert_eq!(details, (None, None, None));
        let session: Option<String> =
            conn.query_row("SELECT session_id FROM events WHERE id = 'old'", [], |r| {
                r.get(0)
            })?;
        assert_eq!(session, None, "old events belong to no server session");
        drop(conn);
        let summary = store.summary("demo", crate::identity::graph::Mode::Inclusive)?;
        assert_eq!((summary.pageviews, summary.sessions), (1, 0));
        Ok(())
    }

    #[test]
    fn version_7_moves_flows_out_of_report_keys() -> Result<(), StoreError> {
        let conn = Connection::open_in_memory()?;
        for sql in &MIGRATIONS[..6] {
            conn.execute_batch(sql)?;
        }
        conn.pragma_update(None, "user_version", 6)?;
        conn.execute_batch(
            "INSERT INTO report_keys (site, dim, day, key, sessions, visitors)
             VALUES ('demo', 'flow', 1, '/', 3, x'00'), ('demo', 'flow', 1, '/a', 0, NULL),
                    ('demo', 'page', 1, '/', 0, x'00')",
        )?;
        migrate(&conn)?;
        let flows: Vec<(String, i64)> = conn
            .prepare("SELECT key, sessions FROM report_flows")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        assert_eq!(flows, [("/".to_string(), 3)], "empty flows are not moved");
        let dims: Vec<String> = conn
            .prepare("SELECT dim FROM report_keys")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        assert_eq!(dims, ["page"]);
        Ok(())
    }

    /// Every column of `events`, in the v12 table's order.
    const EVENT_COLUMNS: &str = "id, site, kind, ts, received, visitor, evidence, client_id,
        session, url, hostname, path, referrer, title, screen, lang, tz, utm_source,
        utm_medium, utm_campaign, utm_term, utm_content, name, props, target, pageview_id,
        visible_ms, scroll, user_id, session_id, prev_path, fallback";

    fn all_events(conn: &Connection) -> Result<Vec<Vec<rusqlite::types::Value>>, StoreError> {
        let mut stmt = conn.prepare(&format!(
            "SELECT rowid, {EVENT_COLUMNS} FROM events ORDER BY rowid"
        ))?;
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| (0..n).map(|i| r.get(i)).collect())?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Applies the migrations after `conn`'s version up to `last` (not [`migrate`]'s all):
    /// for a test of one version whose rows a later version changes.
    fn migrate_until(conn: &Connection, last: usize) -> Result<(), StoreError> {
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        for (i, sql) in (1i64..).zip(MIGRATIONS.iter().take(last)) {
            if i > version {
                conn.execute_batch(sql)?;
                conn.pragma_update(None, "user_version", i)?;
            }
        }
        Ok(())
    }

    #[test]
    fn version_13_keeps_every_event_as_it_was_and_counts_its_strings() -> Result<(), StoreError> {
        let conn = Connection::open_in_memory()?;
        for sql in &MIGRATIONS[..12] {
            conn.execute_batch(sql)?;
        }
        conn.pragma_update(None, "user_version", 12)?;
        conn.execute_batch(&format!(
            "INSERT INTO events ({EVENT_COLUMNS}) VALUES
             ('00000000-0000-0000-0000-000000000001', 'demo', 'pageview', 10, 12, 'v1',
              'client-id', 'v1', 'b1', 'https://e.com/a', 'e.com', '/a', 'https://r.com/x',
              'A', '1x1', 'en', 'UTC', 'news', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
              NULL, NULL, NULL, 's1', NULL, NULL),
             ('old-text-id', 'demo', 'engagement', 20, 5, 'v2', 'server-cookie', 'c2',
              NULL, 'http://e.com/b', 'e.com', '/b', NULL, NULL, NULL, NULL, NULL, NULL,
              NULL, NULL, NULL, NULL, NULL, NULL, NULL,
              '00000000-0000-0000-0000-000000000001', 1500, 40, NULL, 's2', '/a', NULL),
             ('00000000-0000-0000-0000-00000000000a', 'demo', 'custom', 30, 31, 'fp_x',
              'fingerprint', NULL, NULL, 'https://e.com/c?q=1', 'e.com', '/c', NULL, NULL,
              NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'signup', '{{\"a\":1}}',
              NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'csp'),
             ('00000000-0000-0000-0000-00000000000b', 'other', 'identify', 40, 40, 'v1',
              'client-id', 'v1', NULL, 'https://e.com/a', 'e.com', '/a', NULL, NULL, NULL,
              NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
              'u1', NULL, NULL, NULL);"
        ))?;
        let before = all_events(&conn)?;
        migrate_until(&conn, 16)?;
        assert_eq!(all_events(&conn)?, before);
        let blobs: i64 = conn.query_row(
            "SELECT count(*) FROM event_rows WHERE typeof(id) = 'blob'",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(blobs, 3, "UUIDs as 16 bytes, the old text id as it was");
        let refs = |value: &str| -> Result<i64, StoreError> {
            Ok(
                conn.query_row("SELECT refs FROM strings WHERE value = ?1", [value], |r| {
                    r.get(0)
                })?,
            )
        };
        // v1: two visitors; its own client ids are stored as 0. /a: two paths, one
        // previous path.
        assert_eq!((refs("v1")?, refs("/a")?, refs("demo")?), (2, 3, 3));
        let urls: i64 = conn.query_row(
            "SELECT count(*) FROM strings WHERE value LIKE '%e.com/%'",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(urls, 1, "only the URL the host and path do not give");
        Ok(())
    }

    /// Every column of `sessions`, in the v13 table's order.
    const SESSION_COLUMNS: &str = "id, site, visitor, start_ts, last_ts, entry_path, exit_path,
        pageviews, events, duration_ms, bounce, engaged, utm_source, utm_medium, utm_campaign,
        day, source, source_class, browser, os, device, country, last_page, flow";

    fn all_sessions(conn: &Connection) -> Result<Vec<Vec<rusqlite::types::Value>>, StoreError> {
        let mut stmt = conn.prepare(&format!(
            "SELECT rowid, {SESSION_COLUMNS}, typeof(duration_ms), typeof(bounce)
             FROM sessions ORDER BY rowid"
        ))?;
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| (0..n).map(|i| r.get(i)).collect())?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    #[test]
    fn version_14_keeps_every_session_as_it_was_and_counts_its_strings() -> Result<(), StoreError> {
        let conn = Connection::open_in_memory()?;
        for sql in &MIGRATIONS[..13] {
            conn.execute_batch(sql)?;
        }
        conn.pragma_update(None, "user_version", 13)?;
        conn.execute_batch(&format!(
            "INSERT INTO strings (value, refs) VALUES ('demo', 5), ('/a', 2);
             INSERT INTO sessions ({SESSION_COLUMNS}) VALUES
             ('0a1b2c3d-0000-4000-8000-00000000000f', 'demo', 'v1', 10, 70, '/a', '/b', 2, 3,
              60, 0, 1, 'news', 'email', 'spring', 1, 'news', 'other', 'Firefox', 'Linux',
              'desktop', 'NZ', '/b', '/a\n/b'),
             ('old-text-id', 'demo', 'v2', 20, 20, '/a', '/a', 1, 1, 0, 1, 0, NULL, NULL, NULL,
              2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
             ('0a1b2c3d-0000-4000-8000-0000000000aa', 'other', 'v1', 30, 30, '/c', '/c', 0, 1,
              0, 0, 1, NULL, NULL, NULL, 3, 'Direct', 'direct', 'Chrome', 'Android', 'mobile',
              NULL, NULL, NULL);"
        ))?;
        let before = all_sessions(&conn)?;
        migrate(&conn)?;
        assert_eq!(all_sessions(&conn)?, before);
        let blobs: i64 = conn.query_row(
            "SELECT count(*) FROM session_rows WHERE typeof(id) = 'blob'",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(blobs, 2, "UUIDs as 16 bytes, the old text id as it was");
        let refs = |value: &str| -> Result<i64, StoreError> {
            Ok(
                conn.query_row("SELECT refs FROM strings WHERE value = ?1", [value], |r| {
                    r.get(0)
                })?,
            )
        };
        // Added to the events' references: demo 5 + 2 sessions; /a 2 + entry, exit and
        // entry; v1 two sessions.
        assert_eq!(
            (refs("demo")?, refs("/a")?, refs("v1")?, refs("/a\n/b")?),
            (7, 5, 2, 1)
        );
        // The view writes through to the rows: an update's strings are interned and counted.
        conn.execute(
            "UPDATE sessions SET exit_path = '/z', events = events + 1 WHERE id = 'old-text-id'",
            [],
        )?;
        assert_eq!((refs("/a")?, refs("/z")?), (4, 1));
        let row: (String, i64) = conn.query_row(
            "SELECT exit_path, events FROM sessions WHERE id = 'old-text-id'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        assert_eq!(row, ("/z".into(), 2));
        Ok(())
    }

    #[test]
    fn version_15_keeps_every_report_key_row_without_a_rowid() -> Result<(), StoreError> {
        let conn = Connection::open_in_memory()?;
        for sql in &MIGRATIONS[..14] {
            conn.execute_batch(sql)?;
        }
        conn.pragma_update(None, "user_version", 14)?;
        conn.execute_batch(
            "INSERT INTO report_keys (site, dim, day, key, pageviews, events, sessions, visitors)
             VALUES ('demo', 'page', 1, '/a', 3, 4, 0, x'0102'),
                    ('demo', 'source', 1, 'Direct', 0, 0, 2, NULL),
                    ('other', 'page', 2, '/a', 1, 1, 0, x'03')",
        )?;
        let rows = |conn: &Connection| -> Result<Vec<Vec<rusqlite::types::Value>>, StoreError> {
            let mut stmt = conn.prepare(
                "SELECT site, dim, day, key, pageviews, events, sessions, visitors
                 FROM report_keys ORDER BY site, dim, day, key",
            )?;
            let n = stmt.column_count();
            let rows = stmt
                .query_map([], |r| (0..n).map(|i| r.get(i)).collect())?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        };
        let before = rows(&conn)?;
        migrate(&conn)?;
        assert_eq!(rows(&conn)?, before);
        let indexes: i64 = conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'report_keys'",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(indexes, 0, "the primary key is the table");
        Ok(())
    }

    #[test]
    fn version_16_stores_uuid_ids_as_16_bytes_and_reads_them_as_before() -> Result<(), StoreError> {
        let conn = Connection::open_in_memory()?;
        for sql in &MIGRATIONS[..15] {
            conn.execute_batch(sql)?;
        }
        conn.pragma_update(None, "user_version", 15)?;
        // A UUID visitor whose text is also a title, a UUID server session, a beacon
        // session and a visitor that are not UUIDs; refs as the v15 writer counted them.
        let u = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
        let session = "5e55e55e-0000-4000-8000-000000000001";
        conn.execute(
            "INSERT INTO strings (id, value, refs) VALUES (1, 'demo', 3), (2, ?1, 3),
                 (3, '/a', 4), (4, ?2, 2), (5, 'ss_x', 1), (6, 'example.com', 2), (7, 'fp_1', 1)",
            [u, session],
        )?;
        conn.execute_batch(
            "INSERT INTO event_rows (id, site, kind, ts, received, visitor, evidence, client_id,
                 session, session_id, hostname, path, title)
             VALUES (x'0a1b2c3d000040008000000000000001', 1, 0, 10, 1, 2, 0, 0, 5, 4, 6, 3, 2),
                    (x'0a1b2c3d000040008000000000000002', 1, 0, 20, 1, 7, 2, NULL, NULL, 4, 6, 3,
                     NULL);
             INSERT INTO session_rows (id, site, visitor, start_ts, last_ts, entry_path,
                 exit_path, pageviews, events, engaged, day)
             VALUES (x'5e55e55e000040008000000000000001', 1, 2, 10, 20, 3, 3, 2, 2, 0, 0);",
        )?;
        let before = (all_events(&conn)?, all_sessions(&conn)?);
        migrate_until(&conn, 16)?;
        assert_eq!((all_events(&conn)?, all_sessions(&conn)?), before);
        let strings = |conn: &Connection| -> Result<Vec<(String, String, i64)>, StoreError> {
            Ok(conn
                .prepare(&format!(
                    "SELECT typeof(value), {}, refs FROM strings ORDER BY 2, 1",
                    super::super::dict::id_text!("value")
                ))?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?)
        };
        let blob = |v: &str, refs| ("blob".to_string(), v.to_string(), refs);
        let text = |v: &str, refs| ("text".to_string(), v.to_string(), refs);
        assert_eq!(
            strings(&conn)?,
            [
                text("/a", 4),
                blob(u, 2),
                text(u, 1),
                blob(session, 2),
                text("demo", 3),
                text("example.com", 2),
                text("fp_1", 1),
                text("ss_x", 1),
            ],
            "the visitor's and the session's ids as bytes, the title still text"
        );
        // Written through the view, a UUID visitor goes to its bytes.
        conn.execute(
            "UPDATE sessions SET visitor = 'fp_1' WHERE visitor = ?1",
            [u],
        )?;
        conn.execute(
            "UPDATE sessions SET visitor = ?1 WHERE visitor = 'fp_1'",
            [u],
        )?;
        assert_eq!(all_sessions(&conn)?, before.1);
        assert_eq!(strings(&conn)?.get(1), Some(&blob(u, 2)));
        Ok(())
    }

    #[test]
    fn version_17_names_each_events_session_by_its_row_and_reads_it_as_before()
    -> Result<(), StoreError> {
        let conn = Connection::open_in_memory()?;
        for sql in &MIGRATIONS[..16] {
            conn.execute_batch(sql)?;
        }
        conn.pragma_update(None, "user_version", 16)?;
        // Two sessions (a UUID one, a text one of an old file), their ids in `strings` as
        // v16 kept them; three events in them, one in no session, and one whose session
        // was deleted by hand. refs as the v16 writer counted them.
        conn.execute_batch(
            "INSERT INTO strings (id, value, refs) VALUES (1, 'demo', 7), (2, 'v', 7),
                 (3, '/a', 7), (4, 'example.com', 5), (5, x'5e55e55e000040008000000000000001', 2),
                 (6, 'old-session', 1), (7, x'5e55e55e000040008000000000000009', 1);
             INSERT INTO session_rows (rowid, id, site, visitor, start_ts, last_ts, entry_path,
                 exit_path, pageviews, events, engaged, day)
             VALUES (3, x'5e55e55e000040008000000000000001', 1, 2, 10, 20, 3, 3, 2, 2, 0, 0),
                    (8, 'old-session', 1, 2, 30, 30, 3, 3, 1, 1, 0, 0);
             INSERT INTO event_rows (id, site, kind, ts, received, visitor, evidence,
                 session_id, hostname, path)
             VALUES (x'0a1b2c3d000040008000000000000001', 1, 0, 10, 1, 2, 0, 5, 4, 3),
                    (x'0a1b2c3d000040008000000000000002', 1, 0, 20, 1, 2, 0, 5, 4, 3),
                    (x'0a1b2c3d000040008000000000000003', 1, 0, 30, 1, 2, 0, 6, 4, 3),
                    (x'0a1b2c3d000040008000000000000004', 1, 0, 40, 1, 2, 0, NULL, 4, 3),
                    (x'0a1b2c3d000040008000000000000005', 1, 0, 50, 1, 2, 0, 7, 4, 3);",
        )?;
        let mut before = (all_events(&conn)?, all_sessions(&conn)?);
        migrate(&conn)?;
        // Every column as before, but the session the last event named, which is gone.
        let session_id = 30;
        assert_eq!(
            before.0[4][session_id],
            rusqlite::types::Value::Text("5e55e55e-0000-4000-8000-000000000009".into())
        );
        before.0[4][session_id] = rusqlite::types::Value::Null;
        assert_eq!((all_events(&conn)?, all_sessions(&conn)?), before);
        let rows: Vec<Option<i64>> = conn
            .prepare("SELECT session_id FROM event_rows ORDER BY rowid")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        assert_eq!(rows, [Some(3), Some(3), Some(8), None, None]);
        let strings: Vec<(i64, i64)> = conn
            .prepare("SELECT id, refs FROM strings ORDER BY id")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        assert_eq!(
            strings,
            [(1, 7), (2, 7), (3, 7), (4, 5)],
            "the session ids are no longer strings"
        );
        // Deleting an event gives back its strings, and no longer a session's.
        conn.execute("DELETE FROM event_rows WHERE rowid = 1", [])?;
        let refs: Vec<i64> = conn
            .prepare("SELECT refs FROM strings ORDER BY id")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        assert_eq!(refs, [6, 6, 6, 4]);
        Ok(())
    }

    #[test]
    fn version_18_keeps_each_sessions_beacon_session_on_its_row_and_reads_it_as_before()
    -> Result<(), StoreError> {
        let conn = Connection::open_in_memory()?;
        migrate_until(&conn, 17)?;
        // Session 1's events carry beacon session 5 but one (6, a second tab), session 2's
        // the text id 7 after one without any; refs as the v17 writer counted them.
        conn.execute_batch(
            "INSERT INTO strings (id, value, refs) VALUES (1, 'demo', 7), (2, 'v', 7),
                 (3, '/a', 5), (4, 'example.com', 5),
                 (5, x'5e55e55e000040008000000000000001', 2),
                 (6, x'5e55e55e000040008000000000000002', 1), (7, 'b-text', 1);
             INSERT INTO session_rows (rowid, id, site, visitor, start_ts, last_ts, entry_path,
                 exit_path, pageviews, events, engaged, day)
             VALUES (1, x'0a1b2c3d000040008000000000000001', 1, 2, 10, 30, 3, 3, 3, 3, 0, 0),
                    (2, x'0a1b2c3d000040008000000000000002', 1, 2, 40, 50, 3, 3, 2, 2, 0, 0);
             INSERT INTO event_rows (id, site, kind, ts, received, visitor, evidence,
                 session, session_id, hostname, path)
             VALUES (x'0a1b2c3d000040008000000000000011', 1, 0, 10, 1, 2, 0, 5, 1, 4, 3),
                    (x'0a1b2c3d000040008000000000000012', 1, 0, 20, 1, 2, 0, 6, 1, 4, 3),
                    (x'0a1b2c3d000040008000000000000013', 1, 0, 30, 1, 2, 0, 5, 1, 4, 3),
                    (x'0a1b2c3d000040008000000000000014', 1, 0, 40, 1, 2, 0, NULL, 2, 4, 3),
                    (x'0a1b2c3d000040008000000000000015', 1, 0, 50, 1, 2, 0, 7, 2, 4, 3);",
        )?;
        let before = (all_events(&conn)?, all_sessions(&conn)?);
        migrate_until(&conn, 18)?;
        assert_eq!((all_events(&conn)?, all_sessions(&conn)?), before);
        let sessions: Vec<Option<i64>> = conn
            .prepare("SELECT session FROM event_rows ORDER BY rowid")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        assert_eq!(sessions, [Some(0), Some(6), Some(0), None, Some(0)]);
        let strings: Vec<(i64, i64)> = conn
            .prepare("SELECT id, refs FROM strings ORDER BY id")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        assert_eq!(
            strings,
            [(1, 7), (2, 7), (3, 5), (4, 5), (6, 1)],
            "the beacon sessions the session rows keep are no longer strings"
        );
        Ok(())
    }

    #[test]
    fn version_20_names_persons_by_size_and_keeps_their_sets() -> Result<(), StoreError> {
        use crate::event::IdentityEffects;
        use crate::identity::graph::LinkKind;
        use crate::identity::resolver::NewLink;
        use crate::store::sqlite::tests::event;
        let dir = tempfile::tempdir().map_err(|source| StoreError::Io {
            path: "tmp".into(),
            source,
        })?;
        let path = dir.path().join("spoor.db");
        let linked = |id: u128, a: &str, b: &str| {
            let mut e = event(id, b, "s");
            e.identity = IdentityEffects {
                links: vec![NewLink {
                    a: a.into(),
                    b: b.into(),
                    kind: LinkKind::ClientId,
                    confidence: 1.0,
                    verified: true,
                }],
                ..IdentityEffects::default()
            };
            e
        };
        {
            let store = SqliteStore::open(&path)?;
            store.insert_events(&[linked(1, "c", "b"), linked(2, "a", "b")])?;
        }
        {
            // The file as v19 left it: no sets, persons named by their smallest id (and no
            // unsettled sessions, which v21 adds).
            let conn = Connection::open(&path)?;
            conn.execute_batch(
                "DROP TABLE person_sets;
                 DROP INDEX visitor_persons_person;
                 DROP INDEX person_stretches_person;
                 UPDATE visitor_persons SET person = 'a';
                 DROP TRIGGER session_rows_unsettled;
                 DROP TABLE unsettled_sessions;
                 PRAGMA user_version = 19;",
            )?;
        }
        let store = SqliteStore::open(&path)?;
        let conn = store.reader();
        let persons: Vec<String> = conn
            .prepare("SELECT visitor || ' ' || person FROM visitor_persons WHERE mode = 'strict' ORDER BY 1")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        // b and c were two first: b named them; a joined the larger side.
        assert_eq!(persons, ["a b", "b b", "c b"]);
        let sets: (String, i64) = conn.query_row(
            "SELECT person, nodes FROM person_sets WHERE mode = 'strict'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        assert_eq!(sets, ("b".to_string(), 3));
        Ok(())
    }
}
