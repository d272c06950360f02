//! The ClickHouse store's append path against a real `clickhouse-server`
//! (`common::clickhouse`): ids stored once whatever a resend carries, sessions continued
//! across calls and named the same by a retry, and a call that failed half-way repaired by
//! its retry without counting anything twice. Skipped where ClickHouse is not installed
//! (never under `CI=true`).

#![allow(clippy::unwrap_used)]

mod common;

use spoor_collector::event::{ClientEvent, Context, Event, EventKind, IdentityEffects, Utm};
use spoor_collector::identity::Evidence;
use spoor_collector::session::SessionRules;
use spoor_collector::store::EventSink;
use spoor_collector::store::clickhouse::client::Client;
use spoor_collector::store::clickhouse::{ClickHouseOptions, ClickHouseStore};
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
    let endpoint = common::clickhouse_endpoint(&common::clickhouse::new_database()?);
    let options = ClickHouseOptions {
        endpoint: endpoint.clone(),
        cluster: None,
        insert_quorum: 2,
    };
    let store = ClickHouseStore::open(options, SessionRules::default())
        .await
        .unwrap();
    Some((store, Client::new(endpoint)))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_the_events_were_written_counts_nothing_twice() {
    let Some((store, client)) = store().await else {
        return;
    };
    let batch = vec![
        pageview(10, "v2", T0, "/"),
        pageview(11, "v2", T0 + MIN, "/x"),
    ];
    store.append(vec![batch.clone()]).await.unwrap();
    // As if the ids' insert had failed after the events' own: the retry must find the
    // events where they are.
    client
        .command("TRUNCATE TABLE event_ids".into(), &[])
        .await
        .unwrap();
    let out = store.append(vec![batch]).await.unwrap();
    assert_eq!((out[0].stored, out[0].duplicates), (0, 2));
    assert_eq!(counts(&client).await, (2, 1, 2));
}
