//! Sessionizing inside the insert transaction: each new event is given to
//! [`session::assign`](crate::session::assign) with its visitor's latest session, and the
//! sessions it touched are written back before the commit.
//!
//! A batch reads each visitor's latest session once (one indexed lookup on
//! `(site, visitor, last_ts)`), keeps it in memory while the batch runs, and writes every
//! touched session once at the end, so a visitor's ten events cost one read and one write.
//!
//! An event row names its session by the session row's rowid (migration 0017), so the
//! writer gives a session its rowid when it starts it, before its first event's row is
//! written and before the session row itself is ([`SessionWriter::row_of`]): one more
//! than the largest rowid of `session_rows` and of the events' `session_id`, read once per
//! batch that starts a session (two index seeks), so a rowid is never given to two
//! sessions, even when the newest session was deleted but an event still names it.
//!
//! A session row also keeps the beacon's own session id of the event that started it
//! (`beacon`, migration 0018), so its events that carry the same one (most) store 0
//! instead of a string of the dictionary ([`SessionWriter::keeps_beacon_of`]); it is
//! written with the row and never changed.
//!
//! A session's last page and first pages (its [`SessionFacts`]) follow time, not arrival:
//! a page view later than everything its session holds is appended in memory; one that
//! arrives late (before the session's latest event) is placed by reading the session's
//! page views back in time order at the write-back (only such a session pays that read).

use std::collections::{HashMap, HashSet};

use rusqlite::types::Type;
use rusqlite::{OptionalExtension, Transaction, params};
use uuid::Uuid;

use super::dict::Dict;
use super::reports::rollup::{Rollups, SessionFacts, SessionState};
use super::reports::settle;
use crate::event::Event;
use crate::reports::range::DAY_MS;
use crate::session::{self, Assignment, Campaign, Hit, Session, SessionRules};
use crate::store::{StoreError, random_bytes};

/// `(site, visitor)`.
type VisitorKey = (String, String);

/// Sessions read and changed by one transaction.
pub(super) struct SessionWriter<'r> {
    rules: &'r SessionRules,
    /// Each visitor's latest session (`None`: the visitor has none yet).
    latest: HashMap<VisitorKey, Option<Session>>,
    /// Sessions to write at the end, by id.
    touched: HashMap<Uuid, (VisitorKey, Session)>,
    /// What reports know of each session seen by this transaction, by id.
    facts: HashMap<Uuid, SessionFacts>,
    /// Sessions as they were stored before this transaction, with their facts (their
    /// rollup contribution is taken back before the new one is added).
    original: HashMap<Uuid, (Session, SessionFacts)>,
    /// Sessions given a page view earlier than their latest event: their last page and
    /// flow are read back in time order before the write-back.
    late: HashSet<Uuid>,
    /// The rowid of each session seen by this transaction (loaded or started), by id.
    rows: HashMap<Uuid, i64>,
    /// The rowid the next started session gets (`None`: not read yet in this transaction).
    next_row: Option<i64>,
    /// The beacon's session id each session seen by this transaction keeps in its row
    /// (`None`: none), by id.
    beacons: HashMap<Uuid, Option<String>>,
    /// The latest arrival (`received`) of each session's events in this transaction.
    arrived: HashMap<Uuid, i64>,
}

impl<'r> SessionWriter<'r> {
    pub(super) fn new(rules: &'r SessionRules) -> SessionWriter<'r> {
        SessionWriter {
            rules,
            latest: HashMap::new(),
            touched: HashMap::new(),
            facts: HashMap::new(),
            original: HashMap::new(),
            late: HashSet::new(),
            rows: HashMap::new(),
            next_row: None,
            beacons: HashMap::new(),
            arrived: HashMap::new(),
        }
    }

    /// Where `event` would go; nothing changes until [`SessionWriter::record`].
    pub(super) fn assign(
        &mut self,
        tx: &Transaction<'_>,
        event: &Event,
    ) -> Result<Assignment, StoreError> {
        let key = (event.site.clone(), event.visitor.clone());
        let current = match self.latest.get(&key) {
            Some(cached) => cached.clone(),
            None => {
                let loaded = load_latest(tx, &key)?;
                if let Some((s, facts, row, beacon)) = &loaded {
                    self.rows.insert(s.id, *row);
                    self.beacons.insert(s.id, beacon.clone());
                    self.facts.insert(s.id, facts.clone());
                    self.original.insert(s.id, (s.clone(), facts.clone()));
                }
                let loaded = loaded.map(|(s, _, _, _)| s);
                self.latest.insert(key, loaded.clone());
                loaded
            }
        };
        let c = &event.client;
        let campaign = Campaign {
            source: c.utm.source.clone(),
            medium: c.utm.medium.clone(),
            campaign: c.utm.campaign.clone(),
        };
        let hit = Hit {
            ts: c.ts,
            kind: &c.kind,
            path: &c.path,
            campaign: &campaign,
        };
        let mut failed = None;
        let assignment = session::assign(self.rules, current.as_ref(), &hit, || {
            // Time-ordered (UUIDv7 from the time it is made). While events named their
            // session by this id (a dictionary string, before v17) and `sessions_id`
            // indexed it (before v19), a random id put each new session on a random page
            // of both indexes, a quarter of the pages a commit wrote; an index on it, or
            // an export sorted by it, still keeps that order.
            random_bytes::<10>()
                .map(|b| {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                    uuid::Builder::from_unix_timestamp_millis(now, &b).into_uuid()
                })
                .unwrap_or_else(|e| {
                    failed = Some(e);
                    Uuid::nil()
                })
        });
        if let Some(e) = failed {
            return Err(e);
        }
        if let Assignment::Start(s) = &assignment {
            let row = match self.next_row {
                Some(row) => row,
                None => next_row(tx)?,
            };
            self.next_row = Some(row + 1);
            self.rows.insert(s.id, row);
            self.beacons.insert(s.id, event.client.session.clone());
        }
        Ok(assignment)
    }

    /// Whether `event`'s own (beacon) session id is the one the row of the session
    /// `assignment` puts it in keeps: the event row then stores 0 for it.
    pub(super) fn keeps_beacon_of(&self, assignment: &Assignment, event: &Event) -> bool {
        event.client.session.is_some()
            && self.beacons.get(&session_id(assignment)) == Some(&event.client.session)
    }

    /// The rowid in `session_rows` of the session `assignment` (from [`Self::assign`])
    /// puts an event in: the stored row of a session it continues, the one allocated for a
    /// session it starts.
    pub(super) fn row_of(&self, assignment: &Assignment) -> Result<i64, StoreError> {
        let id = session_id(assignment);
        self.rows.get(&id).copied().ok_or_else(|| no_row(id))
    }

    /// The page viewed before `event` in the session `assignment` puts it in (`None`:
    /// it is the session's first page view), for the `prev_path` column.
    pub(super) fn prev_page(&self, event: &Event, assignment: &Assignment) -> Option<String> {
        match (&event.client.kind, assignment) {
            (crate::event::EventKind::Pageview, Assignment::Continue(s)) => {
                self.facts.get(&s.id).and_then(|f| f.last_page.clone())
            }
            _ => None,
        }
    }

    /// Keeps `assignment` of `event` (which was stored) for the write-back.
    pub(super) fn record(&mut self, event: &Event, assignment: Assignment) {
        let key = (event.site.clone(), event.visitor.clone());
        // A page view before the latest event of the session it continues (only the
        // latest is continued): where it goes among the pages is decided by time.
        if let Assignment::Continue(s) = &assignment
            && matches!(event.client.kind, crate::event::EventKind::Pageview)
            && self
                .latest
                .get(&key)
                .and_then(Option::as_ref)
                .is_some_and(|l| l.id == s.id && event.client.ts < l.last_ts)
        {
            self.late.insert(s.id);
        }
        let facts = match &assignment {
            Assignment::Start(s) => self
                .facts
                .entry(s.id)
                .or_insert_with(|| SessionFacts::start(event)),
            Assignment::Continue(s) => self.facts.entry(s.id).or_default(),
        };
        if !self.late.contains(&session_id(&assignment)) {
            facts.add(event);
        }
        let session = match assignment {
            Assignment::Continue(s) | Assignment::Start(s) => s,
        };
        let arrived = self.arrived.entry(session.id).or_insert(event.received);
        *arrived = (*arrived).max(event.received);
        let latest = self.latest.entry(key.clone()).or_default();
        // A started session that ends before the latest one (a late event) does not
        // replace it; on equal last times the newer session is the latest, as in the
        // lookup's `rowid DESC`.
        if latest
            .as_ref()
            .is_none_or(|l| l.id == session.id || session.last_ts >= l.last_ts)
        {
            *latest = Some(session.clone());
        }
        self.touched.insert(session.id, (key, session));
    }

    /// How many sessions [`SessionWriter::flush`] will write.
    pub(super) fn touched(&self) -> usize {
        self.touched.len()
    }

    /// Writes every touched session, and its change to the `rollups`; an unsettled one
    /// is due to settle `idle_ms` after its latest arrival (see [`settle`]).
    pub(super) fn flush(
        self,
        tx: &Transaction<'_>,
        dict: &mut Dict,
        rollups: &mut Rollups,
        idle_ms: i64,
    ) -> Result<(), StoreError> {
        // Every string as its dictionary id. A new session's references are counted here,
        // once per string per batch with the event rows' (`Dict::count`); a stored one's
        // UPSERT is an update, whose changed strings the trigger `session_rows_reref`
        // (migration 0014) moves.
        // A started session is inserted with the rowid its events already name; a stored
        // one is updated by its rowid (nothing looks a session up by its id, which has no
        // index since migration 0019).
        let mut insert = tx.prepare_cached(
            "INSERT INTO session_rows (id, site, visitor, start_ts, last_ts, entry_path,
                 exit_path, pageviews, events, engaged, utm_source, utm_medium, utm_campaign,
                 day, source, source_class, browser, os, device, country, last_page, flow,
                 rowid, beacon)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                 ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)",
        )?;
        let mut update = tx.prepare_cached(
            "UPDATE session_rows SET start_ts = ?2, last_ts = ?3, entry_path = ?4,
                 exit_path = ?5, pageviews = ?6, events = ?7, engaged = ?8, last_page = ?9,
                 flow = ?10
             WHERE rowid = ?1",
        )?;
        // In rowid order (started sessions got theirs in the order they were recorded, the
        // order of the lookup's tie-break), which also makes the writes deterministic.
        let mut touched: Vec<_> = self
            .touched
            .into_values()
            .map(|(key, s)| (self.rows.get(&s.id).copied(), key, s))
            .collect();
        touched.sort_by_key(|(row, _, _)| *row);
        for (row, (site, visitor), s) in touched {
            let row = row.ok_or_else(|| no_row(s.id))?;
            let mut facts = self.facts.get(&s.id).cloned().unwrap_or_default();
            if self.late.contains(&s.id) {
                pages_in_time_order(tx, row, &mut facts)?;
            }
            if let Some((old, old_facts)) = self.original.get(&s.id) {
                let before = SessionState {
                    site: &site,
                    visitor: &visitor,
                    session: old,
                    facts: old_facts,
                };
                rollups.session(&before, -1);
            }
            rollups.session(
                &SessionState {
                    site: &site,
                    visitor: &visitor,
                    session: &s,
                    facts: &facts,
                },
                1,
            );
            settle::touched(
                tx,
                &settle::Touched {
                    id: &s.id.as_bytes()[..],
                    site: &site,
                    day: s.start_ts.div_euclid(DAY_MS),
                    visitor: &visitor,
                    entry: &s.entry_path,
                    exit: facts.last_page.as_deref().unwrap_or(&s.exit_path),
                    new: !self.original.contains_key(&s.id),
                },
                self.arrived
                    .get(&s.id)
                    .copied()
                    .unwrap_or(i64::MIN)
                    .saturating_add(idle_ms),
            )?;
            let visitor_key = dict.key(tx, &visitor)?;
            let mut text = |v: Option<&str>| dict.opt(tx, v);
            let strings = [
                text(Some(&site))?,
                Some(visitor_key),
                text(Some(&s.entry_path))?,
                text(Some(&s.exit_path))?,
                text(s.campaign.source.as_deref())?,
                text(s.campaign.medium.as_deref())?,
                text(s.campaign.campaign.as_deref())?,
                text(facts.source.as_deref())?,
                text(facts.source_class.as_deref())?,
                text(facts.browser.as_deref())?,
                text(facts.os.as_deref())?,
                text(facts.device.as_deref())?,
                text(facts.country.as_deref())?,
                text(facts.last_page.as_deref())?,
                text(facts.flow_text().as_deref())?,
            ];
            // A session this batch started (one it continues was loaded, see `assign`).
            let started = !self.original.contains_key(&s.id);
            if started {
                dict.count(strings.iter().flatten().copied());
            }
            let [
                site_id,
                visitor_id,
                entry,
                exit,
                utm_source,
                utm_medium,
                utm_campaign,
                source,
                source_class,
                browser,
                os,
                device,
                country,
                last_page,
                flow,
            ] = strings;
            if !started {
                update.execute(params![
                    row,
                    s.start_ts,
                    s.last_ts,
                    entry,
                    exit,
                    s.pageviews,
                    s.events,
                    s.engaged,
                    last_page,
                    flow,
                ])?;
                continue;
            }
            insert.execute(params![
                &s.id.as_bytes()[..],
                site_id,
                visitor_id,
                s.start_ts,
                s.last_ts,
                entry,
                exit,
                s.pageviews,
                s.events,
                s.engaged,
                utm_source,
                utm_medium,
                utm_campaign,
                s.day,
                source,
                source_class,
                browser,
                os,
                device,
                country,
                last_page,
                flow,
                row,
                stored_beacon(self.beacons.get(&s.id)),
            ])?;
        }
        Ok(())
    }
}

/// A session without a rowid: cannot happen (every session [`SessionWriter::assign`]
/// returns was loaded with its rowid or given one), but not worth a panic of the writer.
fn no_row(id: Uuid) -> StoreError {
    StoreError::Backend {
        engine: "sqlite",
        message: format!("session {id} has no row"),
    }
}

/// The id of the session `assignment` puts an event in.
fn session_id(assignment: &Assignment) -> Uuid {
    match assignment {
        Assignment::Continue(s) | Assignment::Start(s) => s.id,
    }
}

/// A session's page views in time order, through `events_session` (the plan is tested).
/// The session is bound as its rowid, what `event_rows.session_id` holds.
const PAGES_IN_TIME_SQL: &str = "SELECT p.value FROM event_rows e JOIN strings p ON p.id = e.path
     WHERE e.session_id = ?1 AND e.kind = 0
     ORDER BY e.ts, e.rowid";

/// Sets `facts`' last page and flow from the stored page views of the session in row `row`
/// (this transaction's included) in time order, ties in the order they were stored, as
/// the backfill orders them.
fn pages_in_time_order(
    tx: &Transaction<'_>,
    row: i64,
    facts: &mut SessionFacts,
) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(PAGES_IN_TIME_SQL)?;
    let mut rows = stmt.query(params![row])?;
    facts.last_page = None;
    facts.flow.clear();
    while let Some(r) = rows.next()? {
        let path: String = r.get(0)?;
        facts.add_page(&path);
    }
    Ok(())
}

/// The columns [`read_session`] reads, in its order.
pub(super) const SESSION_COLUMNS: &str = "id, start_ts, last_ts, entry_path, exit_path, pageviews,
    events, engaged, utm_source, utm_medium, utm_campaign, day,
    source, source_class, browser, os, device, country, last_page, flow";

/// A session and what reports know of it, from [`SESSION_COLUMNS`] starting at column
/// `first` of `r`.
pub(super) fn read_session(
    r: &rusqlite::Row<'_>,
    first: usize,
) -> rusqlite::Result<(Session, SessionFacts)> {
    let id: String = r.get(first)?;
    let session = Session {
        id: Uuid::parse_str(&id).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(first, Type::Text, Box::new(e))
        })?,
        start_ts: r.get(first + 1)?,
        last_ts: r.get(first + 2)?,
        entry_path: r.get(first + 3)?,
        exit_path: r.get(first + 4)?,
        pageviews: r.get(first + 5)?,
        events: r.get(first + 6)?,
        engaged: r.get(first + 7)?,
        campaign: Campaign {
            source: r.get(first + 8)?,
            medium: r.get(first + 9)?,
            campaign: r.get(first + 10)?,
        },
        day: r.get(first + 11)?,
    };
    let facts = SessionFacts {
        source: r.get(first + 12)?,
        source_class: r.get(first + 13)?,
        browser: r.get(first + 14)?,
        os: r.get(first + 15)?,
        device: r.get(first + 16)?,
        country: r.get(first + 17)?,
        last_page: r.get(first + 18)?,
        flow: SessionFacts::flow_from(r.get(first + 19)?),
    };
    Ok((session, facts))
}

/// The lookup of a visitor's latest session: [`SESSION_COLUMNS`], then its rowid and
/// the beacon's session id its row keeps (as stored).
pub(super) fn latest_sql() -> String {
    format!(
        "SELECT {SESSION_COLUMNS}, rowid,
             (SELECT beacon FROM session_rows r WHERE r.rowid = sessions.rowid)
         FROM sessions WHERE rowid = (SELECT rowid FROM session_rows
             WHERE site = (SELECT id FROM strings WHERE value = ?1)
               AND visitor = (SELECT id FROM strings WHERE value = {})
             ORDER BY last_ts DESC, rowid DESC LIMIT 1)",
        super::dict::id_key_sql("?2")
    )
}

/// A visitor's latest session as [`load_latest`] reads it: the session, what reports
/// know of it, its rowid and the beacon's session id its row keeps.
type Latest = (Session, SessionFacts, i64, Option<String>);

/// The visitor's session with the latest last event (the newest one on a tie), with what
/// reports know of it, its rowid and its beacon session.
fn load_latest(tx: &Transaction<'_>, key: &VisitorKey) -> Result<Option<Latest>, StoreError> {
    let mut stmt = tx.prepare_cached(&latest_sql())?;
    let session = stmt
        .query_row(params![key.0, key.1], |r| {
            let (session, facts) = read_session(r, 0)?;
            let beacon = match r.get::<_, rusqlite::types::Value>(21)? {
                rusqlite::types::Value::Blob(b) => <[u8; 16]>::try_from(b.as_slice())
                    .ok()
                    .map(|b| Uuid::from_bytes(b).hyphenated().to_string()),
                rusqlite::types::Value::Text(t) => Some(t),
                _ => None,
            };
            Ok((session, facts, r.get(20)?, beacon))
        })
        .optional()?;
    Ok(session)
}

/// How a session row keeps the beacon's session id `beacon`: a canonical UUID as its 16
/// bytes, anything else as its text (the dictionary's forms of an id).
fn stored_beacon(beacon: Option<&Option<String>>) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match beacon.and_then(Option::as_deref) {
        None => Value::Null,
        Some(b) => match super::dict::uuid_bytes(b) {
            Some(bytes) => Value::Blob(bytes.to_vec()),
            None => Value::Text(b.to_string()),
        },
    }
}

/// The rowid for the next session started: above every rowid of `session_rows` and every
/// session an event row names (whose row may have been deleted), so it names no other
/// session's events. Two index seeks (the rowid's b-tree, `events_session`).
fn next_row(tx: &Transaction<'_>) -> Result<i64, StoreError> {
    Ok(tx
        .prepare_cached(NEXT_ROW_SQL)?
        .query_row([], |r| r.get(0))?)
}

/// [`next_row`]'s query (its plan is tested).
const NEXT_ROW_SQL: &str = "SELECT max(coalesce((SELECT max(rowid) FROM session_rows), 0),
        coalesce((SELECT max(session_id) FROM event_rows), 0)) + 1";

#[cfg(test)]
mod tests {
    use crate::store::StoreError;
    use crate::store::sqlite::SqliteStore;
    use crate::store::sqlite::tests::event;

    const MIN: i64 = 60_000;

    /// `(entry, exit, pageviews, events, duration_ms, bounce)` of a session.
    type Row = (String, String, i64, i64, i64, bool);

    /// Every session, by start.
    fn sessions(store: &SqliteStore) -> Result<Vec<Row>, StoreError> {
        let conn = store.reader();
        let mut stmt = conn.prepare(
            "SELECT entry_path, exit_path, pageviews, events, duration_ms, bounce
             FROM sessions ORDER BY start_ts, rowid",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn at(id: u128, visitor: &str, ts: i64, path: &str) -> crate::event::Event {
        let mut e = event(id, visitor, "beacon-session");
        e.client.ts = ts;
        e.client.path = path.into();
        e
    }

    #[test]
    fn a_session_continues_across_batches_and_duplicates_count_once() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let t = 1_780_000_000_000;
        store.insert_events(&[at(1, "v", t, "/a")])?;
        store.insert_events(&[at(1, "v", t, "/a"), at(2, "v", t + MIN, "/b")])?;
        store.insert_groups(&[
            &[at(2, "v", t + MIN, "/b")],
            &[at(3, "v", t + 2 * MIN, "/c")],
        ])?;
        let expected = ("/a".into(), "/c".into(), 3, 3, 2 * MIN, false);
        assert_eq!(sessions(&store)?, [expected]);
        let ids = store.reader().query_row(
            "SELECT count(DISTINCT session_id), count(*) FROM events",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )?;
        assert_eq!(ids, (1, 3));
        Ok(())
    }

    /// A new session's id is a UUIDv7 of the time it was made, so ids made later sort
    /// after earlier ones (the id indexes grow at their end); the random part keeps ids
    /// of the same millisecond apart.
    #[test]
    fn new_session_ids_are_time_ordered() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let t = 1_780_000_000_000;
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let mut ids = Vec::new();
        for i in 0..3u128 {
            store.insert_events(&[at(i + 1, &format!("v{i}"), t, "/")])?;
            ids.push(store.reader().query_row(
                "SELECT session_id FROM events ORDER BY rowid DESC LIMIT 1",
                [],
                |r| r.get::<_, String>(0),
            )?);
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, ids);
        for id in &ids {
            let uuid = uuid::Uuid::parse_str(id).map_err(|e| StoreError::Task(e.to_string()))?;
            assert_eq!(uuid.get_version_num(), 7, "{id}");
            let (secs, nanos) = uuid
                .get_timestamp()
                .map(|ts| ts.to_unix())
                .ok_or_else(|| StoreError::Task("no timestamp".into()))?;
            let ms = u128::from(secs) * 1000 + u128::from(nanos / 1_000_000);
            assert!(ms >= before && ms < before + 60_000, "{id}");
        }
        Ok(())
    }

    /// An event names its session by the session row's rowid (migration 0017), given
    /// before either row is written: the session's 16-byte id is stored once, in its row,
    /// not again as a string of the dictionary and its index.
    #[test]
    fn an_event_names_its_session_by_the_rows_rowid() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let t = 1_780_000_000_000;
        store.insert_events(&[at(1, "v", t, "/a"), at(2, "w", t, "/a")])?;
        store.insert_events(&[at(3, "v", t + MIN, "/b"), at(4, "v", t + 40 * MIN, "/c")])?;
        let conn = store.reader();
        let named: Vec<(i64, Option<i64>, Option<i64>)> = conn
            .prepare(
                "SELECT e.rowid, e.session_id, s.rowid FROM event_rows e
                 LEFT JOIN sessions s ON s.id = (SELECT session_id FROM events
                                                 WHERE rowid = e.rowid)
                 ORDER BY e.rowid",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        assert_eq!(
            named,
            [
                (1, Some(1), Some(1)),
                (2, Some(2), Some(2)),
                (3, Some(1), Some(1)),
                (4, Some(3), Some(3)),
            ]
        );
        let as_strings: i64 = conn.query_row(
            "SELECT count(*) FROM strings WHERE value IN (SELECT id FROM session_rows)",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(as_strings, 0);
        Ok(())
    }

    /// The beacon's own session id is kept once, by the session row, for the events that
    /// carry the one their session started with; another (a second tab) is still a
    /// string. Every event reads back the id it was sent with.
    #[test]
    fn the_beacon_session_of_a_sessions_events_is_kept_by_its_row() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let t = 1_780_000_000_000;
        let tab = |id: u128, ts: i64, beacon: Option<&str>| {
            let mut e = at(id, "v", ts, "/a");
            e.client.session = beacon.map(str::to_string);
            e
        };
        let first = "5e55e55e-0000-4000-8000-000000000001";
        let second = "5e55e55e-0000-4000-8000-000000000002";
        store.insert_events(&[tab(1, t, Some(first)), tab(2, t + MIN, Some(second))])?;
        store.insert_events(&[tab(3, t + 2 * MIN, Some(first)), tab(4, t + 3 * MIN, None)])?;
        let conn = store.reader();
        let stored: Vec<Option<i64>> = conn
            .prepare("SELECT session FROM event_rows ORDER BY rowid")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        assert_eq!(stored[0], Some(0));
        assert_eq!(stored[2], Some(0), "continued in a later batch");
        assert!(stored[1].is_some_and(|s| s > 0), "{stored:?}");
        assert_eq!(stored[3], None);
        let read: Vec<Option<String>> = conn
            .prepare("SELECT session FROM events ORDER BY ts")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        assert_eq!(
            read,
            [
                Some(first.into()),
                Some(second.into()),
                Some(first.into()),
                None
            ]
        );
        let kept: i64 = conn.query_row(
            "SELECT count(*) FROM strings
             WHERE value = x'5e55e55e000040008000000000000001'",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(kept, 0, "the session row holds it");
        Ok(())
    }

    /// A session started after the newest session row was deleted while its events were
    /// kept (by hand: retention and erasure delete the events with it) does not take its
    /// rowid, which would put those events in the new session.
    #[test]
    fn a_new_session_never_takes_a_rowid_an_event_still_names() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let t = 1_780_000_000_000;
        store.insert_events(&[at(1, "v", t, "/a")])?;
        store.writer().execute("DELETE FROM session_rows", [])?;
        store.insert_events(&[at(2, "w", t, "/w")])?;
        let conn = store.reader();
        let per_session: Vec<(Option<String>, i64)> = conn
            .prepare(
                "SELECT s.visitor, count(*) FROM events e
                 LEFT JOIN sessions s ON s.id = e.session_id
                 GROUP BY 1 ORDER BY 1",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        assert_eq!(per_session, [(None, 1), (Some("w".into()), 1)]);
        Ok(())
    }

    /// The reads every event makes are prepared once and then only re-bound: none is
    /// prepared again when its parameters change (SQLite does so for a statement whose
    /// plan a bound value may change, once rusqlite clears its bindings), nor evicted from
    /// the statement cache by the others of the write (a new statement starts its run
    /// count at 0).
    #[test]
    fn the_reads_of_each_event_are_not_prepared_again() -> Result<(), StoreError> {
        use rusqlite::StatementStatus;
        let store = SqliteStore::open_in_memory()?;
        let t = 1_780_000_000_000;
        let day = t / 86_400_000;
        for i in 0..40u128 {
            let v = format!("v{i}");
            store.identity_memory("demo", Some(&v), &format!("fp_{i}"), day)?;
            // With what a browser's event brings along: a client id linked to its cookie's
            // visitor and a fingerprint seen, so every statement of the write runs.
            let mut e = at(i, &v, t + i as i64, "/a");
            e.identity = crate::event::IdentityEffects {
                fingerprint: format!("fp_{i}"),
                observe_fingerprint: true,
                links: vec![crate::identity::resolver::NewLink {
                    a: format!("id{i}"),
                    b: v.clone(),
                    kind: crate::identity::graph::LinkKind::ClientId,
                    confidence: 0.95,
                    verified: true,
                }],
                withdraw_fingerprint_links: false,
            };
            store.insert_events(&[e])?;
        }
        let conn = store.writer();
        for sql in [
            super::latest_sql(),
            crate::store::sqlite::identity::KNOWN_SQL.to_string(),
            crate::store::sqlite::identity::SEEN_SQL.to_string(),
        ] {
            let stmt = conn.prepare_cached(&sql)?;
            let runs = stmt.get_status(StatementStatus::Run);
            let again = stmt.get_status(StatementStatus::RePrepare);
            eprintln!(
                "{again} re-prepares in {runs} runs: {}",
                sql.split_whitespace().take(8).collect::<Vec<_>>().join(" ")
            );
            assert!(runs >= 40, "{runs} runs: not the statement the store runs");
            assert_eq!(again, 0, "prepared again: {sql}");
        }
        Ok(())
    }

    #[test]
    fn a_late_event_that_fits_nowhere_does_not_become_the_latest() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let t = 1_780_000_000_000;
        store.insert_events(&[at(1, "v", t, "/a"), at(2, "v", t - 40 * MIN, "/old")])?;
        store.insert_events(&[at(3, "v", t + MIN, "/b"), at(4, "w", t, "/w")])?;
        assert_eq!(
            sessions(&store)?,
            [
                ("/old".into(), "/old".into(), 1, 1, 0, true),
                ("/a".into(), "/b".into(), 2, 2, MIN, false),
                ("/w".into(), "/w".into(), 1, 1, 0, true),
            ]
        );
        let s = store.summary("demo", crate::identity::graph::Mode::Inclusive)?;
        assert_eq!((s.sessions, s.mean_duration_ms), (3, 20_000));
        assert!((s.bounce_rate - 2.0 / 3.0).abs() < 1e-9);
        Ok(())
    }

    /// A page view goes where its time puts it among its session's pages, whenever it
    /// arrives: `/b` (late, before a custom event) becomes the last page though `/d`
    /// arrives after it, and `/c` (before the start) heads the flow.
    #[test]
    fn the_writer_puts_a_late_page_view_where_its_time_goes() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let t = 1_780_000_000_000;
        let mut click = at(2, "v", t + 3 * MIN, "/a");
        click.client.kind = crate::event::EventKind::Custom(crate::event::Custom {
            name: "signup".into(),
            props: None,
        });
        store.insert_events(&[at(1, "v", t, "/a"), click])?;
        store.insert_events(&[at(3, "v", t + 2 * MIN, "/b")])?;
        store.insert_events(&[at(4, "v", t - MIN, "/c"), at(5, "v", t + MIN, "/d")])?;
        let facts: (String, String, String) = store.reader().query_row(
            "SELECT entry_path, last_page, flow FROM sessions",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        assert_eq!(facts, ("/c".into(), "/b".into(), "/c\n/a\n/d\n/b".into()));
        let exits: Vec<(String, i64)> = store
            .reader()
            .prepare("SELECT key, sessions FROM report_keys WHERE dim = 'exit' AND sessions > 0")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        assert_eq!(exits, [("/b".to_string(), 1)]);
        // Reading them back costs the session's events, not the site's.
        let plan: Vec<String> = store
            .reader()
            .prepare(&format!("EXPLAIN QUERY PLAN {}", super::PAGES_IN_TIME_SQL))?
            .query_map(["x"], |r| r.get(3))?
            .collect::<Result<_, _>>()?;
        assert!(
            plan.iter()
                .any(|s| s.contains("events_session (session_id=?)")),
            "{plan:?}"
        );
        Ok(())
    }

    /// Each index of `session_rows` (migration 0014; not the id's, migration 0019) and the
    /// query that needs it: a scan instead would make an event's write, an erasure or a
    /// report grow with the site.
    #[test]
    fn each_index_of_session_rows_serves_a_query() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let erasure = format!("SELECT * {}", crate::store::sqlite::erasure::SESSIONS);
        let queries = [
            // The rowid of a new session, once per transaction that starts one: the ends
            // of two b-trees, not a scan of either.
            (
                super::NEXT_ROW_SQL.to_string(),
                "USING COVERING INDEX events_session",
            ),
            // The writer's lookup of a visitor's latest session, through the view.
            (
                super::latest_sql(),
                "sessions_site_visitor_last (site=? AND visitor=?)",
            ),
            // Export and erasure of a subject's sessions.
            (erasure, "sessions_site_visitor_last (site=? AND visitor=?)"),
            // The exact reports' range (the `s` CTE of `exact.rs`) and retention.
            (
                "SELECT * FROM sessions WHERE site = ?1 AND start_ts >= ?2 AND start_ts < ?3"
                    .to_string(),
                "sessions_site_start (site=? AND start_ts>? AND start_ts<?)",
            ),
            // The writer's update of a stored session and the backfill's reads: by rowid,
            // what an event names its session by.
            (
                "SELECT last_ts FROM session_rows WHERE rowid = ?1".to_string(),
                "USING INTEGER PRIMARY KEY (rowid=?)",
            ),
        ];
        let conn = store.reader();
        let indexes: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'session_rows'
                 ORDER BY name",
            )?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        assert_eq!(
            indexes,
            ["sessions_site_start", "sessions_site_visitor_last"],
            "an index no query needs (the id's) costs bytes for nothing"
        );
        for (sql, index) in queries {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
            let args = vec!["x"; stmt.parameter_count()];
            let steps: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(args), |r| r.get(3))?
                .collect::<Result<_, _>>()?;
            assert!(steps.iter().any(|s| s.contains(index)), "{sql}: {steps:?}");
            assert!(
                !steps.iter().any(|s| s.starts_with("SCAN")
                    && !s.contains("VIRTUAL TABLE")
                    && s != "SCAN CONSTANT ROW"),
                "{sql}: {steps:?}"
            );
        }
        Ok(())
    }
}
