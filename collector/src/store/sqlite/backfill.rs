//! Filling the report data of a file written before the rollups existed (schema v1–v4),
//! from the events and sessions it holds: what the insert path would have written had
//! those events been stored by this collector.
//!
//! [`run`] is called by `migrate` inside the one transaction that applies migration 5
//! onwards to such a file and sets its version, so an interrupted upgrade (a crash, a
//! full disk, Ctrl-C) leaves the file at its old version with nothing of the backfill,
//! and the next start does it all again: the file is either old or fully upgraded,
//! never half filled. The price is a write-ahead log as large as what the backfill
//! changes, until the commit.
//!
//! Three passes, each over bounded chunks of rows, so memory does not grow with the file:
//! 1. **Events**, site by site in time order (then insertion order), [`CHUNK`] at a
//!    time: each page view's `prev_path` (the page viewed before it in its session, as
//!    `SessionWriter::prev_page` gives it), what the event adds to `report_hours` and
//!    `report_keys` ([`Rollups::counted`], the insert path's arithmetic), and each
//!    session's facts: its source and source class from its first event's referrer,
//!    `utm_source` and hostname ([`SessionFacts::first`]), its latest page and first
//!    [`FLOW_PAGES`](crate::store::rollup::FLOW_PAGES) page views. The `User-Agent`
//!    was never stored, so browser, OS and device are what an empty one classifies as
//!    (`Other`, `Other`, `desktop`), and the country is left NULL. A session's facts are
//!    written once the pass is past its last event; facts a session already has (a
//!    rebuild of a newer file) are kept. Events stored before v3 belong to no session:
//!    they count in hours, pages and events, and in no session.
//! 2. **Sessions**, by rowid, [`CHUNK`] at a time: each session's contribution
//!    ([`Rollups::session`]) from its row as pass 1 left it.
//! 3. **Persons**: `visitor_persons`, `person_stretches` and `person_sets` from the
//!    links, by replaying the component of each active link's ends ([`persons::relink`]),
//!    links taken [`CHUNK`] at a time; [`persons_again`] does this pass alone.
//!
//! The insert path orders a session's page views as they arrive; this one by time, then
//! by arrival. The two agree unless an event arrived after a later one of its session
//! (a retried beacon): then `prev_path`, the exit page and the flow follow time here.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rusqlite::{OptionalExtension, Transaction, params};

use super::SqliteStore;
use super::dict::Dict;
use super::reports::persons;
use super::reports::rollup::{Counted, Flush, Rollups, SessionFacts, SessionState};
use super::sessions::{SESSION_COLUMNS, read_session};
use crate::event::Props;
use crate::store::StoreError;

/// Rows read per chunk.
const CHUNK: usize = 20_000;

/// Rows (events, sessions, links) between two progress lines in the log.
const LOG_EVERY: u64 = 500_000;

/// What a backfill (or a rebuild) went through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Backfilled {
    /// Events counted into the rollups.
    pub events: u64,
    /// Sessions counted into the rollups.
    pub sessions: u64,
    /// Active links whose persons were written.
    pub links: u64,
}

/// Fills `prev_path`, the sessions' report columns, `report_hours`, `report_keys`,
/// `report_flows` and `visitor_persons` from the stored events, sessions and links; see
/// the module docs.
/// Expects those to be empty (`prev_path` and the session columns NULL), as migration 5
/// leaves them.
pub(super) fn run(tx: &Transaction<'_>) -> Result<Backfilled, StoreError> {
    run_chunked(tx, CHUNK)
}

/// Clears the report data (rollups, persons, `prev_path`, each session's latest page and
/// flow) and fills it again with [`run`]. The facts a session was given at ingest (source,
/// browser, OS, device, country) are kept.
fn rebuild(tx: &Transaction<'_>) -> Result<Backfilled, StoreError> {
    tx.execute_batch(
        "DELETE FROM report_hours;
         DELETE FROM report_keys;
         DELETE FROM report_flows;
         DELETE FROM visitor_persons;
         DELETE FROM person_stretches;
         DELETE FROM person_sets;
         UPDATE event_rows SET prev_path = NULL WHERE prev_path IS NOT NULL;
         UPDATE session_rows SET last_page = NULL, flow = NULL;",
    )?;
    run(tx)
}

impl SqliteStore {
    /// Clears the report data and computes it again from the stored events, sessions and
    /// links, with the code that backfills an upgraded file (see the module docs), in one
    /// transaction: a failure leaves the reports as they were. Holds the write lock
    /// throughout, so a collector writing to the same file waits (and answers `503`).
    pub fn rebuild_reports(&self) -> Result<Backfilled, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let done = rebuild(&tx)?;
        tx.commit()?;
        Ok(done)
    }
}

/// Clears the persons kept at write time and replays them from the links (pass 3 alone):
/// the upgrade to v20, whose persons are named by union by size.
pub(super) fn persons_again(tx: &Transaction<'_>) -> Result<Backfilled, StoreError> {
    tx.execute_batch(
        "DELETE FROM visitor_persons;
         DELETE FROM person_stretches;
         DELETE FROM person_sets;",
    )?;
    let mut done = Backfilled::default();
    links(tx, CHUNK, &mut done)?;
    Ok(done)
}

/// [`run`], reading `chunk` rows at a time.
fn run_chunked(tx: &Transaction<'_>, chunk: usize) -> Result<Backfilled, StoreError> {
    let total: i64 = tx.query_row("SELECT count(*) FROM events", [], |r| r.get(0))?;
    let total = u64::try_from(total).unwrap_or(0);
    if total > 0 {
        tracing::info!(
            events = total,
            "backfilling the report rollups from stored events"
        );
    }
    let mut done = Backfilled::default();
    // Site by site, each found by one index lookup.
    let mut next_site = tx.prepare("SELECT min(site) FROM events WHERE site > ?1")?;
    let mut site: Option<String> =
        tx.query_row("SELECT min(site) FROM events", [], |r| r.get(0))?;
    while let Some(current) = site {
        events(tx, &current, chunk, total, &mut done)?;
        site = next_site.query_row([&current], |r| r.get(0))?;
    }
    sessions(tx, chunk, &mut done)?;
    // Every session unsettled, with its pages as pass 1 left them, and those due by the
    // latest arrival stored settled into the entry and exit sketches (`settle`).
    tx.execute_batch(super::reports::settle::RESET)?;
    super::reports::settle::settle_stored(tx, chunk)?;
    links(tx, chunk, &mut done)?;
    if total > 0 {
        tracing::info!(
            events = done.events,
            sessions = done.sessions,
            links = done.links,
            "backfilled the report rollups"
        );
    }
    Ok(done)
}

/// The events of a site (`?1`) after `(ts, rowid)` (`?2`, `?3`), `?4` of them, in that
/// order, which the index `(site, ts)` gives without sorting (its entries end with the
/// rowid). Through the `events` view, which takes no INDEXED BY; the plan is tested. The
/// session is read as the rowid its event row names (migration 0017), by which its row is
/// found.
const EVENTS: &str = "SELECT rowid, ts, visitor, kind, path, name, props, target,
        (SELECT er.session_id FROM event_rows er WHERE er.rowid = events.rowid),
        referrer, utm_source, hostname
    FROM events
    WHERE site = ?1 AND ts >= ?2 AND (ts > ?2 OR rowid > ?3)
    ORDER BY ts, rowid LIMIT ?4";

/// A session met in pass 1 whose facts are not written yet.
struct Open {
    /// Its last event's time (for a session without a row, the latest seen): once the
    /// pass is past it, every event of the session has been seen.
    last_ts: i64,
    /// Whether the session has a row to write the facts to.
    stored: bool,
    facts: SessionFacts,
}

/// Pass 1 over the events of `site`.
fn events(
    tx: &Transaction<'_>,
    site: &str,
    chunk: usize,
    total: u64,
    done: &mut Backfilled,
) -> Result<(), StoreError> {
    let mut select = tx.prepare(EVENTS)?;
    let mut last_ts = tx.prepare("SELECT last_ts FROM session_rows WHERE rowid = ?1")?;
    // The path as a string id; the row's reference is counted by a trigger.
    let mut set_prev = tx.prepare("UPDATE event_rows SET prev_path = ?2 WHERE rowid = ?1")?;
    let mut dict = Dict::default();
    let mut open: HashMap<i64, Open> = HashMap::new();
    // Where the previous chunk ended: (ts, rowid) of its last event.
    let mut after = (i64::MIN, i64::MIN);
    loop {
        let mut rollups = Rollups::default();
        let mut prev_paths: Vec<(i64, String)> = Vec::new();
        let mut read = 0;
        let mut rows = select.query(params![site, after.0, after.1, chunk as i64])?;
        while let Some(r) = rows.next()? {
            read += 1;
            let rowid: i64 = r.get(0)?;
            let ts: i64 = r.get(1)?;
            after = (ts, rowid);
            let visitor: String = r.get(2)?;
            let kind: String = r.get(3)?;
            let path: String = r.get(4)?;
            let name: Option<String> = r.get(5)?;
            let props = r
                .get::<_, Option<String>>(6)?
                .and_then(|p| Props::from_json(&p));
            let target: Option<String> = r.get(7)?;
            let session: Option<i64> = r.get(8)?;
            let mut prev = None;
            if let Some(id) = session {
                let state = match open.entry(id) {
                    std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        let stored: Option<i64> =
                            last_ts.query_row([v.key()], |r| r.get(0)).optional()?;
                        let referrer: Option<String> = r.get(9)?;
                        let utm_source: Option<String> = r.get(10)?;
                        let hostname: String = r.get(11)?;
                        v.insert(Open {
                            last_ts: stored.unwrap_or(ts),
                            stored: stored.is_some(),
                            facts: SessionFacts::first(
                                referrer.as_deref(),
                                utm_source.as_deref(),
                                &hostname,
                                None,
                                None,
                            ),
                        })
                    }
                };
                if !state.stored {
                    state.last_ts = state.last_ts.max(ts);
                }
                if kind == "pageview" {
                    prev = state.facts.last_page.clone();
                    state.facts.add_page(&path);
                }
            }
            rollups.counted(
                &Counted {
                    site,
                    visitor: &visitor,
                    ts,
                    kind: &kind,
                    path: &path,
                    name: name.as_deref(),
                    props: props.as_ref(),
                    target: target.as_deref(),
                },
                prev.as_deref(),
            );
            if let Some(prev) = prev {
                prev_paths.push((rowid, prev));
            }
            done.events += 1;
            if done.events % LOG_EVERY == 0 {
                tracing::info!(done = done.events, total, "backfilling events");
            }
        }
        drop(rows);
        for (rowid, prev) in &prev_paths {
            set_prev.execute(params![rowid, dict.id(tx, prev)?])?;
        }
        rollups.flush(tx)?;
        // A full chunk may be followed by more events at its last time; a short one ends
        // the site.
        let finished = read < chunk;
        let closed: Vec<i64> = open
            .iter()
            .filter(|(_, s)| finished || s.last_ts < after.0)
            .map(|(&row, _)| row)
            .collect();
        for id in closed {
            if let Some(state) = open.remove(&id) {
                if state.stored {
                    write_facts(tx, &mut dict, id, &state.facts)?;
                }
            }
        }
        if finished {
            return Ok(());
        }
    }
}

/// Writes the facts of the session in row `row`, keeping those it already has (every
/// string as its dictionary id; the references are counted by the triggers of
/// `session_rows`).
fn write_facts(
    tx: &Transaction<'_>,
    dict: &mut Dict,
    row: i64,
    f: &SessionFacts,
) -> Result<(), StoreError> {
    let mut text = |v: Option<&str>| dict.opt(tx, v);
    let strings = [
        text(f.source.as_deref())?,
        text(f.source_class.as_deref())?,
        text(f.browser.as_deref())?,
        text(f.os.as_deref())?,
        text(f.device.as_deref())?,
        text(f.country.as_deref())?,
        text(f.last_page.as_deref())?,
        text(f.flow_text().as_deref())?,
    ];
    tx.prepare_cached(
        "UPDATE session_rows SET source = coalesce(source, ?2),
             source_class = coalesce(source_class, ?3), browser = coalesce(browser, ?4),
             os = coalesce(os, ?5), device = coalesce(device, ?6),
             country = coalesce(country, ?7), last_page = ?8, flow = ?9
         WHERE rowid = ?1",
    )?
    .execute(params![
        row, strings[0], strings[1], strings[2], strings[3], strings[4], strings[5], strings[6],
        strings[7],
    ])?;
    Ok(())
}

/// Pass 2: every session's contribution to the rollups.
fn sessions(tx: &Transaction<'_>, size: usize, done: &mut Backfilled) -> Result<(), StoreError> {
    let mut select = tx.prepare(&format!(
        "SELECT rowid, site, visitor, {SESSION_COLUMNS} FROM sessions
         WHERE rowid > ?1 ORDER BY rowid LIMIT ?2"
    ))?;
    let mut after = i64::MIN;
    loop {
        let chunk = select
            .query_map(params![after, size as i64], |r| {
                let (session, facts) = read_session(r, 3)?;
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    session,
                    facts,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut rollups = Rollups::default();
        for (rowid, site, visitor, session, facts) in &chunk {
            after = *rowid;
            rollups.session(
                &SessionState {
                    site,
                    visitor,
                    session,
                    facts,
                },
                1,
            );
        }
        rollups.flush(tx)?;
        let before = done.sessions;
        done.sessions += chunk.len() as u64;
        if chunk.len() < size {
            return Ok(());
        }
        if before / LOG_EVERY != done.sessions / LOG_EVERY {
            tracing::info!(done = done.sessions, "backfilling sessions");
        }
    }
}

/// Pass 3: the persons of every active link's ends.
fn links(tx: &Transaction<'_>, size: usize, done: &mut Backfilled) -> Result<(), StoreError> {
    let mut select = tx.prepare(
        "SELECT id, site, a, b FROM links WHERE active = 1 AND id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let mut after = i64::MIN;
    loop {
        let chunk = select
            .query_map(params![after, size as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut ends: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (id, site, a, b) in &chunk {
            after = *id;
            ends.entry(site)
                .or_default()
                .extend([a.as_str(), b.as_str()]);
        }
        for (site, nodes) in ends {
            persons::relink(tx, site, &nodes.into_iter().collect::<Vec<_>>())?;
        }
        let before = done.links;
        done.links += chunk.len() as u64;
        if chunk.len() < size {
            return Ok(());
        }
        if before / LOG_EVERY != done.links / LOG_EVERY {
            tracing::info!(done = done.links, "backfilling persons");
        }
    }
}

#[cfg(test)]
mod tests {
    //! A history stored through the insert path into a current file, copied column by
    //! column into a v4 file (what a v4 collector wrote: the same events, sessions and
    //! links, without the report columns), plus one event from before sessions; the v4
    //! file opened by this collector must answer the reports as the current one does.
    //!
    //! Day D (UTC), from 10:00 (T):
    //! - a: `/` from google.com, `/pricing` at +60 s, custom `signup` {plan: pro, seats: 3}
    //!   at +120 s, an outbound click at +130 s, `/docs` at +200 s (3 page views, 5 events).
    //! - b: `/blog` from t.co at +5 min, `/pricing` at +6 min, a download at +7 min; then
    //!   `/` alone at +3 h (direct, a bounce), which records a fingerprint link b–c.
    //! - c: `/pricing?utm_source=newsletter&utm_campaign=spring` at +10 min, `/` at +11 min.
    //!
    //! Day D+1: a views `/` and logs in as u1; c views `/docs`, engages, logs in as u1,
    //! sends `signup` {plan: free}. Day D-1: z's page view of `/`, stored before v3 (no
    //! session). So D..D+1 holds 6 sessions (3 direct), 10 page views (3 of `/pricing`);
    //! persons: inclusive {a, b, c}, strict {a, c} and {b}.

    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use rusqlite::Connection;

    use super::*;
    use crate::enrich::agent::classify;
    use crate::event::{Custom, Engagement, Event, EventKind, PropValue};
    use crate::identity::graph::{LinkKind, Mode};
    use crate::identity::resolver::NewLink;
    use crate::reports::range::{DAY_MS, HOUR_MS, Range};
    use crate::reports::{CountBy, Counts, Dimension, Interval, ReportQuery, Row};
    use crate::store::sqlite::SqliteStore;
    use crate::store::sqlite::migrate::MIGRATIONS;
    use crate::store::sqlite::tests::event;

    const D: i64 = 20_600;
    const T: i64 = D * DAY_MS + 10 * HOUR_MS;
    const S: i64 = 1000;
    const MIN: i64 = 60 * S;
    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

    /// The columns a v4 collector wrote, per table.
    const V4_EVENTS: &str = "id, site, kind, ts, received, visitor, evidence, client_id,
        session, url, hostname, path, referrer, title, screen, lang, tz, utm_source,
        utm_medium, utm_campaign, utm_term, utm_content, name, props, target, pageview_id,
        visible_ms, scroll, user_id, session_id";
    const V4_SESSIONS: &str = "id, site, visitor, start_ts, last_ts, entry_path, exit_path,
        pageviews, events, duration_ms, bounce, engaged, utm_source, utm_medium,
        utm_campaign, day";
    const V4_LINKS: &str = "id, site, a, b, kind, confidence, at_ms, active, fingerprint";

    fn io(source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: "tmp".into(),
            source,
        }
    }

    fn at(id: u128, visitor: &str, ts: i64, path: &str) -> Event {
        let mut e = event(id, visitor, "beacon-session");
        e.client.ts = ts;
        e.client.path = path.into();
        e.client.url = format!("https://example.com{path}");
        e.client.context.agent = Some(classify(FIREFOX));
        e
    }

    fn kind(mut e: Event, kind: EventKind) -> Event {
        e.client.kind = kind;
        e
    }

    fn from(mut e: Event, referrer: &str) -> Event {
        e.client.referrer = Some(referrer.into());
        e
    }

    fn linked(mut e: Event, a: &str, b: &str, kind: LinkKind) -> Event {
        e.identity.links.push(NewLink {
            a: a.into(),
            b: b.into(),
            kind,
            confidence: 1.0,
            verified: false,
        });
        e
    }

    fn signup(props: &[(&str, PropValue)]) -> EventKind {
        EventKind::Custom(Custom {
            name: "signup".into(),
            props: Some(Props(
                props
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect::<BTreeMap<_, _>>(),
            )),
        })
    }

    /// The history of the module docs, in two batches (one per day).
    fn history() -> [Vec<Event>; 2] {
        let t2 = T + DAY_MS;
        let mut campaign = at(9, "c", T + 10 * MIN, "/pricing");
        campaign.client.utm.source = Some("newsletter".into());
        campaign.client.utm.campaign = Some("spring".into());
        let day1 = vec![
            from(at(1, "a", T, "/"), "https://www.google.com/search?q=spoor"),
            at(2, "a", T + 60 * S, "/pricing"),
            kind(
                at(3, "a", T + 120 * S, "/pricing"),
                signup(&[
                    ("plan", PropValue::Text("pro".into())),
                    ("seats", PropValue::Number(3.into())),
                ]),
            ),
            kind(
                at(4, "a", T + 130 * S, "/pricing"),
                EventKind::Outbound {
                    target: "https://github.com/spoor".into(),
                },
            ),
            at(5, "a", T + 200 * S, "/docs"),
            from(at(6, "b", T + 5 * MIN, "/blog"), "https://t.co/x"),
            at(7, "b", T + 6 * MIN, "/pricing"),
            kind(
                at(8, "b", T + 7 * MIN, "/pricing"),
                EventKind::Download {
                    target: "https://example.com/guide.pdf".into(),
                },
            ),
            campaign,
            at(10, "c", T + 11 * MIN, "/"),
            linked(
                at(11, "b", T + 3 * HOUR_MS, "/"),
                "b",
                "c",
                LinkKind::Fingerprint,
            ),
        ];
        let day2 = vec![
            at(12, "a", t2, "/"),
            linked(
                kind(
                    at(13, "a", t2 + 10 * S, "/"),
                    EventKind::Identify { user: "u1".into() },
                ),
                "a",
                "user:u1",
                LinkKind::Login,
            ),
            at(14, "c", t2 + 60 * S, "/docs"),
            kind(
                at(15, "c", t2 + 70 * S, "/docs"),
                EventKind::Engagement(Engagement {
                    pageview: uuid::Uuid::from_u128(14),
                    visible_ms: 15_000,
                    scroll: 80,
                }),
            ),
            linked(
                kind(
                    at(16, "c", t2 + 80 * S, "/docs"),
                    EventKind::Identify { user: "u1".into() },
                ),
                "c",
                "user:u1",
                LinkKind::Login,
            ),
            kind(
                at(17, "c", t2 + 90 * S, "/docs"),
                signup(&[("plan", PropValue::Text("free".into()))]),
            ),
        ];
        [day1, day2]
    }

    /// A current file holding the history, stored through the insert path.
    fn current(dir: &Path) -> Result<(PathBuf, SqliteStore), StoreError> {
        let path = dir.join("current.db");
        let store = SqliteStore::open(&path)?;
        for day in history() {
            store.insert_events(&day)?;
        }
        Ok((path, store))
    }

    /// A v4 file with the rows of `current` a v4 collector wrote, and z's page view of the
    /// day before, stored before sessions existed.
    fn v4_file(dir: &Path, name: &str, current: &Path) -> Result<PathBuf, StoreError> {
        let path = dir.join(name);
        let conn = Connection::open(&path)?;
        for sql in &MIGRATIONS[..4] {
            conn.execute_batch(sql)?;
        }
        conn.pragma_update(None, "user_version", 4)?;
        conn.execute(
            "ATTACH DATABASE ?1 AS current",
            [current.display().to_string()],
        )?;
        conn.execute_batch(&format!(
            "INSERT INTO events ({V4_EVENTS}) SELECT {V4_EVENTS} FROM current.events ORDER BY rowid;
             INSERT INTO sessions ({V4_SESSIONS})
                 SELECT {V4_SESSIONS} FROM current.sessions ORDER BY rowid;
             INSERT INTO links ({V4_LINKS}) SELECT {V4_LINKS} FROM current.links ORDER BY id;
             DETACH DATABASE current;"
        ))?;
        conn.execute(
            "INSERT INTO events (id, site, kind, ts, received, visitor, evidence, url,
                 hostname, path)
             VALUES ('before-sessions', 'demo', 'pageview', ?1, ?1, 'z', 'client-id',
                 'https://example.com/', 'example.com', '/')",
            [T - DAY_MS],
        )?;
        Ok(path)
    }

    fn query(mode: Mode) -> ReportQuery {
        ReportQuery {
            mode,
            ..ReportQuery::new("demo", Range { from: D, to: D + 1 })
        }
    }

    /// The dimensions whose keys do not come from the `User-Agent` or GeoIP.
    fn dimensions() -> Vec<Dimension> {
        vec![
            Dimension::Page,
            Dimension::Entry,
            Dimension::Exit,
            Dimension::Source,
            Dimension::SourceClass,
            Dimension::Campaign,
            Dimension::Event,
            Dimension::EventProperty {
                event: "signup".into(),
                property: "plan".into(),
            },
            Dimension::EventProperty {
                event: "signup".into(),
                property: "seats".into(),
            },
            Dimension::Outbound,
            Dimension::Download,
        ]
    }

    /// A page's views, the pages before it and those after it.
    type Around = (u64, Vec<(String, u64)>, Vec<(String, u64)>);

    /// Every report of the history but those by browser, OS, device and country: from the
    /// rollups, from the scan (`exact`) and by persons, in both readings.
    #[derive(Debug, PartialEq)]
    struct Answers {
        sites: Vec<String>,
        counts: Vec<Counts>,
        series: Vec<Vec<(i64, Counts)>>,
        breakdowns: Vec<Vec<Row>>,
        transitions: Vec<Around>,
        flows: Vec<Vec<(Vec<String>, u64)>>,
    }

    fn answers(store: &SqliteStore) -> Result<Answers, StoreError> {
        let mut a = Answers {
            sites: store.sites()?,
            counts: Vec::new(),
            series: Vec::new(),
            breakdowns: Vec::new(),
            transitions: Vec::new(),
            flows: Vec::new(),
        };
        for mode in [Mode::Inclusive, Mode::Strict] {
            let fast = query(mode);
            let persons = ReportQuery {
                count: CountBy::Persons,
                ..fast.clone()
            };
            let scan = store.without_rollups();
            for (store, q) in [(store, &fast), (&scan, &fast), (store, &persons)] {
                a.counts.push(store.counts(q)?);
                a.series.push(store.series(q, Interval::Hour)?);
                a.series.push(store.series(q, Interval::Day)?);
                for d in dimensions() {
                    a.breakdowns.push(store.breakdown(q, &d)?);
                }
                for page in ["/", "/pricing", "/docs", "/blog"] {
                    let (views, mut before, mut after) = store.transitions(q, page)?;
                    before.sort();
                    after.sort();
                    a.transitions.push((views, before, after));
                }
                let mut flows = store.flows(q, 5)?;
                flows.sort();
                a.flows.push(flows);
            }
        }
        Ok(a)
    }

    /// `(id, prev_path)` of every event, and the report columns of every session but the
    /// browser's, OS's, device's and country.
    type Columns = (
        Vec<(String, Option<String>)>,
        Vec<(
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        )>,
    );

    fn columns(store: &SqliteStore) -> Result<Columns, StoreError> {
        let conn = store.reader();
        let events = conn
            .prepare("SELECT id, prev_path FROM events WHERE session_id IS NOT NULL ORDER BY id")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let sessions = conn
            .prepare("SELECT id, source, source_class, last_page, flow FROM sessions ORDER BY id")?
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<Result<_, _>>()?;
        Ok((events, sessions))
    }

    fn key<'a>(rows: &'a [Row], key: &str) -> Option<&'a Row> {
        rows.iter().find(|r| r.key == key)
    }

    #[test]
    fn a_v4_file_answers_the_reports_as_if_its_events_were_stored_now() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(io)?;
        let (current_path, current) = current(dir.path())?;
        let old = SqliteStore::open(&v4_file(dir.path(), "v4.db", &current_path)?)?;
        let version: i64 = old
            .reader()
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        assert_eq!(version, MIGRATIONS.len() as i64);

        assert_eq!(answers(&old)?, answers(&current)?);
        assert_eq!(columns(&old)?, columns(&current)?);

        // By hand: 6 sessions, 10 page views, 3 of them of /pricing.
        let q = query(Mode::Inclusive);
        let counts = old.counts(&q)?;
        assert_eq!(
            (counts.sessions, counts.pageviews, counts.events),
            (6, 10, 17)
        );
        let pages = old.breakdown(&q, &Dimension::Page)?;
        assert_eq!(
            key(&pages, "/pricing").map(|r| (r.pageviews, r.events)),
            Some((3, 6))
        );
        let sources = old.breakdown(&q, &Dimension::Source)?;
        assert_eq!(key(&sources, "Direct").map(|r| r.sessions), Some(3));
        assert_eq!(key(&sources, "google.com").map(|r| r.sessions), Some(1));
        let (views, before, _) = old.transitions(&q, "/pricing")?;
        assert_eq!(views, 3);
        assert!(before.contains(&("/blog".to_string(), 1)));
        let persons = |mode| {
            old.counts(&ReportQuery {
                count: CountBy::Persons,
                ..query(mode)
            })
        };
        assert_eq!(persons(Mode::Inclusive)?.persons, 1);
        assert_eq!(persons(Mode::Strict)?.persons, 2);

        // The User-Agent was never stored: every old session is what an empty one is.
        let browsers = old.breakdown(&q, &Dimension::Browser)?;
        assert_eq!(
            browsers
                .iter()
                .map(|r| (r.key.as_str(), r.sessions))
                .collect::<Vec<_>>(),
            [("Other", 6)]
        );
        assert_eq!(
            key(&current.breakdown(&q, &Dimension::Browser)?, "Firefox").map(|r| r.sessions),
            Some(6)
        );
        assert!(old.breakdown(&q, &Dimension::Country)?.is_empty());

        // The event from before sessions counts in its day, in no session.
        let before_sessions = ReportQuery::new(
            "demo",
            Range {
                from: D - 1,
                to: D - 1,
            },
        );
        let c = old.counts(&before_sessions)?;
        assert_eq!(
            (c.pageviews, c.events, c.visitors, c.sessions),
            (1, 1, 1, 0)
        );
        let pages = old.breakdown(&before_sessions, &Dimension::Page)?;
        assert_eq!(key(&pages, "/").map(|r| r.pageviews), Some(1));
        Ok(())
    }

    #[test]
    fn small_chunks_give_the_same_answers() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(io)?;
        let (current_path, current) = current(dir.path())?;
        let path = v4_file(dir.path(), "v4.db", &current_path)?;
        {
            let conn = Connection::open(&path)?;
            let tx = conn.unchecked_transaction()?;
            for sql in &MIGRATIONS[4..] {
                tx.execute_batch(sql)?;
            }
            // Sessions and a day's events cross chunk boundaries; ties of time too.
            let done = run_chunked(&tx, 2)?;
            assert_eq!(
                done,
                Backfilled {
                    events: 18,
                    sessions: 6,
                    links: 3
                }
            );
            tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
            tx.commit()?;
        }
        let old = SqliteStore::open(&path)?;
        assert_eq!(answers(&old)?, answers(&current)?);
        assert_eq!(columns(&old)?, columns(&current)?);
        Ok(())
    }

    /// Every rollup row, sketches included.
    fn rollup_rows(store: &SqliteStore) -> Result<Vec<String>, StoreError> {
        let conn = store.reader();
        let rows = conn
            .prepare(
                "SELECT 'h ' || site || ' ' || hour || ' ' || pageviews || ' ' || events || ' '
                     || sessions || ' ' || bounces || ' ' || duration_ms || ' '
                     || coalesce(hex(visitors), '')
                 FROM report_hours
                 UNION ALL
                 SELECT 'k ' || site || ' ' || dim || ' ' || day || ' ' || key || ' '
                     || pageviews || ' ' || events || ' ' || sessions || ' '
                     || coalesce(hex(visitors), '')
                 FROM report_keys
                 UNION ALL
                 SELECT 'f ' || site || ' ' || day || ' ' || key || ' ' || sessions
                 FROM report_flows
                 ORDER BY 1",
            )?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    #[test]
    fn a_current_file_is_not_backfilled_again_when_reopened() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(io)?;
        let (path, store) = current(dir.path())?;
        let before = rollup_rows(&store)?;
        assert!(before.len() > 20, "the history fills the rollups");
        drop(store);
        let reopened = SqliteStore::open(&path)?;
        assert_eq!(rollup_rows(&reopened)?, before);
        assert_eq!(reopened.counts(&query(Mode::Inclusive))?.pageviews, 10);
        Ok(())
    }

    #[test]
    fn a_rebuild_computes_the_same_reports_again_and_keeps_the_browsers() -> Result<(), StoreError>
    {
        let dir = tempfile::tempdir().map_err(io)?;
        let (_, store) = current(dir.path())?;
        let before = (answers(&store)?, columns(&store)?);
        let q = query(Mode::Inclusive);
        let browsers = store.breakdown(&q, &Dimension::Browser)?;
        let done = store.rebuild_reports()?;
        assert_eq!(
            done,
            Backfilled {
                events: 17,
                sessions: 6,
                links: 3
            }
        );
        assert_eq!((answers(&store)?, columns(&store)?), before);
        assert_eq!(store.breakdown(&q, &Dimension::Browser)?, browsers);
        assert_eq!(key(&browsers, "Firefox").map(|r| r.sessions), Some(6));
        Ok(())
    }

    #[test]
    fn a_late_page_view_takes_its_place_in_time() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(io)?;
        let current_path = dir.path().join("late.db");
        let current = SqliteStore::open(&current_path)?;
        // `/y` arrives after `/z`, which was viewed after it.
        current.insert_events(&[at(100, "l", T, "/x"), at(102, "l", T + 120 * S, "/z")])?;
        current.insert_events(&[at(101, "l", T + 60 * S, "/y")])?;
        let old = SqliteStore::open(&v4_file(dir.path(), "v4.db", &current_path)?)?;
        let prev = |store: &SqliteStore| -> Result<Vec<Option<String>>, StoreError> {
            let conn = store.reader();
            let rows = conn
                .prepare("SELECT prev_path FROM events WHERE visitor = 'l' ORDER BY ts")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        };
        assert_eq!(
            prev(&current)?,
            [None, Some("/z".into()), Some("/x".into())]
        );
        assert_eq!(prev(&old)?, [None, Some("/x".into()), Some("/y".into())]);
        let flow: (String, String) = old.reader().query_row(
            "SELECT last_page, flow FROM sessions WHERE visitor = 'l'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        assert_eq!(flow, ("/z".into(), "/x\n/y\n/z".into()));
        Ok(())
    }

    #[test]
    fn an_interrupted_upgrade_leaves_the_v4_file_as_it_was() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(io)?;
        let (current_path, _current) = current(dir.path())?;
        let path = v4_file(dir.path(), "v4.db", &current_path)?;
        // The backfill fails in its pass over the sessions (after the events were rebuilt
        // by v13, the sessions by v14, and the rollups and session facts of pass 1
        // written): a session whose id is no UUID cannot be read back. (A trigger on the
        // v4 `sessions` table would not do: v14 replaces the table, and its triggers go.)
        Connection::open(&path)?.execute_batch(
            "INSERT INTO sessions (id, site, visitor, start_ts, last_ts, entry_path, exit_path,
                 pageviews, events, duration_ms, bounce, engaged, day)
             VALUES ('interrupt', 'demo', 'i', 0, 0, '/', '/', 1, 1, 0, 1, 0, 0)",
        )?;
        assert!(SqliteStore::open(&path).is_err());
        {
            let conn = Connection::open(&path)?;
            let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            assert_eq!(version, 4);
            let tables: i64 = conn.query_row(
                "SELECT count(*) FROM sqlite_master WHERE name IN ('report_hours', 'report_keys')",
                [],
                |r| r.get(0),
            )?;
            assert_eq!(tables, 0, "migration 5 was rolled back with the backfill");
            conn.execute_batch("DELETE FROM sessions WHERE id = 'interrupt'")?;
        }
        let store = SqliteStore::open(&path)?;
        assert_eq!(store.counts(&query(Mode::Inclusive))?.pageviews, 10);
        Ok(())
    }

    #[test]
    fn the_events_are_read_in_index_order_without_sorting() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let conn = store.reader();
        let plan = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {EVENTS}"))?
            .query_map(params!["demo", 0, 0, 10], |r| r.get::<_, String>(3))?
            .collect::<Result<Vec<_>, _>>()?;
        assert!(
            plan.iter().all(|step| !step.contains("TEMP B-TREE")),
            "{plan:?}"
        );
        assert!(
            plan.iter().any(|step| step.contains("events_site_ts")),
            "{plan:?}"
        );
        Ok(())
    }
}
