//! The ClickHouse store's append path against a real `clickhouse-server`
//! (`common::clickhouse`): ids stored once whatever a resend carries, sessions continued
//! across calls and named the same by a retry, and a call cut off after its events carried
//! on by its retry without counting anything twice. Skipped where ClickHouse is not installed
//! (never under `CI=true`).

#![allow(clippy::unwrap_used)]

mod common;

use spoor_collector::event::{ClientEvent, Context, Event, EventKind, IdentityEffects, Utm};
use spoor_collector::identity::Evidence;
use spoor_collector::store::EventSink;
use spoor_collector::store::clickhouse::ClickHouseStore;
use spoor_collector::store::clickhouse::client::Client;
use uuid::Uuid;

/// 2026-12-06 10:00 UTC.
const T0: i64 = 1_796_551_200_000;
const MIN: i64 = 60_000;

fn pageview(id: u128, visitor: &str, ts: i64, path: &str) -> Event {
    Event {
        site: "demo".into(),
        client: ClientEvent {
            id: Uuid::from_u128(id),
            kind: EventKind::Pageview,
            url: format!("http://localhost{path}"),
            hostname: "localhost".into(),
            path: path.into(),
            referrer: None,
            title: None,
            client_id: Some(visitor.into()),
            session: None,
            reset: false,
            signature: None,
            ts,
            context: Context::default(),
            utm: Utm::default(),
        },
        visitor: visitor.into(),
        evidence: Evidence::ClientId,
        received: ts,
        identity: IdentityEffects::default(),
    }
}

/// A new store on the shared server, and a client on its database for checks.
async fn store() -> Option<(ClickHouseStore, Client)> {
    common::clickhouse_store().await
}

/// `(events, distinct sessions, distinct ids)` stored, as ClickHouse counts them before
/// any merge.
async fn counts(client: &Client) -> (u64, u64, u64) {
    #[derive(serde::Deserialize)]
    struct C {
        n: u64,
        s: u64,
        i: u64,
    }
    let c: Vec<C> = client
        .rows(
            "SELECT count() AS n, uniqExact(session) AS s, uniqExact(id) AS i FROM events".into(),
            &[],
        )
        .await
        .unwrap();
    (c[0].n, c[0].s, c[0].i)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_is_stored_once_and_sessions_continue_across_calls() {
    let Some((store, client)) = store().await else {
        return;
    };
    let first = vec![
        pageview(1, "v1", T0, "/"),
        pageview(2, "v1", T0 + MIN, "/a"),
    ];
    let out = store.append(vec![first.clone()]).await.unwrap();
    assert_eq!((out[0].stored, out[0].duplicates), (2, 0));
    // The same ids again, one with other content, plus a new event 5 minutes on.
    let mut other = pageview(2, "v9", T0 + 500 * MIN, "/elsewhere");
    other.site = "demo".into();
    let again = vec![
        first[0].clone(),
        other,
        pageview(3, "v1", T0 + 6 * MIN, "/b"),
    ];
    let out = store.append(vec![again]).await.unwrap();
    assert_eq!((out[0].stored, out[0].duplicates), (1, 2));
    assert_eq!(counts(&client).await, (3, 1, 3));
    // 30 minutes idle cuts.
    store
        .append(vec![vec![pageview(4, "v1", T0 + 36 * MIN, "/c")]])
        .await
        .unwrap();
    assert_eq!(counts(&client).await, (4, 2, 4));
}

/// A call cut off after its events (a collector killed mid-call) left them alone: no ids,
/// no latest session, no rollups. Its retry carries it on without writing the events
/// again: the visitor's next event continues the session they started, and the rollups
/// count every event once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_the_events_were_written_carries_the_call_on_counting_nothing_twice() {
    use spoor_collector::reports::ReportQuery;
    use spoor_collector::reports::range::{DAY_MS, Range};
    use spoor_collector::store::ReportSource;

    let Some((store, client)) = store().await else {
        return;
    };
    let batch = vec![
        pageview(10, "v2", T0, "/"),
        pageview(11, "v2", T0 + MIN, "/x"),
    ];
    store.append(vec![batch.clone()]).await.unwrap();
    for table in [
        "event_ids",
        "latest_sessions",
        "report_counts",
        "report_visitors",
    ] {
        client
            .command(format!("TRUNCATE TABLE {table}"), &[])
            .await
            .unwrap();
    }
    let out = store.append(vec![batch.clone()]).await.unwrap();
    assert_eq!((out[0].stored, out[0].duplicates), (2, 0), "carried on");
    assert_eq!(counts(&client).await, (2, 1, 2), "no row twice");
    // Complete now: a resend is a duplicate, and the next event continues the session.
    let out = store.append(vec![batch]).await.unwrap();
    assert_eq!((out[0].stored, out[0].duplicates), (0, 2));
    store
        .append(vec![vec![pageview(12, "v2", T0 + 5 * MIN, "/y")]])
        .await
        .unwrap();
    assert_eq!(counts(&client).await, (3, 1, 3), "one session");
    let day = T0.div_euclid(DAY_MS);
    let q = ReportQuery::new("demo", Range { from: day, to: day });
    let rollups = ReportSource::counts(&store, &q).await.unwrap();
    let events = ReportSource::counts(&store.without_rollups(), &q)
        .await
        .unwrap();
    assert_eq!(
        (rollups.pageviews, rollups.events, rollups.sessions),
        (3, 3, 1)
    );
    assert_eq!(rollups, events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_memory_asks_answers_as_each_ask_alone() {
    use spoor_collector::store::{BlockingSink, IdentityState, MemoryAsk};
    let Some((store, _client)) = store().await else {
        return;
    };
    let day = T0.div_euclid(86_400_000);
    let seen = |id: u128, visitor: &str, fp: &str| {
        let mut e = pageview(id, visitor, T0 + id as i64, "/");
        e.identity = IdentityEffects {
            fingerprint: fp.into(),
            observe_fingerprint: true,
            ..IdentityEffects::default()
        };
        e
    };
    store
        .append(vec![vec![
            seen(1, "v1", "fp_a"),
            seen(2, "v2", "fp_a"),
            seen(3, "v3", "fp_a"),
            seen(4, "v4", "fp_b"),
        ]])
        .await
        .unwrap();
    let ask = |id: Option<&str>, fp: &str, day: i64| MemoryAsk {
        site: "demo".into(),
        client_id: id.map(str::to_string),
        fingerprint: fp.into(),
        day,
    };
    let asks = vec![
        ask(Some("v1"), "fp_a", day),
        ask(Some("nobody"), "fp_b", day),
        ask(None, "fp_c", day),
        ask(Some("v4"), "", day),
        ask(None, "fp_a", day - 1),
    ];
    let blocking = store.clone();
    let batched = tokio::task::spawn_blocking({
        let asks = asks.clone();
        move || blocking.identity_memories(&asks)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(batched.len(), asks.len());
    for (a, m) in asks.iter().zip(&batched) {
        let one = IdentityState::identity_memory(
            &store,
            &a.site,
            a.client_id.as_deref(),
            &a.fingerprint,
            a.day,
        )
        .await
        .unwrap();
        assert_eq!(
            (m.client_id_known, &m.behind_fingerprint, m.last_seen_ms),
            (
                one.client_id_known,
                &one.behind_fingerprint,
                one.last_seen_ms
            ),
            "{a:?}"
        );
    }
    // The crowd behind fp_a reads as its first two.
    assert_eq!(batched[0].behind_fingerprint, ["v1", "v2"]);
    assert!(batched[0].client_id_known && !batched[1].client_id_known);
}
