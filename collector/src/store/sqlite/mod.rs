//! The embedded store: one SQLite file in WAL mode, nothing to install.
//!
//! Three connections: one writer (the ingest writer is its only busy user, so writes never
//! contend) and [`READERS`] readers for queries, which WAL lets run while a write is in
//! progress (a query takes a free one, so a slow report does not hold up the others, and
//! a funnel reads its steps on two at once).
//! `synchronous=FULL` (the default, see [`options`]) makes a commit durable before it
//! returns, which is what lets the collector acknowledge an event only once it is stored.
//!
//! `migrate` brings the schema up to date, and `backfill` fills the report data of a file
//! written before the rollups; `insert` stores a batch, each event a compact row of
//! `event_rows` (`row`, with its strings in the `dict`ionary; `events` is a view that
//! decodes them, see ARCHITECTURE.md "Compact events"); `sessions`
//! keeps the `sessions` table up to date as events are inserted; `identity` keeps links
//! and fingerprint observations and answers the person queries; `failed` keeps the
//! bounded `failed_events` table; `files` creates the database owner-only.
//!
//! Deleted rows leave nothing readable behind: the writer runs with `secure_delete` on
//! (SQLite zeroes deleted content, in tables, indexes and freed pages), and an erasure
//! ends with a `TRUNCATE` checkpoint (`checkpoint`), which copies the zeroed pages into
//! the database file and empties the `-wal` file that still held the rows as written.

mod backfill;
mod checkpointer;
mod dict;
mod erasure;
mod failed;
mod files;
mod identity;
mod insert;
mod migrate;
pub mod options;
mod reports;
mod retention;
mod row;
mod seam;
mod sessions;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{FailedEvent, InsertOutcome, LinkView, Person, StoreError, Summary, random_bytes};
use crate::event::Event;
use crate::identity::graph::{self, Mode};
use crate::identity::resolver::Memory;
use crate::maintenance::erasure::{Erased, Subject, SubjectExport};
use crate::maintenance::retention::Purged;
use crate::session::SessionRules;
pub use backfill::Backfilled;
use migrate::migrate;
pub use options::{SqliteOptions, Synchronous};

/// Read-only connections a file-backed store keeps for queries.
pub const READERS: usize = 2;

/// The SQLite implementation of the [`Store`](super::Store) seam (see `seam`), with the
/// same calls as plain synchronous methods for the subcommands, tools and tests.
///
/// Cheap to clone: the connections are shared, so a blocking task can own a handle.
#[derive(Clone)]
pub struct SqliteStore {
    /// The connections and the writer's state.
    shared: Arc<Shared>,
    /// How inserted events are cut into sessions.
    rules: SessionRules,
    /// Whether reports may read the rollups (see [`SqliteStore::without_rollups`]).
    rollups: bool,
}

/// What every clone of a [`SqliteStore`] shares.
struct Shared {
    /// The only connection that writes.
    writer: Mutex<Connection>,
    /// Read-only connections for queries; none for an in-memory store, whose single
    /// connection serves both.
    readers: Vec<Mutex<Connection>>,
    /// Erasures and purges done ([`SqliteStore::identity_epoch`]).
    deletions: AtomicU64,
    /// The writer's string ids (see [`dict`]); taken after `writer`, never alone.
    dict: Mutex<dict::Dict>,
    /// The thread that checkpoints the WAL of a file store (see [`checkpointer`]). Last,
    /// so it is dropped (and joined) after the writer, whose WAL hook holds its wake-up.
    _checkpointer: Option<checkpointer::Checkpointer>,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Backend {
            engine: "sqlite",
            message: e.to_string(),
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, creating its directory too (both
    /// owner-only, see `files`), and brings its schema up to date; with the default
    /// [`SqliteOptions`].
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, SqliteOptions::default())
    }

    /// Opens the database at `path` like [`SqliteStore::open`], with `options`.
    pub fn open_with(path: &Path, options: SqliteOptions) -> Result<SqliteStore, StoreError> {
        files::prepare(path)?;
        let mut writer = Connection::open(path)?;
        configure(&writer, &options)?;
        migrate(&writer)?;
        files::match_sidecars(path)?;
        let checkpointer = checkpointer::Checkpointer::start(path, &options, &mut writer)?;
        let readers = (0..READERS)
            .map(|_| {
                let reader = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                reader.busy_timeout(std::time::Duration::from_secs(5))?;
                Ok(Mutex::new(reader))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(SqliteStore::over(writer, readers, Some(checkpointer)))
    }

    /// A private in-memory store, for tests.
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let conn = Connection::open_in_memory()?;
        stable_plans(&conn)?;
        migrate(&conn)?;
        Ok(SqliteStore::over(conn, Vec::new(), None))
    }

    fn over(
        writer: Connection,
        readers: Vec<Mutex<Connection>>,
        checkpointer: Option<checkpointer::Checkpointer>,
    ) -> SqliteStore {
        SqliteStore {
            shared: Arc::new(Shared {
                writer: Mutex::new(writer),
                readers,
                deletions: AtomicU64::new(0),
                dict: Mutex::default(),
                _checkpointer: checkpointer,
            }),
            rules: SessionRules::default(),
            rollups: true,
        }
    }

    /// The store with sessions cut by `rules` instead of the defaults (30 minutes, UTC).
    pub fn with_session_rules(self, rules: SessionRules) -> SqliteStore {
        SqliteStore { rules, ..self }
    }

    /// A handle on the same store whose reports never read the rollups: every answer is
    /// worked out from the range's sessions and events, as filtered reports are. The
    /// tests and `spoor-bench-reports` compare the two.
    pub fn without_rollups(&self) -> SqliteStore {
        SqliteStore {
            rollups: false,
            ..self.clone()
        }
    }

    fn writer(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-done transaction behind
        // (rusqlite rolls back on drop), so a poisoned lock is safe to take over.
        self.shared.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The writer's dictionary cache; lock it after [`SqliteStore::writer`].
    fn dict(&self) -> MutexGuard<'_, dict::Dict> {
        self.shared.dict.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A free reader, else the first one once it is free (the writer for an in-memory
    /// store).
    fn reader(&self) -> MutexGuard<'_, Connection> {
        match self.spare_reader() {
            Some(conn) => conn,
            None => match self.shared.readers.first() {
                Some(r) => r.lock().unwrap_or_else(|p| p.into_inner()),
                None => self.writer(),
            },
        }
    }

    /// A reader no one is using, if there is one.
    fn spare_reader(&self) -> Option<MutexGuard<'_, Connection>> {
        self.shared.readers.iter().find_map(|r| match r.try_lock() {
            Ok(conn) => Some(conn),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        })
    }
}

fn configure(conn: &Connection, options: &SqliteOptions) -> Result<(), StoreError> {
    conn.busy_timeout(options.busy_timeout)?;
    stable_plans(conn)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(mode, "SQLite did not switch to WAL mode");
    }
    conn.pragma_update(None, "synchronous", options.synchronous.as_str())?;
    let zeroing: i64 = conn.query_row("PRAGMA secure_delete = ON", [], |r| r.get(0))?;
    if zeroing != 1 {
        tracing::warn!("SQLite did not turn secure_delete on: deleted rows stay in free pages");
    }
    if let Some(pages) = options.max_pages {
        let pages = i64::try_from(pages).unwrap_or(i64::MAX);
        let _: i64 = conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
            r.get(0)
        })?;
    }
    Ok(())
}

/// Turns on the query planner stability guarantee on the writer, so its cached statements
/// are never prepared again. Without it, SQLite's planner marks a statement "re-prepare
/// when this parameter is re-bound" whenever a bound value might change the plan (here:
/// any `column = ?` term some candidate index does not use), and `sqlite3_clear_bindings`,
/// which rusqlite calls each time a cached statement goes back to its cache, expires every
/// statement so marked: the session lookup was parsed and planned again on every event
/// (~15% of the writer's CPU under load). The writer's statements are point reads and
/// writes whose plans do not depend on values.
///
/// It also keeps more prepared statements than rusqlite's default of 16: one insert
/// transaction runs about 25 distinct statements (event, session, rollups, links, persons,
/// fingerprints), and an LRU of 16 over a cycle of 25 misses every time, so each was
/// parsed again on every commit.
fn stable_plans(conn: &Connection) -> Result<(), StoreError> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.set_prepared_statement_cache_capacity(WRITER_STATEMENTS);
    Ok(())
}

/// Prepared statements the writer keeps (see [`stable_plans`]).
const WRITER_STATEMENTS: usize = 96;

/// Copies every page in the WAL into the database file and truncates the WAL to zero
/// bytes, so rows deleted since the last checkpoint survive in neither. Waits (up to the
/// busy timeout) for readers of older snapshots to finish; if one still holds the WAL, the
/// checkpoint is partial and a warning says so (the WAL is reused from its start at a
/// later checkpoint). A no-op for an in-memory store.
fn checkpoint(conn: &Connection) -> Result<(), StoreError> {
    let (busy, frames, copied): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    if busy != 0 {
        tracing::warn!(
            frames,
            copied,
            "WAL checkpoint after an erasure was blocked by a reader; the WAL may still hold erased rows until the next checkpoint"
        );
    }
    Ok(())
}

/// Reads a `count(…)` column, which SQLite returns as a signed integer.
fn count(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    Ok(u64::try_from(row.get::<_, i64>(idx)?).unwrap_or(0))
}

/// Deletes the salts of days before `day`, the fingerprint observations of those days (no
/// salt can recompute those fingerprints any more) and the identity guard's daily counters
/// of ids per cookie (only today's is ever read); returns the salts deleted.
fn delete_salts_before(tx: &rusqlite::Transaction<'_>, day: i64) -> Result<usize, StoreError> {
    let salts = tx.execute("DELETE FROM daily_salts WHERE day < ?1", [day])?;
    tx.execute("DELETE FROM fingerprint_seen WHERE day < ?1", [day])?;
    tx.execute("DELETE FROM cookie_ids WHERE day < ?1", [day])?;
    Ok(salts)
}

/// Reads a fixed-size blob, creating it with random bytes if absent.
fn get_or_create_blob<const N: usize>(
    tx: &rusqlite::Transaction<'_>,
    select: &str,
    insert: &str,
    key: impl rusqlite::ToSql + Copy,
) -> Result<[u8; N], StoreError> {
    let existing: Option<Vec<u8>> = tx.query_row(select, [key], |r| r.get(0)).optional()?;
    if let Some(bytes) = existing {
        if let Ok(value) = <[u8; N]>::try_from(bytes.as_slice()) {
            return Ok(value);
        }
    }
    let value = random_bytes::<N>()?;
    tx.execute(insert, params![key, value.as_slice()])?;
    Ok(value)
}

/// The seam's calls, synchronously: `seam` runs them on the blocking pool; subcommands,
/// tools and tests call them directly.
impl SqliteStore {
    /// [`EventSink::append`](crate::store::EventSink::append): one transaction, all or
    /// nothing, durable before it returns.
    pub fn insert_groups(&self, groups: &[&[Event]]) -> Result<Vec<InsertOutcome>, StoreError> {
        let mut conn = self.writer();
        let mut dict = self.dict();
        let outcome = insert::insert_groups(&mut conn, &mut dict, &self.rules, groups);
        if outcome.is_err() {
            // Its new strings were rolled back with it.
            dict.forget();
        }
        outcome
    }

    /// Writes one group of events; see [`SqliteStore::insert_groups`].
    pub fn insert_events(&self, events: &[Event]) -> Result<InsertOutcome, StoreError> {
        Ok(self
            .insert_groups(&[events])?
            .into_iter()
            .next()
            .unwrap_or_default())
    }

    /// [`ReportSource::summary`](crate::store::ReportSource::summary).
    pub fn summary(&self, site: &str, mode: Mode) -> Result<Summary, StoreError> {
        let conn = self.reader();
        // On `event_rows` (kind 0: page view, see `row`): distinct visitors by their ids,
        // from the `(site, visitor)` index, without decoding each row's visitor.
        let mut events = conn.prepare_cached(
            "SELECT count(*) FILTER (WHERE kind = 0), count(DISTINCT visitor), count(*)
             FROM event_rows WHERE site = (SELECT id FROM strings WHERE value = ?1)",
        )?;
        let (pageviews, visitors, events) =
            events.query_row([site], |r| Ok((count(r, 0)?, count(r, 1)?, count(r, 2)?)))?;
        let mut sessions = conn.prepare_cached(
            "SELECT count(*), coalesce(sum(bounce), 0), coalesce(avg(duration_ms), 0.0)
             FROM sessions WHERE site = ?1",
        )?;
        let (sessions, bounces, mean_duration) = sessions.query_row([site], |r| {
            Ok((count(r, 0)?, count(r, 1)?, r.get::<_, f64>(2)?))
        })?;
        let persons = identity::persons(&conn, site, mode)?;
        Ok(Summary {
            site: site.to_string(),
            pageviews,
            visitors,
            persons,
            sessions,
            events,
            bounce_rate: if sessions == 0 {
                0.0
            } else {
                bounces as f64 / sessions as f64
            },
            mean_duration_ms: mean_duration.round().max(0.0) as u64,
        })
    }

    /// [`IdentityState::identity_memory`](crate::store::IdentityState::identity_memory).
    pub fn identity_memory(
        &self,
        site: &str,
        client_id: Option<&str>,
        fingerprint: &str,
        day: i64,
    ) -> Result<Memory, StoreError> {
        // On the writer: the ingest writer asks between its commits (the connection is
        // free then), and a slow report holding the readers must not stall ingest.
        identity::memory(&self.writer(), site, client_id, fingerprint, day)
    }

    /// [`IdentityState::fingerprint_shared`](crate::store::IdentityState::fingerprint_shared).
    pub fn fingerprint_shared(
        &self,
        site: &str,
        fingerprint: &str,
        day: i64,
    ) -> Result<bool, StoreError> {
        identity::fingerprint_shared(&self.reader(), site, fingerprint, day)
    }

    /// [`IdentityState::cookie_ids`](crate::store::IdentityState::cookie_ids).
    pub fn cookie_ids(&self, site: &str, visitor: &str, day: i64) -> Result<u32, StoreError> {
        // On the writer, as `identity_memory`.
        identity::cookie_ids(&self.writer(), site, visitor, day)
    }

    /// [`IdentityState::person`](crate::store::IdentityState::person).
    pub fn person(
        &self,
        site: &str,
        visitor: &str,
        mode: Mode,
    ) -> Result<Option<Person>, StoreError> {
        identity::person(&self.reader(), site, visitor, mode)
    }

    /// [`IdentityState::explain`](crate::store::IdentityState::explain).
    pub fn explain(
        &self,
        site: &str,
        a: &str,
        b: &str,
        mode: Mode,
    ) -> Result<Option<Vec<LinkView>>, StoreError> {
        let links = identity::component_links(&self.reader(), site, a)?;
        Ok(graph::explain(&links, mode, a, b)
            .map(|chain| chain.into_iter().map(LinkView::from).collect()))
    }

    /// [`IdentityState::refused`](crate::store::IdentityState::refused).
    pub fn refused(
        &self,
        site: &str,
        a: &str,
        b: &str,
        mode: Mode,
    ) -> Result<Vec<LinkView>, StoreError> {
        identity::refused(&self.reader(), site, a, b, mode)
    }

    /// [`IdentityState::event_persons`](crate::store::IdentityState::event_persons).
    pub fn event_persons(
        &self,
        site: &str,
        mode: Mode,
    ) -> Result<Vec<(String, String)>, StoreError> {
        identity::event_persons(&self.reader(), site, mode)
    }

    /// [`IdentityState::undo_link`](crate::store::IdentityState::undo_link).
    pub fn deactivate_link(&self, id: i64) -> Result<bool, StoreError> {
        identity::deactivate_link(&self.writer(), id)
    }

    /// [`IdentityState::daily_salt`](crate::store::IdentityState::daily_salt).
    pub fn daily_salt(&self, day: i64) -> Result<[u8; 32], StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        // The timer ([`SaltExpiry`](crate::identity::salt::SaltExpiry)) does this hourly;
        // doing it here too keeps a store driven by a fast manual clock small.
        delete_salts_before(&tx, day - 1)?;
        let salt = get_or_create_blob(
            &tx,
            "SELECT salt FROM daily_salts WHERE day = ?1",
            "INSERT OR REPLACE INTO daily_salts (day, salt) VALUES (?1, ?2)",
            day,
        )?;
        tx.commit()?;
        Ok(salt)
    }

    /// [`IdentityState::secret`](crate::store::IdentityState::secret).
    pub fn secret(&self, name: &str) -> Result<[u8; 64], StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        let secret = get_or_create_blob(
            &tx,
            "SELECT value FROM secrets WHERE name = ?1",
            "INSERT OR REPLACE INTO secrets (name, value) VALUES (?1, ?2)",
            name,
        )?;
        tx.commit()?;
        Ok(secret)
    }

    /// [`IdentityState::credential`](crate::store::IdentityState::credential).
    pub fn credential(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .reader()
            .query_row("SELECT value FROM secrets WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// [`IdentityState::set_credential`](crate::store::IdentityState::set_credential).
    pub fn set_credential(&self, name: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        let conn = self.writer();
        match value {
            Some(value) => conn.execute(
                "INSERT OR REPLACE INTO secrets (name, value) VALUES (?1, ?2)",
                params![name, value],
            )?,
            None => conn.execute("DELETE FROM secrets WHERE name = ?1", [name])?,
        };
        Ok(())
    }

    /// [`Maintenance::purge_before`](crate::store::Maintenance::purge_before).
    pub fn purge_before(&self, cutoff_ms: i64) -> Result<Purged, StoreError> {
        let purged = retention::purge_before(self, cutoff_ms);
        self.shared.deletions.fetch_add(1, Ordering::SeqCst);
        purged
    }

    /// [`Maintenance::export`](crate::store::Maintenance::export).
    pub fn export(&self, site: &str, subject: &Subject) -> Result<SubjectExport, StoreError> {
        erasure::export(&self.reader(), site, subject)
    }

    /// [`Maintenance::erase`](crate::store::Maintenance::erase).
    pub fn erase(&self, site: &str, subject: &Subject) -> Result<Erased, StoreError> {
        let mut conn = self.writer();
        let erased = erasure::erase(&mut conn, site, subject);
        self.shared.deletions.fetch_add(1, Ordering::SeqCst);
        let erased = erased?;
        // The erasure swept strings the cache may hold.
        self.dict().forget();
        // The rows are zeroed in the pages (secure_delete); their earlier copies in the WAL
        // go with the checkpoint.
        checkpoint(&conn)?;
        Ok(erased)
    }

    /// [`IdentityState::expire_salts`](crate::store::IdentityState::expire_salts).
    pub fn expire_salts(&self, today: i64) -> Result<usize, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        let deleted = delete_salts_before(&tx, today - 1)?;
        tx.commit()?;
        Ok(deleted)
    }

    /// [`EventSink::identity_epoch`](crate::store::EventSink::identity_epoch).
    pub fn identity_epoch(&self) -> u64 {
        // Erasures and purges through this store, and every commit of another connection
        // to the file (`data_version` moves then, and only then): a sibling process, or
        // `spoor-collector erase` run beside the server.
        let here = self.shared.deletions.load(Ordering::SeqCst);
        let elsewhere = self
            .writer()
            .query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0))
            // Unreadable: a value that never repeats, so the caches are dropped.
            .map_or(u64::MAX - here, |v| v as u64);
        here.wrapping_add(elsewhere << 32)
    }

    /// [`Maintenance::ping`](crate::store::Maintenance::ping).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.reader().query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }

    /// [`EventSink::append_failed`](crate::store::EventSink::append_failed).
    pub fn insert_failed(&self, rows: &[FailedEvent], keep: usize) -> Result<(), StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        failed::insert(&tx, rows, keep)?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::{ClientEvent, Context, EventKind, Utm};
    use crate::identity::Evidence;

    /// A page view of site `demo` by `visitor` in `session`, with id `id`.
    /// A page view of `visitor` in `session`, for tests across the crate.
    pub(crate) fn event(id: u128, visitor: &str, session: &str) -> Event {
        Event {
            site: "demo".into(),
            client: ClientEvent {
                id: uuid::Uuid::from_u128(id),
                kind: EventKind::Pageview,
                url: "https://example.com/a".into(),
                hostname: "example.com".into(),
                path: "/a".into(),
                referrer: None,
                title: Some("A".into()),
                client_id: Some(visitor.into()),
                session: Some(session.into()),
                reset: false,
                signature: None,
                ts: 1_780_000_000_000,
                context: Context::default(),
                utm: Utm::default(),
            },
            visitor: visitor.into(),
            evidence: Evidence::ClientId,
            identity: crate::event::IdentityEffects::default(),
            received: 1_780_000_000_001,
        }
    }

    #[test]
    fn the_same_id_is_stored_once() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let first = store.insert_events(&[event(1, "v1", "s1"), event(2, "v1", "s1")])?;
        assert_eq!(
            first,
            InsertOutcome {
                stored: 2,
                duplicates: 0
            }
        );
        let again = store.insert_events(&[event(2, "v1", "s1"), event(3, "v2", "s2")])?;
        assert_eq!(
            again,
            InsertOutcome {
                stored: 1,
                duplicates: 1
            }
        );
        let s = store.summary("demo", Mode::Inclusive)?;
        assert_eq!(
            (s.pageviews, s.visitors, s.sessions, s.events),
            (3, 2, 2, 3)
        );
        assert_eq!(store.summary("other", Mode::Inclusive)?.events, 0);
        Ok(())
    }

    #[test]
    fn a_file_store_survives_reopening_with_its_secrets() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|source| StoreError::Io {
            path: "tmp".into(),
            source,
        })?;
        let path = dir.path().join("nested/dir/spoor.db");
        let key = {
            let store = SqliteStore::open(&path)?;
            store.insert_events(&[event(1, "v1", "s1")])?;
            store.secret("cookie-key")?
        };
        let store = SqliteStore::open(&path)?;
        assert_eq!(store.secret("cookie-key")?, key);
        assert_ne!(store.secret("other")?, key);
        assert_eq!(store.summary("demo", Mode::Inclusive)?.pageviews, 1);
        Ok(())
    }

    #[test]
    fn credentials_are_kept_replaced_and_deleted() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        assert_eq!(store.credential("admin")?, None);
        store.set_credential("admin", Some(b"hash-1"))?;
        store.set_credential("admin", Some(b"hash-2"))?;
        assert_eq!(store.credential("admin")?, Some(b"hash-2".to_vec()));
        let key = store.secret("session-key")?;
        store.set_credential("session-key", None)?;
        assert_ne!(
            store.secret("session-key")?,
            key,
            "a deleted secret is made anew"
        );
        store.set_credential("admin", None)?;
        assert_eq!(store.credential("admin")?, None);
        Ok(())
    }

    #[test]
    fn salts_older_than_two_days_are_deleted() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let d0 = store.daily_salt(100)?;
        assert_eq!(d0, store.daily_salt(100)?);
        let d1 = store.daily_salt(101)?;
        assert_ne!(d0, d1);
        let count = |s: &SqliteStore| -> Result<i64, StoreError> {
            Ok(s.reader()
                .query_row("SELECT count(*) FROM daily_salts", [], |r| r.get(0))?)
        };
        assert_eq!(count(&store)?, 2, "yesterday's salt is kept for a day");
        store.daily_salt(102)?;
        assert_eq!(count(&store)?, 2, "the salt of day 100 is gone on day 102");
        Ok(())
    }
}
