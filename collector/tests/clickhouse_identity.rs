//! The ClickHouse store's identity state and maintenance against a real
//! `clickhouse-server` (`common::clickhouse`): the identity memory, links recorded once,
//! withdrawn, undone and verified, persons kept at write time (checked step by step against
//! the rule of `identity::persons`), and export, erasure and the retention purge (nothing
//! erased stays readable; the persons of the visitors linked to what went are worked out
//! again). Events go in through the store's own sink, which applies their identity side
//! effects after writing them. Skipped where ClickHouse is not installed (never under
//! `CI=true`).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use spoor_collector::event::{ClientEvent, Context, Event, EventKind, IdentityEffects, Utm};
use spoor_collector::identity::Evidence;
use spoor_collector::identity::graph::{Link, LinkKind, Mode, Persons};
use spoor_collector::identity::resolver::{NewLink, USER_PREFIX};
use spoor_collector::identity::salt::DAY_MS;
use spoor_collector::maintenance::erasure::{Subject, SubjectExport};
use spoor_collector::maintenance::retention::Purged;
use spoor_collector::session::SessionRules;
use spoor_collector::store::clickhouse::client::{Client, quote};
use spoor_collector::store::clickhouse::{ClickHouseOptions, ClickHouseStore};
use spoor_collector::store::{EventSink, IdentityState, Maintenance, StoreError};

const FP: &str = "fp_1";

/// A `links` row as the checks read it.
#[derive(serde::Deserialize)]
struct LinkRow {
    id: i64,
    a: String,
    b: String,
    kind: String,
    confidence: f32,
    at_ms: i64,
    active: u8,
}

impl LinkRow {
    fn link(&self) -> Option<Link> {
        let kind = [
            LinkKind::ServerCookie,
            LinkKind::ClientId,
            LinkKind::Fingerprint,
            LinkKind::Login,
            LinkKind::Recovery,
        ]
        .into_iter()
        .find(|k| k.as_str() == self.kind)?;
        Some(Link {
            id: self.id,
            a: self.a.clone(),
            b: self.b.clone(),
            kind,
            confidence: self.confidence,
            at_ms: self.at_ms,
            active: self.active != 0,
        })
    }
}

/// A store over a new database of the shared test server, and a client on that database
/// for checks; `None` where ClickHouse is not installed (the test is then skipped).
async fn store() -> Option<Store> {
    let endpoint = common::clickhouse_endpoint(&common::clickhouse::new_database()?);
    let options = ClickHouseOptions {
        endpoint: endpoint.clone(),
        cluster: None,
        insert_quorum: 2,
    };
    let store = ClickHouseStore::open(options, SessionRules::default())
        .await
        .ok()?;
    Some(Store {
        store,
        client: Client::new(endpoint),
    })
}

/// The store, and a client on its database.
struct Store {
    store: ClickHouseStore,
    client: Client,
}

impl std::ops::Deref for Store {
    type Target = ClickHouseStore;
    fn deref(&self) -> &ClickHouseStore {
        &self.store
    }
}

impl Store {
    fn client(&self) -> &Client {
        &self.client
    }

    /// Tables are named without their database: the client's is the store's.
    fn table(&self, name: &str) -> String {
        name.to_string()
    }

    /// `SELECT … AS n`'s one number.
    async fn count(&self, sql: String) -> Result<u64, StoreError> {
        #[derive(serde::Deserialize)]
        struct N {
            n: u64,
        }
        let rows: Vec<N> = self.client.rows(sql, &[]).await?;
        Ok(rows.first().map_or(0, |r| r.n))
    }

    /// The maintenance epoch as stored (the largest version of `secrets` kind `epoch`).
    async fn maintenance_epoch(&self) -> Result<u64, StoreError> {
        self.count(
            "SELECT max(version) AS n FROM secrets WHERE kind = 'epoch' AND name = 'maintenance'"
                .into(),
        )
        .await
    }
}

/// A page view of site `demo` by `visitor` with id `id` (as the crate's own tests make it).
fn event(id: u128, visitor: &str, session: &str) -> Event {
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
        identity: IdentityEffects::default(),
        received: 1_780_000_000_001,
    }
}

fn with(id: u128, visitor: &str, fx: IdentityEffects) -> Event {
    Event {
        identity: fx,
        ..event(id, visitor, "s")
    }
}

fn observed() -> IdentityEffects {
    IdentityEffects {
        fingerprint: FP.into(),
        observe_fingerprint: true,
        ..IdentityEffects::default()
    }
}

fn new_link(a: &str, b: &str, kind: LinkKind) -> NewLink {
    NewLink {
        a: a.into(),
        b: b.into(),
        kind,
        confidence: 0.6,
        verified: false,
    }
}

fn day() -> i64 {
    event(0, "", "").received.div_euclid(DAY_MS)
}

/// The events appended through the store's sink, as the ingest writer appends them
/// (their rows, sessions and ids, then `apply_identity`).
async fn insert(store: &Store, events: &[Event]) -> Result<(), StoreError> {
    store.store.append(vec![events.to_vec()]).await.map(|_| ())
}

/// Every link of `site`, newest version of each, oldest first.
async fn all_links(store: &Store, site: &str) -> Result<Vec<Link>, StoreError> {
    let rows: Vec<LinkRow> = store
        .client()
        .rows(
            format!(
                "SELECT site, id, a, b, kind, confidence, at_ms, active, verified, fingerprint, version \
                 FROM {} WHERE site = {} ORDER BY version DESC LIMIT 1 BY id",
                store.table("links"),
                quote(site)
            ),
            &[],
        )
        .await?;
    let mut out: Vec<Link> = rows.iter().filter_map(LinkRow::link).collect();
    out.sort_by_key(|l| l.id);
    Ok(out)
}

/// `visitor`'s `visitor_persons` rows under `mode`: from_ms → person, newest versions.
async fn kept(
    store: &Store,
    site: &str,
    mode: Mode,
    visitor: &str,
) -> Result<BTreeMap<i64, String>, StoreError> {
    #[derive(serde::Deserialize)]
    struct R {
        from_ms: i64,
        person: String,
    }
    let rows: Vec<R> = store
        .client()
        .rows(
            format!(
                "SELECT from_ms, argMax(person, version) AS person FROM {} \
                 WHERE site = {} AND mode = {} AND visitor = {} GROUP BY from_ms",
                store.table("visitor_persons"),
                quote(site),
                quote(mode.as_str()),
                quote(visitor)
            ),
            &[],
        )
        .await?;
    Ok(rows.into_iter().map(|r| (r.from_ms, r.person)).collect())
}

/// The person `visitor_persons` gives an event of `visitor` received at `at`: the
/// `chreports` reading of the table.
fn person_at(rows: &BTreeMap<i64, String>, visitor: &str, at: i64) -> String {
    rows.range(..=at)
        .next_back()
        .map_or_else(|| visitor.to_string(), |(_, p)| p.clone())
}

/// Distinct persons of `visitors` by the stored rows (each stretch counted).
async fn stored_count(
    store: &Store,
    site: &str,
    mode: Mode,
    visitors: &[&str],
) -> Result<usize, StoreError> {
    let mut seen = std::collections::BTreeSet::new();
    for v in visitors {
        let rows = kept(store, site, mode, v).await?;
        seen.insert(person_at(&rows, v, i64::MIN));
        seen.extend(rows.into_values());
    }
    Ok(seen.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_knows_ids_from_events_and_links_and_who_is_behind_a_fingerprint()
-> Result<(), StoreError> {
    let Some(store) = store().await else {
        return Ok(());
    };
    let d = day();
    let m = store.identity_memory("demo", Some("a"), FP, d).await?;
    assert!(!m.client_id_known && m.behind_fingerprint.is_empty());
    let linked = IdentityEffects {
        links: vec![new_link("b", "a", LinkKind::ClientId)],
        ..observed()
    };
    insert(&store, &[with(1, "a", linked)]).await?;
    assert!(
        store
            .identity_memory("demo", Some("a"), FP, d)
            .await?
            .client_id_known
    );
    let b = store.identity_memory("demo", Some("b"), FP, d).await?;
    assert!(b.client_id_known, "an id seen only in a link is known");
    assert_eq!(b.behind_fingerprint, ["a"]);
    assert_eq!(b.last_seen_ms, Some(event(1, "a", "s").received));
    assert!(
        store
            .identity_memory("demo", Some("b"), FP, d + 1)
            .await?
            .behind_fingerprint
            .is_empty()
    );
    assert!(
        !store
            .identity_memory("other", Some("a"), FP, d)
            .await?
            .client_id_known
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_behind_one_fingerprint_is_read_as_two_and_is_shared() -> Result<(), StoreError> {
    let Some(store) = store().await else {
        return Ok(());
    };
    let d = day();
    insert(
        &store,
        &[with(1, "a", observed()), with(2, "a", observed())],
    )
    .await?;
    assert!(
        !store.fingerprint_shared("demo", FP, d).await?,
        "one visitor, twice"
    );
    let crowd: Vec<Event> = (3..=50)
        .map(|i| with(i, &format!("v{i:02}"), observed()))
        .collect();
    insert(&store, &crowd).await?;
    let m = store.identity_memory("demo", Some("new"), FP, d).await?;
    assert_eq!(m.behind_fingerprint, ["a", "v03"]);
    assert!(store.fingerprint_shared("demo", FP, d).await?);
    assert!(
        !store.fingerprint_shared("demo", FP, d + 1).await?,
        "per day"
    );
    assert!(!store.fingerprint_shared("other", FP, d).await?, "per site");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_records_nothing_twice_withdrawal_keeps_other_links_and_undo_splits()
-> Result<(), StoreError> {
    let Some(store) = store().await else {
        return Ok(());
    };
    let attach = IdentityEffects {
        fingerprint: FP.into(),
        links: vec![new_link(FP, "a", LinkKind::Fingerprint)],
        ..IdentityEffects::default()
    };
    let login = IdentityEffects {
        links: vec![new_link("a", "user:u", LinkKind::Login)],
        ..observed()
    };
    insert(&store, &[with(1, "a", login), with(2, FP, attach.clone())]).await?;
    insert(&store, &[with(2, FP, attach)]).await?;
    let again = IdentityEffects {
        links: vec![new_link("user:u", "a", LinkKind::Login)],
        ..observed()
    };
    insert(&store, &[with(9, "a", again)]).await?;
    let all = all_links(&store, "demo").await?;
    assert_eq!(
        all.len(),
        2,
        "neither the duplicate nor the same login added a link"
    );
    assert!(all.iter().all(|l| l.id > 0 && l.id < (1_i64 << 53)));
    assert_eq!(
        stored_count(&store, "demo", Mode::Inclusive, &["a", FP]).await?,
        1
    );
    let withdraw = IdentityEffects {
        withdraw_fingerprint_links: true,
        ..observed()
    };
    insert(&store, &[with(3, "b", withdraw)]).await?;
    let all = all_links(&store, "demo").await?;
    let active: Vec<_> = all.iter().map(|l| (l.kind, l.active)).collect();
    assert_eq!(
        active,
        [(LinkKind::Login, true), (LinkKind::Fingerprint, false)]
    );
    assert_eq!(
        stored_count(&store, "demo", Mode::Inclusive, &["a", FP, "b"]).await?,
        3
    );
    let person = store.person("demo", "a", Mode::Inclusive).await?;
    assert_eq!(
        person.as_ref().map(|p| p.users.clone()),
        Some(vec!["u".to_string()])
    );
    assert!(store.undo_link(all[0].id).await?);
    assert!(!store.undo_link(9999).await?);
    let person = store.person("demo", "a", Mode::Inclusive).await?;
    assert_eq!(person.map(|p| p.visitors), Some(vec!["a".to_string()]));
    assert!(
        store
            .person("demo", "nobody", Mode::Inclusive)
            .await?
            .is_none()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_id_links_are_counted_per_cookie_visitor_and_day() -> Result<(), StoreError> {
    let Some(store) = store().await else {
        return Ok(());
    };
    let d = day();
    let linked = |kind, a: &str, b: &str| IdentityEffects {
        links: vec![new_link(a, b, kind)],
        ..IdentityEffects::default()
    };
    insert(
        &store,
        &[
            with(1, "home", linked(LinkKind::ClientId, "x", "home")),
            with(2, "home", linked(LinkKind::ClientId, "y", "home")),
        ],
    )
    .await?;
    insert(
        &store,
        &[
            with(3, "home", linked(LinkKind::ClientId, "x", "home")),
            with(4, "home", linked(LinkKind::Login, "home", "user:u")),
            with(5, "home", linked(LinkKind::ClientId, "w", "home")),
            with(6, "away", linked(LinkKind::ClientId, "z", "away")),
        ],
    )
    .await?;
    assert_eq!(
        store.cookie_ids("demo", "home", d).await?,
        3,
        "each id once, logins not"
    );
    assert_eq!(store.cookie_ids("demo", "away", d).await?, 1);
    assert_eq!(store.cookie_ids("demo", "home", d + 1).await?, 0, "per day");
    assert_eq!(store.cookie_ids("other", "home", d).await?, 0, "per site");
    Ok(())
}

/// A tiny deterministic generator, so the cases below are the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// The persons kept at write time (`visitor_persons`, merge by size, splits by replay)
/// are the rule's over the links stored, step by step: whatever the order of logins, id
/// links, inferred links and undone links, each visitor's rows give every event the
/// person [`Persons::person_at`] gives it, and two users are never one person.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_time_persons_follow_the_rule() -> Result<(), StoreError> {
    let Some(store) = store().await else {
        return Ok(());
    };
    let mut rng = Lcg(7);
    for case in 0..10 {
        let site = format!("case{case}");
        let steps = 6 + rng.next(14);
        let mut visitors: Vec<String> = Vec::new();
        for i in 0..steps {
            let v = format!("v{}", rng.next(5));
            let other = rng.next(7);
            let link = match rng.next(5) {
                0 | 4 => new_link(&v, &format!("{USER_PREFIX}u{}", other % 3), LinkKind::Login),
                1 => new_link(&format!("v{}", other % 5), &v, LinkKind::ClientId),
                2 => new_link(&format!("v{}", other % 5), &v, LinkKind::Recovery),
                _ => {
                    let all = all_links(&store, &site).await?;
                    if let Some(l) = all.get(other as usize % all.len().max(1)) {
                        store.undo_link(l.id).await?;
                    }
                    new_link(&format!("v{}", other % 5), &v, LinkKind::ClientId)
                }
            };
            let e = Event {
                site: site.clone(),
                received: 1_780_000_000_000 + i as i64,
                ..with(
                    u128::from(i) + 1,
                    &v,
                    IdentityEffects {
                        links: vec![link],
                        ..IdentityEffects::default()
                    },
                )
            };
            if !visitors.contains(&v) {
                visitors.push(v.clone());
            }
            insert(&store, &[e]).await?;
            let all = all_links(&store, &site).await?;
            for mode in [Mode::Strict, Mode::Inclusive] {
                let rule = Persons::from_links(&all, mode);
                let users: Vec<String> = (0..3).map(|u| format!("{USER_PREFIX}u{u}")).collect();
                for u in &users {
                    for w in &users {
                        assert!(u == w || rule.person_of(u) != rule.person_of(w));
                    }
                }
                for v in (0..5).map(|n| format!("v{n}")) {
                    let rows = kept(&store, &site, mode, &v).await?;
                    let mut times: Vec<i64> = vec![i64::MIN, i64::MAX];
                    times.extend(rows.keys().copied());
                    times.extend(rule.stretches(&v).iter().map(|s| s.from_ms));
                    for t in times {
                        assert_eq!(
                            person_at(&rows, &v, t),
                            rule.person_at(&v, t),
                            "{site} step {i} {mode:?} {v} at {t}: rows {rows:?}, links {all:?}"
                        );
                    }
                }
                let refs: Vec<&str> = visitors.iter().map(String::as_str).collect();
                assert_eq!(
                    stored_count(&store, &site, mode, &refs).await?,
                    rule.count(refs.iter().copied()),
                    "{site} step {i} {mode:?}"
                );
            }
        }
    }
    Ok(())
}

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

/// The low half of test id `n` as `event_ids` keeps it (as text, for `rows_naming`).
fn id_lo(n: u128) -> String {
    (n as u64).to_string()
}

fn uuid(n: u128) -> String {
    uuid::Uuid::from_u128(n).to_string()
}

/// Rows of `table` on `site` that name `column = value`, however many versions.
async fn rows_naming(
    store: &Store,
    table: &str,
    column: &str,
    value: &str,
) -> Result<u64, StoreError> {
    store
        .count(format!(
            "SELECT toUInt64(count()) AS n FROM {} WHERE toString({column}) = {}",
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
    assert!(
        rows_naming(&store, "visitor_hours", "visitor", "y").await? > 0,
        "the hours y was seen in are kept (for the reports' persons)"
    );
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
        rows_naming(&store, "event_ids", "id_lo", &id_lo(2)).await?,
        0
    );
    assert_eq!(
        rows_naming(&store, "latest_sessions", "visitor", "y").await?,
        0
    );
    assert_eq!(
        rows_naming(&store, "visitor_hours", "visitor", "y").await?,
        0,
        "nor the hours it was seen in"
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
        rows_naming(&store, "event_ids", "id_lo", &id_lo(1)).await?,
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
    assert_eq!(again, Purged::default());
    Ok(())
}

/// Deleting a credential deletes the secret of the same name, so its next read makes a
/// new one (how the admin sessions are revoked); on 18.16, without `mutations_sync`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_credential_makes_the_secret_of_its_name_anew() -> Result<(), StoreError> {
    let Some(store) = store().await else {
        return Ok(());
    };
    let before = store.secret("sessions").await?;
    assert_eq!(store.secret("sessions").await?, before, "kept");
    store.set_credential("sessions", Some(b"hash")).await?;
    assert_eq!(store.credential("sessions").await?, Some(b"hash".to_vec()));
    store.set_credential("sessions", None).await?;
    assert_eq!(store.credential("sessions").await?, None);
    assert_ne!(store.secret("sessions").await?, before, "made anew");
    Ok(())
}

/// Collectors that create a day's salt at once agree on one, and one that finds a salt
/// candidate younger than the candidate window waits it out: a racing candidate created
/// earlier that lands a moment later is the salt everyone uses, never the one seen first.
/// (Trusting the first seen split a day's cookieless visitors in two on a busy cluster.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_collectors_take_one_salt_even_when_an_earlier_candidate_lands_late()
-> Result<(), StoreError> {
    let Some(store) = store().await else {
        return Ok(());
    };
    // Three collectors on one database, making a salt nobody has made yet.
    let day = day() + 10;
    let (a, b, c) = tokio::join!(
        store.daily_salt(day),
        store.daily_salt(day),
        store.daily_salt(day)
    );
    let (a, b, c) = (a?, b?, c?);
    assert!(a == b && b == c, "one salt for every collector");

    // A candidate appears (another collector's), and one created 100 ms before it lands
    // 300 ms later: the reader that found the first takes the earlier one.
    let day = day + 1;
    let now = spoor_collector::clock::now_ms();
    let candidate = |value: &str, created: i64| {
        format!(
            "INSERT INTO secrets (name, value, created, kind, deleted, version) \
             VALUES ('{day}', '{value}', {created}, 'salt', 0, 0)"
        )
    };
    let (first, earlier) = ("11".repeat(32), "22".repeat(32));
    store.client().command(candidate(&first, now), &[]).await?;
    let late = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        store
            .client()
            .command(candidate(&earlier, now - 100), &[])
            .await
    };
    let (salt, landed) = tokio::join!(store.daily_salt(day), late);
    landed?;
    assert_eq!(
        salt?, [0x22; 32],
        "the earliest created, once it could no longer change"
    );
    assert_eq!(store.daily_salt(day).await?, [0x22; 32]);
    Ok(())
}

/// A new id joining a person of many ids writes the same few rows as joining a person of
/// one: the merge relabels the smaller side (union by size), never the person it joins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_writes_the_smaller_side_whatever_the_size_of_the_person() -> Result<(), StoreError>
{
    let Some(store) = store().await else {
        return Ok(());
    };
    // Rows of the newest write of the persons' tables (one version per write).
    let last_write = |table: &'static str| {
        let store = &store;
        async move {
            store
                .count(format!(
                    "SELECT toUInt64(count()) AS n FROM {table} \
                     WHERE version = (SELECT max(version) FROM {table})"
                ))
                .await
        }
    };
    let linked = |a: &str, b: &str| IdentityEffects {
        links: vec![new_link(a, b, LinkKind::ClientId)],
        ..IdentityEffects::default()
    };
    let mut measured = Vec::new();
    let mut next = 1;
    for size in [1_u128, 300] {
        let home = format!("home{size}");
        let ids: Vec<Event> = (0..size)
            .map(|i| with(next + i, &home, linked(&format!("id{size}-{i}"), &home)))
            .collect();
        next += size;
        insert(&store, &ids).await?;
        insert(
            &store,
            &[with(next, &home, linked(&format!("new{size}"), &home))],
        )
        .await?;
        next += 1;
        let mut rows = Vec::new();
        for table in [
            "person_members",
            "person_nodes",
            "person_sets",
            "visitor_persons",
        ] {
            rows.push(last_write(table).await?);
        }
        measured.push(rows);
        let p = store
            .person("demo", &format!("new{size}"), Mode::Strict)
            .await?;
        assert_eq!(
            p.map(|p| p.person),
            Some(home.clone()),
            "the larger side names it"
        );
    }
    assert_eq!(
        measured[0], measured[1],
        "rows written: a person of 2 ids, then of 301"
    );
    Ok(())
}

/// What the identity side effects cost the sink, batch by batch (printed; run with
/// `cargo test -p spoor-collector --test clickhouse_identity -- --ignored --nocapture`):
/// 1,000 page views without identity effects, 1,000 new client ids linked to one cookie
/// visitor (each a merge into a growing person), and 1,000 events of a logged-in visitor
/// (the same login seen again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn measure_identity_side_effects() -> Result<(), StoreError> {
    let Some(store) = store().await else {
        return Ok(());
    };
    let linked = |a: &str, b: &str, kind| IdentityEffects {
        links: vec![new_link(a, b, kind)],
        fingerprint: FP.into(),
        observe_fingerprint: true,
        ..IdentityEffects::default()
    };
    let mut next = 1_u128;
    let mut batch = |make: &dyn Fn(u128) -> Event| -> Vec<Event> {
        let out: Vec<Event> = (0..1000).map(|i| make(next + i)).collect();
        next += 1000;
        out
    };
    let plain = batch(&|id| with(id, &format!("p{id}"), IdentityEffects::default()));
    let ids = batch(&|id| {
        with(
            id,
            "home",
            linked(&format!("c{id}"), "home", LinkKind::ClientId),
        )
    });
    let logins = batch(&|id| with(id, "u1", linked("u1", "user:u", LinkKind::Login)));
    for (what, events) in [
        ("no identity effects", plain),
        ("a new client id each", ids),
        ("the same login each", logins),
    ] {
        for chunk in events.chunks(500) {
            let start = std::time::Instant::now();
            insert(&store, chunk).await?;
            eprintln!(
                "{what}: {} events appended in {} ms",
                chunk.len(),
                start.elapsed().as_millis()
            );
        }
    }
    Ok(())
}

/// With `SPOOR_STORE=clickhouse:…` in the environment, the operator's subcommands work on
/// that store as the API does: `export` prints a visitor's events, `erase` deletes them,
/// and `rebuild-reports` reconciles the day's rollups with what is left.
#[test]
fn the_subcommands_export_erase_and_rebuild_on_the_clickhouse_store_of_spoor_store() {
    use clap::Parser;
    use spoor_collector::maintenance::cli::Command;
    use spoor_collector::reports::range::date;

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(url) = common::clickhouse::new_database() else {
        return;
    };
    let endpoint = common::clickhouse_endpoint(&url);
    runtime.block_on(async {
        let options = ClickHouseOptions {
            endpoint: endpoint.clone(),
            cluster: None,
            insert_quorum: 2,
        };
        let store = Store {
            store: ClickHouseStore::open(options, SessionRules::default())
                .await
                .unwrap(),
            client: Client::new(endpoint),
        };
        insert(
            &store,
            &[
                event(1, "x", "s"),
                event(2, "x", "s"),
                event(3, "other", "t"),
            ],
        )
        .await
        .unwrap();
    });
    let env = |k: &str| match k {
        "SPOOR_STORE" => Some(format!("clickhouse:{url}")),
        "SPOOR_CLICKHOUSE_USER" => Some(common::clickhouse::USER.to_string()),
        "SPOOR_CLICKHOUSE_PASSWORD" => Some(common::clickhouse::PASSWORD.to_string()),
        _ => None,
    };
    // Outside the test's runtime, as the binary runs them on a thread of its own.
    let run = |a: &[&str]| -> serde_json::Value {
        let mut call = vec!["spoor-collector"];
        call.extend(a);
        let json = Command::try_parse_from(call).unwrap().run(env).unwrap();
        serde_json::from_str(&json).unwrap()
    };
    let x = ["--site", "demo", "--visitor", "x"];
    let export = run(&[&["export"][..], &x].concat());
    assert_eq!(
        export["events"].as_array().map(Vec::len),
        Some(2),
        "{export}"
    );
    let erased = run(&[&["erase"][..], &x].concat());
    assert_eq!(erased["events"], 2, "{erased}");
    let export = run(&[&["export"][..], &x].concat());
    assert_eq!(
        export["events"].as_array().map(Vec::len),
        Some(0),
        "{export}"
    );
    let today = date(day());
    let rebuilt = run(&["rebuild-reports", "--site", "demo", "--from", &today]);
    assert_eq!(rebuilt[0]["events"], 1, "other's event is left: {rebuilt}");

    // `admin-token --reset` replaces the token's hash in that store, and makes no SQLite
    // file where it runs.
    let dir = tempfile::tempdir().unwrap();
    let reset = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_spoor-collector"))
            .args(["admin-token", "--reset"])
            .current_dir(dir.path())
            .env_remove("SPOOR_DB")
            .env("SPOOR_STORE", format!("clickhouse:{url}"))
            .env("SPOOR_CLICKHOUSE_USER", common::clickhouse::USER)
            .env("SPOOR_CLICKHOUSE_PASSWORD", common::clickhouse::PASSWORD)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let stored = || {
        let endpoint = common::clickhouse_endpoint(&url);
        runtime.block_on(async {
            let store = ClickHouseStore::open(
                ClickHouseOptions {
                    endpoint,
                    cluster: None,
                    insert_quorum: 2,
                },
                SessionRules::default(),
            )
            .await
            .unwrap();
            store.credential("admin-token-sha256").await.unwrap()
        })
    };
    let first = reset();
    let hash = stored();
    assert!(!first.is_empty() && hash.is_some());
    assert_ne!(reset(), first);
    assert_ne!(stored(), hash, "the new token's hash");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no SQLite file made"
    );
}
