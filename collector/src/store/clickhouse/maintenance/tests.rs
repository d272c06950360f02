//! Export, erasure and the retention purge against a real `clickhouse-server` (see
//! `identity::tests`): what each covers and deletes, that nothing erased stays readable,
//! and that the persons of the visitors linked to what went are worked out again.

use super::super::ClickHouseStore;
use super::super::client::quote;
use super::super::identity::tests::{all_links, insert, new_link, store, with};
use crate::event::{Event, EventKind, IdentityEffects};
use crate::identity::graph::{LinkKind, Mode};
use crate::identity::resolver::NewLink;
use crate::maintenance::erasure::{Subject, SubjectExport};
use crate::store::sqlite::tests::event;
use crate::store::{IdentityState, Maintenance, StoreError};

/// An event counted for `visitor` (the server cookie's) but sent with `beacon_id`.
fn sent_as(id: u128, visitor: &str, beacon_id: &str) -> Event {
    let mut e = event(id, visitor, "s");
    e.client.client_id = Some(beacon_id.into());
    e
}

fn login(id: u128, visitor: &str, user: &str, verified: bool) -> Event {
    let mut e = event(id, visitor, "s");
    e.client.kind = EventKind::Identify { user: user.into() };
    e.identity.links.push(NewLink {
        a: visitor.into(),
        b: format!("user:{user}"),
        kind: LinkKind::Login,
        confidence: 1.0,
        verified,
    });
    e
}

fn ids(export: &SubjectExport) -> Vec<String> {
    export
        .events
        .iter()
        .filter_map(|e| e.get("id").and_then(|v| v.as_str()).map(str::to_string))
        .collect()
}

fn uuid(n: u128) -> String {
    uuid::Uuid::from_u128(n).to_string()
}

/// Rows of `table` on `site` that name `column = value`, however many versions.
async fn rows_naming(
    store: &ClickHouseStore,
    table: &str,
    column: &str,
    value: &str,
) -> Result<u64, StoreError> {
    store
        .count(format!(
            "SELECT toUInt64(count()) AS n FROM {} WHERE {column} = {}",
            store.table(table),
            quote(value)
        ))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_covers_the_events_sent_with_its_beacon_id_and_a_user_its_signed_logins()
-> Result<(), StoreError> {
    let Some(store) = store().await else {
        return Ok(());
    };
    insert(
        &store,
        &[
            event(1, "x", "s"),
            sent_as(2, "x", "y"),
            event(3, "y", "s"),
            login(4, "z", "u9", true),
            event(5, "other", "s"),
            login(6, "w", "u9", false),
            event(7, "w", "s"),
        ],
    )
    .await?;
    let y = store.export("demo", &Subject::Visitor("y".into())).await?;
    assert_eq!(
        ids(&y),
        [uuid(2), uuid(3)],
        "y's own event and the one sent with y's beacon id under x's cookie"
    );
    assert_eq!(y.sessions.len(), 1, "y's own session");
    let user = store.export("demo", &Subject::User("u9".into())).await?;
    assert_eq!(
        user.visitors,
        ["z"],
        "the visitor whose login as u9 was signed"
    );
    assert_eq!(user.evidence, ["verified-login"]);
    assert_eq!(user.links.len(), 1, "z's login, not w's claim");
    let epoch = store.maintenance_epoch().await?;
    let erased = store.erase("demo", &Subject::User("u9".into())).await?;
    assert_eq!(
        (erased.events, erased.links),
        (2, 2),
        "z's login and w's claim to be u9 (not w's other events); both logins to u9"
    );
    assert!(
        store.maintenance_epoch().await? > epoch,
        "the writers' caches go"
    );
    let w = store.export("demo", &Subject::Visitor("w".into())).await?;
    assert_eq!(ids(&w), [uuid(7)]);
    assert!(store.person("demo", "z", Mode::Inclusive).await?.is_none());
    let erased = store.erase("demo", &Subject::Visitor("y".into())).await?;
    assert_eq!((erased.events, erased.sessions), (2, 1));
    let left = store.export("demo", &Subject::Visitor("x".into())).await?;
    assert_eq!(ids(&left), [uuid(1)]);
    // Nothing of y is readable, under any version: not its events, ids, sessions.
    assert!(
        store
            .export("demo", &Subject::Visitor("y".into()))
            .await?
            .is_empty()
    );
    assert_eq!(rows_naming(&store, "events", "visitor", "y").await?, 0);
    assert_eq!(rows_naming(&store, "events", "client_id", "y").await?, 0);
    assert_eq!(
        rows_naming(&store, "event_ids", "toString(id)", &uuid(2)).await?,
        0
    );
    assert_eq!(
        rows_naming(&store, "visitor_sessions", "visitor", "y").await?,
        0
    );
    assert!(
        !store
            .identity_memory("demo", Some("y"), "", 0)
            .await?
            .client_id_known
    );
    let again = store.erase("demo", &Subject::Visitor("y".into())).await?;
    assert_eq!(again.events, 0);
    Ok(())
}

/// Erasing the middle of a chain of links splits the person: the visitors at either end
/// are persons of their own again, in `visitor_persons` too, and the erased id is in no
/// table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_works_out_the_persons_of_the_visitors_linked_to_it() -> Result<(), StoreError> {
    let Some(store) = store().await else {
        return Ok(());
    };
    let linked = |a: &str, b: &str| IdentityEffects {
        links: vec![new_link(a, b, LinkKind::ClientId)],
        fingerprint: "fp_9".into(),
        observe_fingerprint: true,
        ..IdentityEffects::default()
    };
    insert(
        &store,
        &[
            with(1, "a", linked("a", "b")),
            with(2, "c", linked("c", "b")),
            with(3, "b", IdentityEffects::default()),
        ],
    )
    .await?;
    let a = store.person("demo", "a", Mode::Strict).await?;
    assert_eq!(
        a.map(|p| p.visitors),
        Some(vec!["a".into(), "b".into(), "c".into()])
    );
    let erased = store.erase("demo", &Subject::Visitor("b".into())).await?;
    assert_eq!((erased.events, erased.links), (1, 2));
    assert_eq!(erased.person_mappings, 2, "b's row in each reading");
    assert!(all_links(&store, "demo").await?.is_empty());
    for v in ["a", "c"] {
        let p = store.person("demo", v, Mode::Strict).await?;
        assert_eq!(
            p.map(|p| (p.person, p.visitors)),
            Some((v.to_string(), vec![v.to_string()]))
        );
    }
    // The reports' mapping: a and c are themselves again (no row, or a row naming
    // themselves).
    let others = store
        .count(format!(
            "SELECT toUInt64(count()) AS n FROM (SELECT visitor, from_ms, \
             argMax(person, version) AS person FROM {} WHERE site = 'demo' \
             GROUP BY mode, visitor, from_ms) WHERE person != visitor",
            store.table("visitor_persons")
        ))
        .await?;
    assert_eq!(others, 0, "a -> a and c -> c");
    for (table, column) in [
        ("links", "node"),
        ("links", "other"),
        ("person_nodes", "node"),
        ("person_nodes", "person"),
        ("visitor_persons", "visitor"),
        ("fingerprint_seen", "visitor"),
        ("person_members", "node"),
    ] {
        let left = rows_naming(&store, table, column, "b").await?;
        let person = if table == "person_nodes" && column == "person" {
            // a and c were relabelled: no row may name b as their person any more.
            store
                .count(format!(
                    "SELECT toUInt64(count()) AS n FROM (SELECT node, argMax(person, version) AS p \
                     FROM {} GROUP BY site, mode, node) WHERE p = 'b'",
                    store.table(table)
                ))
                .await?
        } else {
            left
        };
        assert_eq!(person, 0, "{table}.{column} still names b");
    }
    Ok(())
}

/// The purge deletes events before the cutoff with their ids, the sessions that ended
/// before it, links recorded before it (the persons of their ends worked out again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_purge_takes_old_events_sessions_and_links_and_relinks() -> Result<(), StoreError> {
    let Some(store) = store().await else {
        return Ok(());
    };
    let t0 = 1_780_000_000_000;
    let at = |id: u128, visitor: &str, ts: i64, fx: IdentityEffects| {
        let mut e = with(id, visitor, fx);
        e.client.ts = ts;
        e.received = ts;
        e
    };
    let linked = |a: &str, b: &str, kind| IdentityEffects {
        links: vec![new_link(a, b, kind)],
        ..IdentityEffects::default()
    };
    insert(
        &store,
        &[
            at(1, "old", t0, linked("old", "user:u", LinkKind::Login)),
            at(2, "new", t0, linked("new", "user:u", LinkKind::Login)),
            at(3, "new", t0 + 10_000, IdentityEffects::default()),
        ],
    )
    .await?;
    let p = store.person("demo", "new", Mode::Strict).await?;
    assert_eq!(
        p.map(|p| p.visitors),
        Some(vec!["new".into(), "old".into()])
    );
    let purged = store.purge_before(t0 + 5_000).await?;
    assert_eq!(
        (purged.events, purged.sessions, purged.links),
        (2, 1, 2),
        "old's event and session; new's first event, not its session; both logins"
    );
    assert!(store.person("demo", "old", Mode::Strict).await?.is_none());
    let p = store.person("demo", "new", Mode::Strict).await?;
    assert_eq!(
        p.as_ref().map(|p| p.visitors.clone()),
        Some(vec!["new".into()])
    );
    assert_eq!(p.map(|p| p.timeline.len()), Some(1));
    assert_eq!(
        rows_naming(&store, "event_ids", "toString(id)", &uuid(1)).await?,
        0
    );
    let persons = store
        .count(format!(
            "SELECT toUInt64(count()) AS n FROM (SELECT visitor, from_ms, \
             argMax(person, version) AS person FROM {} WHERE site = 'demo' \
             GROUP BY mode, visitor, from_ms) WHERE person != visitor",
            store.table("visitor_persons")
        ))
        .await?;
    assert_eq!(persons, 0, "new and old are their own persons again");
    let again = store.purge_before(t0 + 5_000).await?;
    assert_eq!(again, crate::maintenance::retention::Purged::default());
    Ok(())
}
