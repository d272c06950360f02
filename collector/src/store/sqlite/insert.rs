//! How a batch of [`Event`]s is stored: each becomes a row of `event_rows` (encoded by
//! [`row`](super::row), its strings counted in the [`Dict`]). Each new
//! event is also given its server session ([`SessionWriter`]) and has its identity side
//! effects applied (links, fingerprint observations) in the same transaction.

use rusqlite::Connection;

use super::dict::Dict;
use super::identity;
use super::reports::rollup::{Flush, Rollups};
use super::reports::settle;
use super::row::EventRow;
use super::sessions::SessionWriter;
use crate::event::Event;
use crate::session::SessionRules;
use crate::store::{InsertOutcome, StoreError};

/// Writes `groups` in one transaction; see [`EventSink::append`](crate::store::EventSink::append).
pub(super) fn insert_groups(
    conn: &mut Connection,
    dict: &mut Dict,
    rules: &SessionRules,
    groups: &[&[Event]],
) -> Result<Vec<InsertOutcome>, StoreError> {
    // IMMEDIATE takes the write lock up front, so a lock held by another connection is
    // waited for (busy timeout) instead of failing at once when the read turns into a write.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    dict.check(&tx)?;
    let mut sessions = SessionWriter::new(rules);
    let mut rollups = Rollups::default();
    let mut outcomes = Vec::with_capacity(groups.len());
    for events in groups {
        let mut stored = 0;
        for e in *events {
            // Decided before the insert so the row carries its session id; kept only when
            // the row is new (a duplicate neither counts nor moves its session).
            let assignment = sessions.assign(&tx, e)?;
            let prev_page = sessions.prev_page(e, &assignment);
            let session_row = sessions.row_of(&assignment)?;
            let beacon = sessions.keeps_beacon_of(&assignment, e);
            let row = EventRow::encode(&tx, dict, e, session_row, beacon, prev_page.as_deref())?;
            let inserted = row.insert(&tx)?;
            if inserted == 1 {
                dict.count(row.references());
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
    // The writer's clock: the latest arrival in this commit. Sessions due by it settle
    // first (a session this commit continues settles with the pages it had, if no event
    // arrived for it for the timeout), then every touched one is written, due a timeout
    // after its own latest arrival (`settle`).
    let now = groups
        .iter()
        .flat_map(|g| g.iter())
        .map(|e| e.received)
        .max()
        .unwrap_or(i64::MIN);
    let idle = i64::try_from(rules.idle_timeout.as_millis()).unwrap_or(i64::MAX);
    settle::step(&tx, now, settle::STEP + sessions.touched(), &mut rollups)?;
    sessions.flush(&tx, dict, &mut rollups, idle)?;
    rollups.flush(&tx)?;
    dict.flush(&tx)?;
    tx.commit()?;
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Custom, Engagement, EventKind, PropValue, Props};
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
