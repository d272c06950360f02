//! [`EventSink`] on ClickHouse: appending events once each, and the failed events.
//!
//! A call derives everything in memory and then appends, in an order that makes a retry
//! after any failure safe:
//! 1. **Which ids are new.** One query looks the call's ids up in `event_ids` (by primary
//!    key, whatever the rest of the event says: the id alone decides) and, for a call that
//!    failed after its events were written but before their ids were, in `events` under the
//!    same site, day and visitor (also a primary-key prefix). Ids seen earlier in the same
//!    call are duplicates too.
//! 2. **Sessions.** Each visitor's latest session is read from `latest_sessions` (one
//!    query for the call's visitors, sent with the first), and every new event goes through
//!    [`session::assign`](crate::session::assign). A session started here gets an id made
//!    from its first event (the event's time, then a hash of site, visitor and event id),
//!    so a retry that starts it again names it the same.
//! 3. **Append.** The identity side effects first
//!    ([`apply_identity`](ClickHouseStore::apply_identity): a retry writes them again, once
//!    each), then the events (the insert a busy cluster refuses, which then leaves nothing
//!    else behind), then together the visitors' new latest sessions and the rollups
//!    ([`rollups`](super::rollups): what the call changed, taken from the sessions as
//!    stored before it), and last their ids, which mark the call complete. On a cluster
//!    the events and their ids wait for the shard and a quorum of its replicas
//!    ([`insert_settings`](ClickHouseStore::insert_settings)).
//! 4. **Carrying a cut-off call on.** An id in `events` but not in `event_ids` was
//!    written by a call cut off before its end (a collector killed mid-call). Its retry
//!    takes the event through steps 2 and 3 as a new one but does not write its row
//!    again: the session it started goes on (the visitor is not split), and the rollups
//!    count it, twice only if the cut fell between the rollups and the ids
//!    (`rebuild-reports` makes such a day exact again, `rollups/reconcile.rs`).
//!
//! The call resolves only after every insert was accepted; the ingest writer acknowledges
//! after that. Nothing is kept in memory across calls: one owner collector per visitor
//! (`peers`) makes the store's rows the whole truth.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::ClickHouseStore;
use super::client::{backend, quote, quote_list};
use super::identity::now_ms;
use crate::enrich::{agent, source};
use crate::event::{Event, EventKind};
use crate::identity::resolver::Memory;
use crate::reports::range::{DAY_MS, date};
use crate::session::{self, Assignment, Campaign, Hit, Session};
use crate::store::rollup::{FLOW_PAGES, Rollups, SessionFacts, SessionState};
use crate::store::{
    BlockingSink, EventSink, FailedEvent, IdentityState, InsertOutcome, MemoryAsk, StoreError,
    StoreFuture,
};

impl EventSink for ClickHouseStore {
    fn append(&self, groups: Vec<Vec<Event>>) -> StoreFuture<'_, Vec<InsertOutcome>> {
        Box::pin(async move {
            let slices: Vec<&[Event]> = groups.iter().map(Vec::as_slice).collect();
            self.append_groups(&slices).await
        })
    }

    fn append_failed(&self, rows: Vec<FailedEvent>, keep: usize) -> StoreFuture<'_, ()> {
        Box::pin(async move { self.append_failed_rows(rows, keep).await })
    }

    fn identity_epoch(&self) -> StoreFuture<'_, u64> {
        Box::pin(async move { self.maintenance_epoch().await })
    }

    fn blocking(&self) -> Arc<dyn BlockingSink> {
        Arc::new(self.clone())
    }
}

impl BlockingSink for ClickHouseStore {
    fn insert_groups(&self, groups: &[&[Event]]) -> Result<Vec<InsertOutcome>, StoreError> {
        self.block_on(self.append_groups(groups))
    }

    fn identity_memory(
        &self,
        site: &str,
        client_id: Option<&str>,
        fingerprint: &str,
        day: i64,
    ) -> Result<Memory, StoreError> {
        self.block_on(IdentityState::identity_memory(
            self,
            site,
            client_id,
            fingerprint,
            day,
        ))
    }

    fn identity_memories(&self, asks: &[MemoryAsk]) -> Result<Vec<Memory>, StoreError> {
        self.block_on(self.memories(asks))
    }

    fn cookie_ids(&self, site: &str, visitor: &str, day: i64) -> Result<u32, StoreError> {
        self.block_on(IdentityState::cookie_ids(self, site, visitor, day))
    }

    fn identity_epoch(&self) -> u64 {
        // Which collector writes a visitor is decided above the store (`peers`, which
        // moves the writer's epoch itself when an owner changes); here only what deletes
        // identity state behind the writers' backs: purges and erasures. Unreadable: a
        // value that never repeats, so the caches are dropped.
        self.block_on(self.maintenance_epoch())
            .unwrap_or_else(|_| next_version())
    }
}

/// `(site, visitor)`.
pub(in crate::store::clickhouse) type VisitorKey = (String, String);

/// A visitor's latest session as `latest_sessions` keeps it (and as the reconciliation
/// works a session out from its events, `rollups/reconcile.rs`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(in crate::store::clickhouse) struct VisitorSession {
    pub(in crate::store::clickhouse) site: String,
    pub(in crate::store::clickhouse) visitor: String,
    session: String,
    pub(in crate::store::clickhouse) start_ts: i64,
    last_ts: i64,
    day: i64,
    utm_source: String,
    utm_medium: String,
    utm_campaign: String,
    pageviews: u32,
    events: u32,
    engaged: u8,
    last_page: String,
    entry_path: String,
    exit_path: String,
    source: String,
    source_class: String,
    browser: String,
    os: String,
    device: String,
    country: String,
    flow: Vec<String>,
    /// The times of `flow`'s page views, in ms after `start_ts` (a session lasts at most
    /// a local day): small numbers, which compress.
    flow_after: Vec<u32>,
    /// Read back as 0 (not selected: an alias `version` would shadow the column).
    #[serde(default)]
    version: u64,
}

/// The columns of `latest_sessions` read back (all but `site`, `visitor`, `version`).
const SESSION_COLUMNS: [&str; 21] = [
    "start_ts",
    "last_ts",
    "day",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "pageviews",
    "events",
    "engaged",
    "last_page",
    "entry_path",
    "exit_path",
    "source",
    "source_class",
    "browser",
    "os",
    "device",
    "country",
    "flow",
    "flow_after",
    "session",
];

/// `argMax(c, version) AS c` for each of [`SESSION_COLUMNS`] (`session` as text).
fn latest_columns() -> String {
    SESSION_COLUMNS
        .iter()
        .map(|c| match *c {
            "session" => "toString(argMax(session, version)) AS session".to_string(),
            c => format!("argMax({c}, version) AS {c}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the writer keeps of a visitor's latest session while a call runs.
#[derive(Debug, Clone)]
pub(in crate::store::clickhouse) struct Latest {
    pub(in crate::store::clickhouse) session: Session,
    /// Its facts beyond the sessionizer's: those of the event that started it, its latest
    /// page view's path (the next page view's `prev_path`), its first page views.
    pub(in crate::store::clickhouse) facts: SessionFacts,
    /// The times of `facts.flow`'s page views.
    flow_ts: Vec<i64>,
}

impl Latest {
    /// The session `e` starts.
    fn start(e: &Event, session: Session) -> Latest {
        let mut started = Latest {
            session,
            facts: SessionFacts::start(e),
            flow_ts: Vec::new(),
        };
        if matches!(e.client.kind, EventKind::Pageview) {
            started.facts.last_page = Some(e.client.path.clone());
            started.page(e.client.ts, &e.client.path);
        }
        started
    }

    /// Takes a page view at `ts` into the first page views, in time order (a late one
    /// among them; equal times in arrival order).
    fn page(&mut self, ts: i64, path: &str) {
        let at = self.flow_ts.partition_point(|t| *t <= ts);
        if at < FLOW_PAGES {
            self.flow_ts.insert(at, ts);
            self.facts.flow.insert(at, path.to_string());
            self.flow_ts.truncate(FLOW_PAGES);
            self.facts.flow.truncate(FLOW_PAGES);
        }
    }

    pub(in crate::store::clickhouse) fn from_row(
        row: &VisitorSession,
    ) -> Result<Latest, StoreError> {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Ok(Latest {
            session: Session {
                id: Uuid::parse_str(&row.session)
                    .map_err(|e| backend(format!("latest_sessions.session: {e}")))?,
                start_ts: row.start_ts,
                last_ts: row.last_ts,
                entry_path: row.entry_path.clone(),
                exit_path: row.exit_path.clone(),
                pageviews: row.pageviews,
                events: row.events,
                engaged: row.engaged != 0,
                campaign: Campaign {
                    source: opt(&row.utm_source),
                    medium: opt(&row.utm_medium),
                    campaign: opt(&row.utm_campaign),
                },
                day: row.day,
            },
            facts: SessionFacts {
                source: opt(&row.source),
                source_class: opt(&row.source_class),
                browser: opt(&row.browser),
                os: opt(&row.os),
                device: opt(&row.device),
                country: opt(&row.country),
                last_page: opt(&row.last_page),
                flow: row.flow.clone(),
            },
            flow_ts: row
                .flow_after
                .iter()
                .map(|after| row.start_ts.saturating_add(i64::from(*after)))
                .collect(),
        })
    }

    fn to_row(&self, key: &VisitorKey, version: u64) -> VisitorSession {
        let s = &self.session;
        let f = &self.facts;
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        VisitorSession {
            site: key.0.clone(),
            visitor: key.1.clone(),
            session: s.id.to_string(),
            start_ts: s.start_ts,
            last_ts: s.last_ts,
            day: s.day,
            utm_source: text(&s.campaign.source),
            utm_medium: text(&s.campaign.medium),
            utm_campaign: text(&s.campaign.campaign),
            pageviews: s.pageviews,
            events: s.events,
            engaged: u8::from(s.engaged),
            last_page: text(&f.last_page),
            entry_path: s.entry_path.clone(),
            exit_path: s.exit_path.clone(),
            source: text(&f.source),
            source_class: text(&f.source_class),
            browser: text(&f.browser),
            os: text(&f.os),
            device: text(&f.device),
            country: text(&f.country),
            flow: f.flow.clone(),
            flow_after: self
                .flow_ts
                .iter()
                .map(|t| u32::try_from(t.saturating_sub(s.start_ts)).unwrap_or(0))
                .collect(),
            version,
        }
    }

    /// Its contribution to the rollups, as `key`'s session.
    pub(in crate::store::clickhouse) fn state<'a>(
        &'a self,
        key: &'a VisitorKey,
    ) -> SessionState<'a> {
        SessionState {
            site: &key.0,
            visitor: &key.1,
            session: &self.session,
            facts: &self.facts,
        }
    }
}

/// One row of `events`.
#[derive(Debug, Serialize)]
struct EventRow<'a> {
    site: &'a str,
    id: String,
    day: String,
    ts: i64,
    /// `received - ts` (the `received` column is an alias adding them back).
    received_after: i64,
    kind: &'static str,
    visitor: &'a str,
    evidence: &'static str,
    client_id: &'a str,
    beacon_session: &'a str,
    session: String,
    starts: u8,
    /// The URL, or '' for `https://{hostname}{path}` (the `url` column is an alias that
    /// rebuilds it).
    url_stored: &'a str,
    hostname: &'a str,
    path: &'a str,
    prev_path: String,
    referrer: &'a str,
    title: &'a str,
    screen: &'a str,
    lang: &'a str,
    tz: &'a str,
    browser: &'static str,
    os: &'static str,
    device: &'static str,
    country: &'a str,
    source: String,
    source_class: &'static str,
    fallback: &'static str,
    utm_source: &'a str,
    utm_medium: &'a str,
    utm_campaign: &'a str,
    utm_term: &'a str,
    utm_content: &'a str,
    name: &'a str,
    props: String,
    target: &'a str,
    user_id: &'a str,
    pageview_id: String,
    visible_ms: u32,
    scroll: u8,
}

impl<'a> EventRow<'a> {
    fn new(e: &'a Event, session: Uuid, starts: bool, prev_path: Option<String>) -> EventRow<'a> {
        let c = &e.client;
        let s = |v: &'a Option<String>| v.as_deref().unwrap_or("");
        let agent = c.context.agent.unwrap_or_else(|| agent::classify(""));
        let (source, source_class) =
            source::classify(c.referrer.as_deref(), c.utm.source.as_deref(), &c.hostname);
        let (mut name, mut props, mut target, mut user_id) = ("", String::new(), "", "");
        let (mut pageview_id, mut visible_ms, mut scroll) = (Uuid::nil().to_string(), 0, 0);
        match &c.kind {
            EventKind::Pageview => {}
            EventKind::Engagement(g) => {
                pageview_id = g.pageview.to_string();
                visible_ms = g.visible_ms;
                scroll = g.scroll;
            }
            EventKind::Custom(custom) => {
                name = &custom.name;
                props = custom
                    .props
                    .as_ref()
                    .map(|p| p.to_json())
                    .unwrap_or_default();
            }
            EventKind::Outbound { target: t } | EventKind::Download { target: t } => target = t,
            EventKind::Identify { user } => user_id = user,
        }
        EventRow {
            site: &e.site,
            id: c.id.to_string(),
            day: utc_date(c.ts),
            ts: c.ts,
            received_after: e.received.saturating_sub(c.ts),
            kind: c.kind.as_str(),
            visitor: &e.visitor,
            evidence: e.evidence.as_str(),
            client_id: s(&c.client_id),
            beacon_session: s(&c.session),
            session: session.to_string(),
            starts: u8::from(starts),
            url_stored: if c
                .url
                .strip_prefix("https://")
                .and_then(|u| u.strip_prefix(c.hostname.as_str()))
                == Some(c.path.as_str())
            {
                ""
            } else {
                &c.url
            },
            hostname: &c.hostname,
            path: &c.path,
            prev_path: prev_path.unwrap_or_default(),
            referrer: s(&c.referrer),
            title: s(&c.title),
            screen: s(&c.context.screen),
            lang: s(&c.context.lang),
            tz: s(&c.context.tz),
            browser: agent.browser,
            os: agent.os,
            device: agent.device,
            country: s(&c.context.country),
            source,
            source_class,
            fallback: c.context.fallback.unwrap_or(""),
            utm_source: s(&c.utm.source),
            utm_medium: s(&c.utm.medium),
            utm_campaign: s(&c.utm.campaign),
            utm_term: s(&c.utm.term),
            utm_content: s(&c.utm.content),
            name,
            props,
            target,
            user_id,
            pageview_id,
            visible_ms,
            scroll,
        }
    }
}

/// One row of `event_ids`.
#[derive(Debug, Serialize)]
struct IdRow<'a> {
    site: &'a str,
    id_hi: u64,
    id_lo: u64,
    day: String,
}

/// An id's two halves as `event_ids` keeps them.
pub(super) fn halves(id: Uuid) -> (u64, u64) {
    let (hi, lo) = id.as_u64_pair();
    (hi, lo)
}

/// One row of `failed_events`.
#[derive(Debug, Serialize)]
struct FailedRow<'a> {
    received_ms: i64,
    site: &'a str,
    reason_code: &'a str,
    reason: &'a str,
    raw: &'a str,
}

/// A row version that grows with every write from this process and with the clock
/// across processes (microseconds), so the newest write of a key wins.
fn next_version() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = u64::try_from(now_ms()).unwrap_or(0).saturating_mul(1000);
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

/// `(site, event id)` pairs.
type StoredIds = HashSet<(String, Uuid)>;

/// The id of the session `e` starts: its first 48 bits the event's time (so ids sort by
/// start, as UUID v7 do), then the version and variant bits of a v7, then bits of a hash of
/// site, visitor and event id, so the same event starts a session of the same id.
fn session_id(e: &Event) -> Uuid {
    let mut h = Sha256::new();
    h.update(e.site.as_bytes());
    h.update([0]);
    h.update(e.visitor.as_bytes());
    h.update([0]);
    h.update(e.client.id.as_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    let ms = u64::try_from(e.client.ts.max(0)).unwrap_or(0);
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    bytes[6..].copy_from_slice(&digest[..10]);
    bytes[6] = (bytes[6] & 0x0f) | 0x70;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid::from_bytes(bytes)
}

/// The UTC date of `ms` as ClickHouse reads a `Date` (`YYYY-MM-DD`).
fn utc_date(ms: i64) -> String {
    date(ms.div_euclid(DAY_MS))
}

impl ClickHouseStore {
    /// See [`EventSink::append`] and the module docs.
    async fn append_groups(&self, groups: &[&[Event]]) -> Result<Vec<InsertOutcome>, StoreError> {
        let all: Vec<&Event> = groups.iter().flat_map(|g| g.iter()).collect();
        if all.is_empty() {
            return Ok(vec![InsertOutcome::default(); groups.len()]);
        }
        // Two independent reads, sent together.
        let ((mut stored_ids, mut cut_off), mut latest) =
            tokio::try_join!(self.stored_ids(&all), self.latest_sessions(&all))?;
        let mut touched: HashSet<VisitorKey> = HashSet::new();
        // Every session this call changed, as it ends up, and as it was stored before.
        let mut changed: HashMap<Uuid, (VisitorKey, Latest)> = HashMap::new();
        let mut originals: HashMap<Uuid, Latest> = HashMap::new();
        let mut rollups: Rollups<HashSet<String>> = Rollups::default();
        let mut rows = Vec::new();
        let mut new_events: Vec<&Event> = Vec::new();
        let mut outcomes = Vec::with_capacity(groups.len());
        for events in groups {
            let mut stored = 0;
            for e in *events {
                let id = (e.site.clone(), e.client.id);
                // Stored by a call cut off after its events: carried on from there (its
                // session, ids and rollups), without its row again.
                let resumed = cut_off.remove(&id);
                if !resumed && !stored_ids.insert(id) {
                    continue;
                }
                let key = (e.site.clone(), e.visitor.clone());
                let current = latest.get(&key).cloned().flatten();
                let campaign = Campaign {
                    source: e.client.utm.source.clone(),
                    medium: e.client.utm.medium.clone(),
                    campaign: e.client.utm.campaign.clone(),
                };
                let hit = Hit {
                    ts: e.client.ts,
                    kind: &e.client.kind,
                    path: &e.client.path,
                    campaign: &campaign,
                };
                let assignment = session::assign(
                    self.rules(),
                    current.as_ref().map(|l| &l.session),
                    &hit,
                    || session_id(e),
                );
                let is_pageview = matches!(e.client.kind, EventKind::Pageview);
                let (next, prev_path, starts) = match assignment {
                    Assignment::Continue(s) => {
                        let Some(current) = current else { continue };
                        let before = current.facts.last_page.clone();
                        let in_order = hit.ts >= current.session.last_ts;
                        let prev = if is_pageview { before } else { None };
                        // The event that started the session, met again by a retry.
                        // (Its id is made from that event: see `session_id`.)
                        let starts = session_id(e) == current.session.id;
                        if !changed.contains_key(&s.id) {
                            // Its contribution as stored, taken back once it is written.
                            originals.insert(s.id, current.clone());
                        }
                        let mut next = current;
                        next.session = s;
                        if is_pageview {
                            if in_order {
                                next.facts.last_page = Some(e.client.path.clone());
                            }
                            next.page(e.client.ts, &e.client.path);
                        }
                        (next, prev, starts)
                    }
                    Assignment::Start(s) => {
                        // A late event that fits nowhere starts a session that ends before
                        // the visitor's latest, which stays the latest.
                        let keeps_current = current
                            .as_ref()
                            .is_some_and(|l| s.last_ts < l.session.last_ts);
                        let started = Latest::start(e, s);
                        if keeps_current {
                            if !resumed {
                                rows.push(EventRow::new(e, started.session.id, true, None));
                            }
                            rollups.event(e, None);
                            changed.insert(started.session.id, (key, started));
                            new_events.push(e);
                            stored += 1;
                            continue;
                        }
                        (started, None, true)
                    }
                };
                if !resumed {
                    rows.push(EventRow::new(e, next.session.id, starts, prev_path.clone()));
                }
                rollups.event(e, prev_path.as_deref());
                changed.insert(next.session.id, (key.clone(), next.clone()));
                latest.insert(key.clone(), Some(next));
                touched.insert(key);
                new_events.push(e);
                stored += 1;
            }
            outcomes.push(InsertOutcome {
                stored,
                duplicates: events.len() - stored,
            });
        }
        if new_events.is_empty() {
            return Ok(outcomes);
        }
        let version = next_version();
        let sessions: Vec<VisitorSession> = touched
            .iter()
            .filter_map(|k| {
                latest
                    .get(k)
                    .and_then(Option::as_ref)
                    .map(|l| l.to_row(k, version))
            })
            .collect();
        let settings = self.insert_settings();
        // The identity side effects go before the events: ClickHouse has no transaction
        // across tables, and a call cut off after its events would otherwise leave links
        // and persons missing that its retry (a duplicate by then) never writes. Ahead of
        // the events they are written again by the retry, once each (links are recorded
        // once per pair and kind).
        self.apply_identity(&new_events).await?;
        // The events first of what they change: the insert a busy cluster refuses (a
        // quorum insert, Code 286) leaves nothing behind, and its retry starts clean.
        // (None when the call only carries on a cut-off one.)
        self.client().insert("events", &rows, &settings).await?;
        let ids: Vec<IdRow<'_>> = new_events
            .iter()
            .map(|e| {
                let (id_hi, id_lo) = halves(e.client.id);
                IdRow {
                    site: &e.site,
                    id_hi,
                    id_lo,
                    day: utc_date(e.client.ts),
                }
            })
            .collect();
        // Then what the events change, sent together: the sessions and the rollups (taken
        // from the sessions as stored before the call); and last their ids, which mark the
        // call complete. A call cut off before its ids is carried on by its retry, which
        // finds its events in `events` alone (`stored_ids`): the sessions go on from them
        // (a visitor is not split where the cut-off call started a session), and the
        // rollups count them, twice only if the call was cut off between its rollups and
        // its ids (`rebuild-reports` makes a day exact again, see `rollups`).
        for (id, (key, now)) in &changed {
            if let Some(old) = originals.get(id) {
                rollups.session(&old.state(key), -1);
            }
            rollups.session(&now.state(key), 1);
        }
        let state = self.state_settings();
        tokio::try_join!(
            self.client().insert("latest_sessions", &sessions, &state),
            self.write_rollups(rollups, version),
        )?;
        self.client().insert("event_ids", &ids, &settings).await?;
        Ok(outcomes)
    }

    /// The `(site, id)` pairs among `events` already stored: in `event_ids`, or in `events`
    /// under the event's own site, day and visitor; and apart, those in `events` alone (a
    /// call cut off before its ids, which the caller carries on).
    async fn stored_ids(&self, events: &[&Event]) -> Result<(StoredIds, StoredIds), StoreError> {
        let mut by_site: HashMap<&str, Vec<&Event>> = HashMap::new();
        for e in events {
            by_site.entry(&e.site).or_default().push(e);
        }
        let mut parts = Vec::new();
        for (site, events) in &by_site {
            let ids: Vec<String> = events.iter().map(|e| e.client.id.to_string()).collect();
            let id_list = quote_list(ids.iter().map(String::as_str));
            let keys: Vec<String> = events
                .iter()
                .map(|e| format!("({}, {})", quote(&utc_date(e.client.ts)), quote(&e.visitor)))
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let pairs: Vec<String> = events
                .iter()
                .map(|e| {
                    let (hi, lo) = halves(e.client.id);
                    format!("({hi}, {lo})")
                })
                .collect();
            parts.push(format!(
                "SELECT site, '' AS id, id_hi AS hi, id_lo AS lo FROM {ids_table} \
                 WHERE site = {s} AND (id_hi, id_lo) IN ({pairs})",
                ids_table = self.table("event_ids"),
                s = quote(site),
                pairs = pairs.join(", "),
            ));
            parts.push(format!(
                "SELECT site, toString(id) AS id, toUInt64(0) AS hi, toUInt64(0) AS lo \
                 FROM {events_table} \
                 WHERE site = {s} AND (toString(day), visitor) IN ({keys}) AND id IN {id_list}",
                events_table = self.table("events"),
                s = quote(site),
                keys = keys.join(", "),
            ));
        }
        #[derive(Deserialize)]
        struct Stored {
            site: String,
            /// From `events`: the id's text.
            id: String,
            /// From `event_ids`: its halves.
            hi: u64,
            lo: u64,
        }
        let found: Vec<Stored> = self
            .client()
            .rows(parts.join("\nUNION ALL\n"), &self.consistent_read())
            .await?;
        let mut complete = StoredIds::new();
        let mut in_events = StoredIds::new();
        for r in found {
            if r.id.is_empty() {
                complete.insert((r.site, Uuid::from_u64_pair(r.hi, r.lo)));
            } else {
                let id = Uuid::parse_str(&r.id).map_err(|e| backend(format!("stored id: {e}")))?;
                in_events.insert((r.site, id));
            }
        }
        let cut_off: StoredIds = in_events.difference(&complete).cloned().collect();
        complete.extend(in_events);
        Ok((complete, cut_off))
    }

    /// The latest session of each visitor of `events` (`None` for a visitor without one).
    async fn latest_sessions(
        &self,
        events: &[&Event],
    ) -> Result<HashMap<VisitorKey, Option<Latest>>, StoreError> {
        let mut by_site: HashMap<&str, HashSet<&str>> = HashMap::new();
        for e in events {
            by_site.entry(&e.site).or_default().insert(&e.visitor);
        }
        let mut latest: HashMap<VisitorKey, Option<Latest>> = HashMap::new();
        let mut parts = Vec::new();
        for (site, visitors) in &by_site {
            for v in visitors {
                latest.insert((site.to_string(), v.to_string()), None);
            }
            parts.push(format!(
                "SELECT site, visitor, {columns} \
                 FROM {table} WHERE site = {s} AND visitor IN {list} GROUP BY site, visitor",
                columns = latest_columns(),
                table = self.table("latest_sessions"),
                s = quote(site),
                list = quote_list(visitors.iter().copied()),
            ));
        }
        let rows: Vec<VisitorSession> = self
            .client()
            .rows(parts.join("\nUNION ALL\n"), &self.consistent_read())
            .await?;
        for row in &rows {
            latest.insert(
                (row.site.clone(), row.visitor.clone()),
                Some(Latest::from_row(row)?),
            );
        }
        Ok(latest)
    }

    /// Appends failed events, then, when well over `keep` rows are kept, deletes all but
    /// the newest `keep` (checked every call: `count()` is read from the parts' metadata).
    async fn append_failed_rows(
        &self,
        rows: Vec<FailedEvent>,
        keep: usize,
    ) -> Result<(), StoreError> {
        let out: Vec<FailedRow<'_>> = rows
            .iter()
            .map(|r| FailedRow {
                received_ms: r.received_ms,
                site: &r.site,
                reason_code: &r.reason_code,
                reason: &r.reason,
                raw: &r.raw,
            })
            .collect();
        self.client()
            .insert("failed_events", &out, &self.insert_settings())
            .await?;
        #[derive(Deserialize)]
        struct Count {
            n: u64,
        }
        let table = self.table("failed_events");
        let n = self
            .client()
            .rows::<Count>(format!("SELECT count() AS n FROM {table}"), &[])
            .await?
            .first()
            .map_or(0, |c| c.n);
        let keep = keep as u64;
        if n > keep + keep / 2 + 100 {
            #[derive(Deserialize)]
            struct Cutoff {
                t: i64,
            }
            let cutoff = self
                .client()
                .rows::<Cutoff>(
                    format!(
                        "SELECT min(received_ms) AS t FROM (SELECT received_ms FROM {table} \
                         ORDER BY received_ms DESC LIMIT {keep})"
                    ),
                    &[],
                )
                .await?
                .first()
                .map_or(i64::MIN, |c| c.t);
            self.client()
                .command(
                    format!(
                        "ALTER TABLE {} DELETE WHERE received_ms < {cutoff}",
                        self.local_table("failed_events")
                    ),
                    &[],
                )
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_match_the_calendar() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(-1), "1969-12-31");
        assert_eq!(utc_date(951_782_400_000), "2000-02-29");
        assert_eq!(utc_date(1_796_515_200_000), "2026-12-06");
    }

    #[test]
    fn versions_always_grow() {
        let a = next_version();
        let b = next_version();
        assert!(b > a);
    }
}
