//! The dictionary of the strings event rows refer to (`strings`, migration 0013): each
//! site, visitor id, path, title, referrer, campaign tag... is stored once and an event row
//! holds its integer id. [`Dict`] is the writer's side: a bounded cache of string → id,
//! so a batch looks up each repeated string once, and the reference counts its inserted
//! rows add, written once per string per batch by [`Dict::flush`]. Readers decode through
//! the `events` view, or look an id up with [`find`].
//!
//! `refs` is what lets an erasure leave nothing readable: a row's deletion gives back its
//! references (trigger `event_rows_unref`), and [`sweep`] deletes the strings no row
//! refers to any more. A sweep on the writer is followed by [`Dict::forget`], and one by
//! another connection (the `erase` command beside a running collector) is noticed by
//! [`Dict::check`] at the start of the next write, so a cached id always names a stored
//! string.
//!
//! Ids are the exception to "one text per string" (migration 0016): a canonical lower-case
//! UUID (what the beacon sends as visitor, client and session id) written to an id column
//! (`event_rows`' visitor, client_id, session; `session_rows`' visitor) is stored as its
//! 16 bytes, a blob value, by [`Dict::key`] (a server session's id is in its row only: an
//! event names the row by rowid since migration 0017); the views decode it ([`id_text!`]) and a query that looks an id up by
//! its text encodes it ([`id_key!`]). Every other string, and any id that is not such a
//! UUID, stays text.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension};

use crate::store::StoreError;

/// SQL: the dictionary's form of the id text `$x` (an expression, evaluated more than
/// once): a canonical lower-case UUID's 16 bytes, anything else as it is.
macro_rules! id_key {
    ($x:literal) => {
        concat!(
            "(CASE WHEN ",
            $x,
            " GLOB '????????-????-????-????-????????????' AND ",
            $x,
            " NOT GLOB '*[^0-9a-f-]*' THEN unhex(replace(",
            $x,
            ", '-', '')) ELSE ",
            $x,
            " END)"
        )
    };
}
pub(super) use id_key;

/// [`id_key!`] of an expression known only at run time.
pub(super) fn id_key_sql(x: &str) -> String {
    format!(
        "(CASE WHEN {x} GLOB '????????-????-????-????-????????????' AND {x} \
         NOT GLOB '*[^0-9a-f-]*' THEN unhex(replace({x}, '-', '')) ELSE {x} END)"
    )
}

/// SQL: whether `site` (an expression of its text) has an event of the visitor whose id
/// text is `visitor`, by the index `events_site_visitor`.
pub(super) fn has_events_sql(site: &str, visitor: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM event_rows WHERE site = (SELECT id FROM strings WHERE value = {site})
             AND visitor = (SELECT id FROM strings WHERE value = {}))",
        id_key_sql(visitor)
    )
}

/// SQL: the text of the id value `$x` of `strings` (the inverse of [`id_key!`]).
macro_rules! id_text {
    ($x:literal) => {
        concat!(
            "(CASE WHEN typeof(",
            $x,
            ") = 'blob' THEN lower(substr(hex(",
            $x,
            "), 1, 8) || '-' || substr(hex(",
            $x,
            "), 9, 4) || '-' || substr(hex(",
            $x,
            "), 13, 4) || '-' || substr(hex(",
            $x,
            "), 17, 4) || '-' || substr(hex(",
            $x,
            "), 21)) ELSE ",
            $x,
            " END)"
        )
    };
}
pub(super) use id_text;

/// The 16 bytes of a canonical lower-case UUID (`8-4-4-4-12` lower-case hex digits), or
/// `None` for any other text, which the dictionary keeps as text.
pub(super) fn uuid_bytes(value: &str) -> Option<[u8; 16]> {
    let s = value.as_bytes();
    if s.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    let mut digits = s
        .iter()
        .enumerate()
        .filter(|&(i, _)| !matches!(i, 8 | 13 | 18 | 23));
    if [8, 13, 18, 23].iter().any(|&i| s.get(i) != Some(&b'-')) {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    for byte in &mut out {
        let (_, &hi) = digits.next()?;
        let (_, &lo) = digits.next()?;
        *byte = (nibble(hi)? << 4) | nibble(lo)?;
    }
    Some(out)
}

/// Strings the writer keeps ids of; at the bound the cache starts over (the strings worth
/// caching, a site's hosts, pages and user agent context, come back in the next batch).
const CACHE_MAX: usize = 8192;

/// The writer's dictionary state; see the module documentation.
#[derive(Default)]
pub(super) struct Dict {
    /// Ids of strings known to be stored (committed, or written in the open transaction).
    cache: HashMap<Box<str>, i64>,
    /// Ids of UUIDs stored as 16 bytes (see [`Dict::key`]).
    uuids: HashMap<[u8; 16], i64>,
    /// References the open transaction's rows added, per string id.
    refs: HashMap<i64, i64>,
    /// `PRAGMA data_version` when the cache was last known good: it changes when another
    /// connection (another process's erasure, an operator's `sqlite3`) commits.
    version: Option<i64>,
}

impl Dict {
    /// Drops the cache if another connection committed since the last call: it may have
    /// swept strings the cache names. Call it inside the write transaction, where no other
    /// commit can come between the check and the inserts.
    pub(super) fn check(&mut self, conn: &Connection) -> Result<(), StoreError> {
        let version: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        if self.version != Some(version) {
            self.cache.clear();
            self.uuids.clear();
            self.version = Some(version);
        }
        Ok(())
    }

    /// The id of `value`, inserting it (unreferenced) if it is new. The reference is
    /// counted by [`Dict::count`] once the row is stored.
    pub(super) fn id(&mut self, conn: &Connection, value: &str) -> Result<i64, StoreError> {
        if let Some(&id) = self.cache.get(value) {
            return Ok(id);
        }
        let id = match find(conn, value)? {
            Some(id) => id,
            None => conn
                .prepare_cached("INSERT INTO strings (value) VALUES (?1) RETURNING id")?
                .query_row([value], |r| r.get(0))?,
        };
        if self.cache.len() >= CACHE_MAX {
            self.cache.clear();
        }
        self.cache.insert(value.into(), id);
        Ok(id)
    }

    /// The id of the id `value` (a visitor, client or session id): [`Dict::id`] of its
    /// 16 bytes if it is a canonical UUID, of its text otherwise.
    pub(super) fn key(&mut self, conn: &Connection, value: &str) -> Result<i64, StoreError> {
        let Some(bytes) = uuid_bytes(value) else {
            return self.id(conn, value);
        };
        if let Some(&id) = self.uuids.get(&bytes) {
            return Ok(id);
        }
        let found = conn
            .prepare_cached("SELECT id FROM strings WHERE value = ?1")?
            .query_row([&bytes[..]], |r| r.get(0))
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => conn
                .prepare_cached("INSERT INTO strings (value) VALUES (?1) RETURNING id")?
                .query_row([&bytes[..]], |r| r.get(0))?,
        };
        if self.uuids.len() >= CACHE_MAX {
            self.uuids.clear();
        }
        self.uuids.insert(bytes, id);
        Ok(id)
    }

    /// [`Dict::key`] of an id that may be absent.
    pub(super) fn opt_key(
        &mut self,
        conn: &Connection,
        value: Option<&str>,
    ) -> Result<Option<i64>, StoreError> {
        value.map(|v| self.key(conn, v)).transpose()
    }

    /// [`Dict::id`] of a value that may be absent.
    pub(super) fn opt(
        &mut self,
        conn: &Connection,
        value: Option<&str>,
    ) -> Result<Option<i64>, StoreError> {
        value.map(|v| self.id(conn, v)).transpose()
    }

    /// Counts one reference to each id (an id twice in `ids` counts twice).
    pub(super) fn count(&mut self, ids: impl IntoIterator<Item = i64>) {
        for id in ids {
            *self.refs.entry(id).or_default() += 1;
        }
    }

    /// Writes the counted references, in the transaction that stored their rows.
    pub(super) fn flush(&mut self, conn: &Connection) -> Result<(), StoreError> {
        let mut stmt = conn.prepare_cached("UPDATE strings SET refs = refs + ?2 WHERE id = ?1")?;
        for (id, n) in self.refs.drain() {
            stmt.execute([id, n])?;
        }
        Ok(())
    }

    /// Drops the cache and the uncommitted counts: after a transaction failed (its new
    /// strings were rolled back) and after a sweep (which may have deleted cached ones).
    pub(super) fn forget(&mut self) {
        self.cache.clear();
        self.uuids.clear();
        self.refs.clear();
    }
}

/// The id of `value` if it is stored.
pub(super) fn find(conn: &Connection, value: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id FROM strings WHERE value = ?1")?
        .query_row([value], |r| r.get(0))
        .optional()?)
}

/// Deletes the strings no event row refers to (by the partial index of unreferenced
/// ones, not a scan). With `secure_delete` on, their text is zeroed on disk.
pub(super) fn sweep(conn: &Connection) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM strings WHERE refs <= 0")?
        .execute([])?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;
    use crate::store::sqlite::SqliteStore;
    use crate::store::sqlite::tests::event;

    fn refs(store: &SqliteStore, value: &str) -> Result<Option<i64>, StoreError> {
        Ok(store
            .reader()
            .query_row("SELECT refs FROM strings WHERE value = ?1", [value], |r| {
                r.get(0)
            })
            .optional()?)
    }

    #[test]
    fn a_string_is_stored_once_and_counted_per_row_that_holds_it() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        store.insert_events(&[event(1, "v1", "s1"), event(2, "v1", "s1")])?;
        store.insert_events(&[event(2, "v1", "s1")])?; // a duplicate adds nothing
        let n: i64 = store.reader().query_row(
            "SELECT count(*) FROM strings WHERE value = 'v1'",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(n, 1);
        assert_eq!(refs(&store, "v1")?, Some(3), "two events and their session");
        Ok(())
    }

    #[test]
    fn deleting_rows_gives_back_their_references_and_a_sweep_deletes_the_unused()
    -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        store.insert_events(&[event(1, "v1", "s1"), event(2, "v2", "s1")])?;
        let conn = store.writer();
        conn.execute("DELETE FROM events WHERE visitor = 'v1'", [])?;
        drop(conn);
        assert_eq!(refs(&store, "v1")?, Some(1), "still the session's visitor");
        store
            .writer()
            .execute("DELETE FROM sessions WHERE visitor = 'v1'", [])?;
        assert_eq!(refs(&store, "v1")?, Some(0));
        assert_eq!(refs(&store, "v2")?, Some(2), "an event and its session");
        assert_eq!(
            sweep(&store.writer())?,
            1,
            "v1 (its server session is named by its row, not a string)"
        );
        assert_eq!(refs(&store, "v1")?, None);
        assert_eq!(
            refs(&store, "demo")?,
            Some(2),
            "still used by v2's event and session"
        );
        Ok(())
    }

    #[test]
    fn a_sweep_by_another_connection_is_not_answered_from_the_cache() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|source| StoreError::Io {
            path: "tmp".into(),
            source,
        })?;
        let db = dir.path().join("spoor.db");
        let collector = SqliteStore::open(&db)?;
        collector.insert_events(&[event(1, "v1", "s1")])?;
        // The `erase` command, in another process, while the collector runs.
        SqliteStore::open(&db)?.erase(
            "demo",
            &crate::maintenance::erasure::Subject::Visitor("v1".into()),
        )?;
        collector.insert_events(&[event(2, "v1", "s1")])?;
        let visitors: Vec<String> = collector
            .reader()
            .prepare("SELECT visitor FROM events")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        assert_eq!(visitors, ["v1"], "the new event names a stored string");
        Ok(())
    }

    #[test]
    fn a_failed_transaction_leaves_no_cached_id_behind() -> Result<(), StoreError> {
        let conn = Connection::open_in_memory()?;
        crate::store::sqlite::migrate::migrate(&conn)?;
        let mut dict = Dict::default();
        {
            let tx = conn.unchecked_transaction()?;
            dict.id(&tx, "/rolled-back")?;
            // dropped: rolled back
        }
        dict.forget();
        let tx = conn.unchecked_transaction()?;
        let id = dict.id(&tx, "/rolled-back")?;
        assert_eq!(find(&tx, "/rolled-back")?, Some(id));
        Ok(())
    }

    #[test]
    fn only_canonical_lower_case_uuids_have_bytes() {
        let id = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
        assert_eq!(
            uuid_bytes(id).map(|b| uuid::Uuid::from_bytes(b).hyphenated().to_string()),
            Some(id.to_string())
        );
        for other in [
            "0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D",
            "0a1b2c3d4e5f-4a6b-8c7d-9e0f1a2b3c4d-",
            "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4",
            "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4g",
            "fp_0a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d",
            "",
        ] {
            assert_eq!(uuid_bytes(other), None, "{other}");
        }
    }

    /// A canonical UUID in an id column is stored as its 16 bytes and read back, through
    /// the views, the lookups by id text and an erasure, as the text that was sent; the
    /// same text in another column, and any other id, stays text.
    #[test]
    fn a_uuid_id_is_stored_as_16_bytes_and_read_as_its_text() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let v = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
        let beacon_session = "5e55e55e-0000-4000-8000-000000000001";
        let mut first = event(1, v, beacon_session);
        first.client.title = Some(v.into());
        let mut second = event(2, v, beacon_session);
        second.client.client_id = Some("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4e".into());
        let upper = "0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D";
        store.insert_events(&[first, second, event(3, upper, "s1")])?;
        let conn = store.reader();
        let kinds: Vec<(String, String)> = conn
            .prepare(&format!(
                "SELECT typeof(value), {} FROM strings
                 WHERE typeof(value) = 'blob' OR value LIKE '%-%-%-%-%' ORDER BY 2, 1",
                id_text!("value")
            ))?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let blobs: Vec<&str> = kinds
            .iter()
            .filter(|(t, _)| t == "blob")
            .map(|(_, v)| v.as_str())
            .collect();
        assert!(blobs.contains(&v), "{kinds:?}");
        // The beacon session its server session's row keeps (migration 0018), as bytes.
        let beacon: String = conn.query_row(
            "SELECT typeof(beacon) FROM session_rows r JOIN strings s ON s.id = r.visitor
             WHERE s.value = ?1",
            [uuid_bytes(v).map(|b| b.to_vec())],
            |r| r.get(0),
        )?;
        assert_eq!(beacon, "blob");
        assert!(
            kinds.contains(&("text".into(), v.into())),
            "the title: {kinds:?}"
        );
        assert!(kinds.contains(&("text".into(), upper.into())), "{kinds:?}");
        assert_eq!(
            blobs.len(),
            2,
            "v and its client id (the server and beacon sessions are in rows): {kinds:?}"
        );
        let rows: Vec<(String, String, String, String)> = conn
            .prepare("SELECT visitor, client_id, session, title FROM events ORDER BY id")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?;
        assert_eq!(
            rows,
            [
                (v.into(), v.into(), beacon_session.into(), v.into()),
                (
                    v.into(),
                    "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4e".into(),
                    beacon_session.into(),
                    "A".into()
                ),
                (upper.into(), upper.into(), "s1".into(), "A".into()),
            ]
        );
        let (sessions, joined): (i64, i64) = conn.query_row(
            "SELECT (SELECT count(*) FROM sessions WHERE visitor = ?1),
                    (SELECT count(*) FROM events e JOIN sessions s ON s.id = e.session_id
                     WHERE s.visitor = ?1)",
            [v],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        assert_eq!((sessions, joined), (1, 2));
        let known = |visitor: &str| -> Result<bool, StoreError> {
            Ok(conn.query_row(
                &format!("SELECT {}", has_events_sql("?1", "?2")),
                ["demo", visitor],
                |r| r.get(0),
            )?)
        };
        assert!(known(v)? && known(upper)?);
        assert!(
            !known("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4e")?,
            "a client id only"
        );
        drop(conn);
        store.erase(
            "demo",
            &crate::maintenance::erasure::Subject::Visitor(v.into()),
        )?;
        let left: Vec<String> = store
            .reader()
            .prepare(&format!(
                "SELECT {} FROM strings ORDER BY 1",
                id_text!("value")
            ))?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        assert!(
            !left
                .iter()
                .any(|s| s.starts_with("0a1b2c3d") || s == beacon_session),
            "{left:?}"
        );
        assert_eq!(recount_differs(&store)?, []);
        Ok(())
    }

    /// The person view's timeline and an export of a UUID visitor answer with its text.
    #[test]
    fn a_uuid_visitor_is_read_back_as_text_by_the_person_view_and_export() -> Result<(), StoreError>
    {
        let store = SqliteStore::open_in_memory()?;
        let v = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
        let beacon_session = "5e55e55e-0000-4000-8000-000000000001";
        store.insert_events(&[event(1, v, beacon_session), event(2, v, beacon_session)])?;
        let person = store.person("demo", v, crate::identity::graph::Mode::Inclusive)?;
        let Some(person) = person else {
            panic!("no person for {v}");
        };
        assert_eq!(person.visitors, [v]);
        let timeline: Vec<&str> = person.timeline.iter().map(|t| t.visitor.as_str()).collect();
        assert_eq!(timeline, [v, v]);
        let export = store.export(
            "demo",
            &crate::maintenance::erasure::Subject::Visitor(v.into()),
        )?;
        let field = |row: &serde_json::Map<String, serde_json::Value>, k: &str| {
            row.get(k).and_then(|x| x.as_str()).map(str::to_string)
        };
        assert_eq!(export.events.len(), 2);
        assert_eq!(export.sessions.len(), 1);
        let session_id = field(&export.sessions[0], "id");
        assert_eq!(
            session_id.as_deref().map(|s| uuid_bytes(s).is_some()),
            Some(true)
        );
        for e in &export.events {
            assert_eq!(field(e, "visitor").as_deref(), Some(v));
            assert_eq!(field(e, "client_id").as_deref(), Some(v));
            assert_eq!(field(e, "session").as_deref(), Some(beacon_session));
            assert_eq!(field(e, "session_id"), session_id);
        }
        assert_eq!(field(&export.sessions[0], "visitor").as_deref(), Some(v));
        Ok(())
    }

    /// Every string's `refs` against a count of the references the event and session rows
    /// hold.
    fn recount_differs(store: &SqliteStore) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let columns = [
            "site",
            "visitor",
            "client_id",
            "session",
            "url",
            "hostname",
            "path",
            "prev_path",
            "referrer",
            "title",
            "screen",
            "lang",
            "tz",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_term",
            "utm_content",
            "name",
            "props",
            "target",
            "user_id",
            "fallback",
        ];
        let session_columns = [
            "site",
            "visitor",
            "entry_path",
            "exit_path",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "source",
            "source_class",
            "browser",
            "os",
            "device",
            "country",
            "last_page",
            "flow",
        ];
        let all = columns
            .map(|c| format!("SELECT {c} AS ref FROM event_rows"))
            .into_iter()
            .chain(session_columns.map(|c| format!("SELECT {c} FROM session_rows")))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let sql = format!(
            "SELECT s.value, s.refs, coalesce(c.n, 0) FROM strings s
             LEFT JOIN (SELECT ref, count(*) AS n FROM ({all}) GROUP BY ref) c ON c.ref = s.id
             WHERE s.refs <> coalesce(c.n, 0)"
        );
        Ok(store
            .reader()
            .prepare(&sql)?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?)
    }

    #[test]
    fn refs_stay_equal_to_the_references_through_inserts_updates_and_deletes()
    -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let page = |id: u128, visitor: &str, path: &str, minute: i64| {
            let mut e = event(id, visitor, "s1");
            e.client.path = path.into();
            e.client.url = format!("https://example.com{path}?q={id}");
            e.client.ts += minute * 60_000;
            e
        };
        store.insert_events(&[
            page(1, "v1", "/a", 0),
            page(2, "v1", "/b", 1),
            page(3, "v2", "/b", 2),
        ])?;
        store.insert_events(&[page(4, "v1", "/a", 3), page(2, "v1", "/b", 1)])?;
        assert_eq!(recount_differs(&store)?, []);
        // Sets every prev_path again (an update of each row).
        store.rebuild_reports()?;
        assert_eq!(recount_differs(&store)?, []);
        let conn = store.writer();
        conn.execute(
            "UPDATE event_rows SET url = (SELECT id FROM strings WHERE value = '/b')
             WHERE url IS NOT NULL",
            [],
        )?;
        drop(conn);
        assert_eq!(recount_differs(&store)?, []);
        store.erase(
            "demo",
            &crate::maintenance::erasure::Subject::Visitor("v1".into()),
        )?;
        assert_eq!(recount_differs(&store)?, []);
        let left: i64 =
            store
                .reader()
                .query_row("SELECT count(*) FROM strings WHERE refs <= 0", [], |r| {
                    r.get(0)
                })?;
        assert_eq!(left, 0, "the erasure swept what it left unreferenced");
        Ok(())
    }
}
