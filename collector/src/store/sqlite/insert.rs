//! How an [`Event`] becomes a row of the `events` table: the columns every event fills, and
//! the columns of each type ([`KindColumns`]), which the other types leave NULL. Each new
//! event is also given its server session ([`SessionWriter`]) and has its identity side
//! effects applied (links, fingerprint observations) in the same transaction.

use rusqlite::{Connection, params};

use super::identity;
use super::reports::rollup::Rollups;
use super::sessions::SessionWriter;
use crate::event::{Event, EventKind};
use crate::session::SessionRules;
use crate::store::{InsertOutcome, StoreError};

/// Writes `groups` in one transaction; see [`Store::insert_groups`](crate::store::Store::insert_groups).
pub(super) fn insert_groups(
    conn: &mut Connection,
    rules: &SessionRules,
    groups: &[&[Event]],
) -> Result<Vec<InsertOutcome>, StoreError> {
    // IMMEDIATE takes the write lock up front, so a lock held by another connection is
    // waited for (busy timeout) instead of failing at once when the read turns into a write.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut sessions = SessionWriter::new(rules);
    let mut rollups = Rollups::default();
    let mut outcomes = Vec::with_capacity(groups.len());
    for events in groups {
        let mut stmt = tx.prepare_cached(
            "INSERT OR IGNORE INTO events (id, site, kind, ts, received, visitor, evidence,
                 client_id, session, url, hostname, path, referrer, title,
                 screen, lang, tz,
                 utm_source, utm_medium, utm_campaign, utm_term, utm_content,
                 name, props, target, pageview_id, visible_ms, scroll, user_id, session_id,
                 prev_path, fallback)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                 ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22,
                 ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32)",
        )?;
        let mut stored = 0;
        for e in *events {
            let c = &e.client;
            let k = KindColumns::of(&c.kind);
            // Decided before the insert so the row carries its session id; kept only when
            // the row is new (a duplicate neither counts nor moves its session).
            let assignment = sessions.assign(&tx, e)?;
            let prev_page = sessions.prev_page(e, &assignment);
            let inserted = stmt.execute(params![
                c.id.to_string(),
                e.site,
                c.kind.as_str(),
                c.ts,
                e.received,
                e.visitor,
                e.evidence.as_str(),
                c.client_id,
                c.session,
                c.url,
                c.hostname,
                c.path,
                c.referrer,
                c.title,
                c.context.screen,
                c.context.lang,
                c.context.tz,
                c.utm.source,
                c.utm.medium,
                c.utm.campaign,
                c.utm.term,
                c.utm.content,
                k.name,
                k.props,
                k.target,
                k.pageview_id,
                k.visible_ms,
                k.scroll,
                k.user_id,
                assignment.session().id.to_string(),
                prev_page,
                c.context.fallback,
            ])?;
            if inserted == 1 {
                rollups.event(e, prev_page.as_deref());
                sessions.record(e, assignment);
                identity::apply(&tx, e)?;
            }
            stored += inserted;
        }
        outcomes.push(InsertOutcome {
            stored,
            duplicates: events.len() - stored,
        });
    }
    sessions.flush(&tx, &mut rollups)?;
    rollups.flush(&tx)?;
    tx.commit()?;
    Ok(outcomes)
}

/// The columns that hold one event type's data; the other types leave them NULL.
#[derive(Default)]
struct KindColumns<'a> {
    name: Option<&'a str>,
    props: Option<String>,
    target: Option<&'a str>,
    pageview_id: Option<String>,
    visible_ms: Option<u32>,
    scroll: Option<u8>,
    user_id: Option<&'a str>,
}

impl<'a> KindColumns<'a> {
    fn of(kind: &'a EventKind) -> KindColumns<'a> {
        match kind {
            EventKind::Pageview => KindColumns::default(),
            EventKind::Engagement(e) => KindColumns {
                pageview_id: Some(e.pageview.to_string()),
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
    use super::*;
    use crate::event::{Custom, Engagement, PropValue, Props};
    use crate::store::Store;
    use crate::store::sqlite::SqliteStore;
    use crate::store::sqlite::tests::event;

    #[test]
    fn each_type_fills_its_own_columns_and_only_pageviews_count_as_pageviews()
    -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let with_kind = |id: u128, kind: EventKind| {
            let mut e = event(id, "v1", "s1");
            e.client.kind = kind;
            e
        };
        let props = Props([("plan".to_string(), PropValue::Bool(true))].into());
        store.insert_events(&[
            event(1, "v1", "s1"),
            with_kind(
                2,
                EventKind::Engagement(Engagement {
                    pageview: uuid::Uuid::from_u128(1),
                    visible_ms: 1500,
                    scroll: 40,
                }),
            ),
            with_kind(
                3,
                EventKind::Custom(Custom {
                    name: "signup".into(),
                    props: Some(props),
                }),
            ),
            with_kind(
                4,
                EventKind::Download {
                    target: "https://example.com/a.pdf".into(),
                },
            ),
            with_kind(5, EventKind::Identify { user: "u-1".into() }),
        ])?;
        let conn = store.reader();
        let mut stmt = conn.prepare(
            "SELECT kind || ':' || coalesce(pageview_id, '') || ':' || coalesce(visible_ms, '')
                 || ':' || coalesce(scroll, '') || ':' || coalesce(name, '') || ':'
                 || coalesce(props, '') || ':' || coalesce(target, '') || ':'
                 || coalesce(user_id, '')
             FROM events ORDER BY id",
        )?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        assert_eq!(
            rows,
            [
                "pageview:::::::",
                "engagement:00000000-0000-0000-0000-000000000001:1500:40::::",
                "custom::::signup:{\"plan\":true}::",
                "download::::::https://example.com/a.pdf:",
                "identify:::::::u-1",
            ]
        );
        drop(stmt);
        drop(conn);
        let s = store.summary("demo", crate::identity::graph::Mode::Inclusive)?;
        assert_eq!((s.pageviews, s.events), (1, 5));
        Ok(())
    }
}
