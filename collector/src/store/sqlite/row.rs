//! An [`Event`] as a row of `event_rows` (migration 0013), the one place that knows the
//! compact encoding: event and page view ids as their 16 bytes, kind and evidence as
//! small codes, every other string as a [`Dict`] id, `url` left out when the host and path
//! give it, `client_id` as 0 when it is the visitor, `received` as its distance from `ts`,
//! the server session as its row's rowid (migration 0017) and the beacon's session as 0
//! when its session row keeps it (0018).
//! The `events` view decodes it back; the codes here and the view's `CASE`s must agree.

use rusqlite::{Connection, params};

use super::dict::Dict;
use crate::event::{Event, EventKind};
use crate::identity::Evidence;
use crate::store::StoreError;

/// The stored code of an event kind (the view's `CASE e.kind`).
pub(super) fn kind_code(kind: &EventKind) -> i64 {
    match kind {
        EventKind::Pageview => 0,
        EventKind::Engagement(_) => 1,
        EventKind::Custom(_) => 2,
        EventKind::Outbound { .. } => 3,
        EventKind::Download { .. } => 4,
        EventKind::Identify { .. } => 5,
    }
}

/// The stored code of a page view, for queries on `event_rows` by kind.
pub(super) const PAGEVIEW: i64 = 0;
/// The stored code of a custom event.
pub(super) const CUSTOM: i64 = 2;

fn evidence_code(evidence: Evidence) -> i64 {
    match evidence {
        Evidence::ClientId => 0,
        Evidence::ServerCookie => 1,
        Evidence::Fingerprint => 2,
    }
}

/// `url` when the host and path give it back (the view's `CASE WHEN e.url ...`): NULL
/// for `https://`, 0 for `http://`.
enum Url {
    Https,
    Http,
    Other(i64),
}

/// One event's row, every string already an id.
pub(super) struct EventRow {
    id: [u8; 16],
    site: i64,
    kind: i64,
    ts: i64,
    received: i64,
    visitor: i64,
    evidence: i64,
    /// `Some(0)`: the beacon's id is the visitor.
    client_id: Option<i64>,
    /// `Some(0)`: the beacon's session is the one its server session's row keeps.
    session: Option<i64>,
    /// The server session's row (`session_rows.rowid`), not a string.
    session_id: i64,
    url: Url,
    hostname: i64,
    path: i64,
    prev_path: Option<i64>,
    referrer: Option<i64>,
    title: Option<i64>,
    screen: Option<i64>,
    lang: Option<i64>,
    tz: Option<i64>,
    utm: [Option<i64>; 5],
    name: Option<i64>,
    props: Option<i64>,
    target: Option<i64>,
    pageview_id: Option<[u8; 16]>,
    visible_ms: Option<u32>,
    scroll: Option<u8>,
    user_id: Option<i64>,
    fallback: Option<i64>,
}

impl EventRow {
    /// Encodes `e`, which belongs to the server session stored (or to be stored) as row
    /// `session_row` of `session_rows` (whose `beacon` is `e`'s own session id when
    /// `beacon_is_sessions`) and follows the page view of `prev_path` in it, looking its
    /// strings up in (or adding them to) `dict`.
    pub(super) fn encode(
        conn: &Connection,
        dict: &mut Dict,
        e: &Event,
        session_row: i64,
        beacon_is_sessions: bool,
        prev_path: Option<&str>,
    ) -> Result<EventRow, StoreError> {
        let c = &e.client;
        let k = KindColumns::of(&c.kind);
        let visitor = dict.key(conn, &e.visitor)?;
        let client_id = match c.client_id.as_deref() {
            Some(id) if id == e.visitor => Some(0),
            other => dict.opt_key(conn, other)?,
        };
        let url = if c.url.strip_prefix("https://") == Some(&format!("{}{}", c.hostname, c.path)) {
            Url::Https
        } else if c.url.strip_prefix("http://") == Some(&format!("{}{}", c.hostname, c.path)) {
            Url::Http
        } else {
            Url::Other(dict.id(conn, &c.url)?)
        };
        let session = if beacon_is_sessions {
            Some(0)
        } else {
            dict.opt_key(conn, c.session.as_deref())?
        };
        let mut text = |v: Option<&str>| dict.opt(conn, v);
        Ok(EventRow {
            id: *c.id.as_bytes(),
            kind: kind_code(&c.kind),
            ts: c.ts,
            received: e.received.saturating_sub(c.ts),
            evidence: evidence_code(e.evidence),
            client_id,
            visitor,
            session,
            url,
            referrer: text(c.referrer.as_deref())?,
            title: text(c.title.as_deref())?,
            screen: text(c.context.screen.as_deref())?,
            lang: text(c.context.lang.as_deref())?,
            tz: text(c.context.tz.as_deref())?,
            utm: [
                text(c.utm.source.as_deref())?,
                text(c.utm.medium.as_deref())?,
                text(c.utm.campaign.as_deref())?,
                text(c.utm.term.as_deref())?,
                text(c.utm.content.as_deref())?,
            ],
            name: text(k.name)?,
            props: text(k.props.as_deref())?,
            target: text(k.target)?,
            pageview_id: k.pageview_id,
            visible_ms: k.visible_ms,
            scroll: k.scroll,
            user_id: text(k.user_id)?,
            prev_path: text(prev_path)?,
            fallback: text(c.context.fallback)?,
            site: dict.id(conn, &e.site)?,
            session_id: session_row,
            hostname: dict.id(conn, &c.hostname)?,
            path: dict.id(conn, &c.path)?,
        })
    }

    /// Inserts the row unless its event id is stored already; 1 if it was inserted.
    pub(super) fn insert(&self, conn: &Connection) -> Result<usize, StoreError> {
        let received = self.received;
        let url = match self.url {
            Url::Https => None,
            Url::Http => Some(0),
            Url::Other(id) => Some(id),
        };
        let [utm_source, utm_medium, utm_campaign, utm_term, utm_content] = self.utm;
        Ok(conn
            .prepare_cached(
                "INSERT OR IGNORE INTO event_rows (id, site, kind, ts, received, visitor,
                     evidence, client_id, session, session_id, url, hostname, path, prev_path,
                     referrer, title, screen, lang, tz, utm_source, utm_medium, utm_campaign,
                     utm_term, utm_content, name, props, target, pageview_id, visible_ms,
                     scroll, user_id, fallback)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                     ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29,
                     ?30, ?31, ?32)",
            )?
            .execute(params![
                &self.id[..],
                self.site,
                self.kind,
                self.ts,
                received,
                self.visitor,
                self.evidence,
                self.client_id,
                self.session,
                self.session_id,
                url,
                self.hostname,
                self.path,
                self.prev_path,
                self.referrer,
                self.title,
                self.screen,
                self.lang,
                self.tz,
                utm_source,
                utm_medium,
                utm_campaign,
                utm_term,
                utm_content,
                self.name,
                self.props,
                self.target,
                self.pageview_id.as_ref().map(|b| &b[..]),
                self.visible_ms,
                self.scroll,
                self.user_id,
                self.fallback,
            ])?)
    }

    /// Every string id the row holds, once per column (what `refs` counts, and what the
    /// `event_rows_unref` trigger gives back).
    pub(super) fn references(&self) -> impl Iterator<Item = i64> + use<> {
        let url = match self.url {
            Url::Other(id) => Some(id),
            _ => None,
        };
        [
            Some(self.site),
            Some(self.visitor),
            self.client_id.filter(|&id| id != 0),
            self.session.filter(|&id| id != 0),
            url,
            Some(self.hostname),
            Some(self.path),
            self.prev_path,
            self.referrer,
            self.title,
            self.screen,
            self.lang,
            self.tz,
            self.name,
            self.props,
            self.target,
            self.user_id,
            self.fallback,
        ]
        .into_iter()
        .chain(self.utm)
        .flatten()
    }
}

/// The columns that hold one event type's data; the other types leave them NULL.
#[derive(Default)]
struct KindColumns<'a> {
    name: Option<&'a str>,
    props: Option<String>,
    target: Option<&'a str>,
    pageview_id: Option<[u8; 16]>,
    visible_ms: Option<u32>,
    scroll: Option<u8>,
    user_id: Option<&'a str>,
}

impl<'a> KindColumns<'a> {
    fn of(kind: &'a EventKind) -> KindColumns<'a> {
        match kind {
            EventKind::Pageview => KindColumns::default(),
            EventKind::Engagement(e) => KindColumns {
                pageview_id: Some(*e.pageview.as_bytes()),
                visible_ms: Some(e.visible_ms),
                scroll: Some(e.scroll),
                ..KindColumns::default()
            },
            EventKind::Custom(c) => KindColumns {
                name: Some(&c.name),
                props: c.props.as_ref().map(|p| p.to_json()),
                ..KindColumns::default()
            },
            EventKind::Outbound { target } | EventKind::Download { target } => KindColumns {
                target: Some(target),
                ..KindColumns::default()
            },
            EventKind::Identify { user } => KindColumns {
                user_id: Some(user),
                ..KindColumns::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::store::StoreError;
    use crate::store::sqlite::SqliteStore;
    use crate::store::sqlite::dict;
    use crate::store::sqlite::reports::exact;

    /// The steps of `sql`'s query plan.
    fn plan(store: &SqliteStore, sql: &str) -> Result<Vec<String>, StoreError> {
        let conn = store.reader();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let n = stmt.parameter_count();
        let args = vec!["x"; n];
        let steps = stmt
            .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))?
            .collect::<Result<_, _>>()?;
        Ok(steps)
    }

    /// The reads by site, visitor and session id must look the string up (a visitor or
    /// session id in the dictionary's form, see `dict`) and then use an index of
    /// `event_rows` (a filter on the `events` view's decoded ids cannot): a scan would
    /// make a request's identity lookup, an erasure or a report grow with the site.
    #[test]
    fn reads_through_the_view_by_site_visitor_or_session_use_the_indexes() -> Result<(), StoreError>
    {
        let store = SqliteStore::open_in_memory()?;
        for (sql, index) in [
            (
                format!("SELECT {}", dict::has_events_sql("?1", "?2")),
                "events_site_visitor (site=? AND visitor=?)",
            ),
            (
                exact::SESSION_LOG.to_string(),
                "events_session (session_id=?)",
            ),
            (
                format!(
                    "{} SELECT count(*) FROM {}",
                    exact::SESSIONS,
                    exact::SESSION_EVENTS
                ),
                "events_session (session_id=?)",
            ),
            (
                "SELECT path FROM events WHERE site = ?1 AND ts >= ?2 AND ts < ?3".to_string(),
                "events_site_ts (site=? AND ts>? AND ts<?)",
            ),
        ] {
            let steps = plan(&store, &sql)?;
            assert!(steps.iter().any(|s| s.contains(index)), "{sql}: {steps:?}");
            assert!(
                !steps
                    .iter()
                    .any(|s| s.starts_with("SCAN") && s != "SCAN CONSTANT ROW"),
                "{sql}: {steps:?}"
            );
        }
        Ok(())
    }
}
