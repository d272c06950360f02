//! Tests of the identity state against a real `clickhouse-server` (started once per test
//! binary, as the conformance suite's fixture does; skipped with a message where
//! ClickHouse is not installed, never under `CI=true`). Each test works in a database of
//! its own; events are appended through the store's own sink, which calls
//! `apply_identity` after writing them.

use std::collections::BTreeMap;

use super::super::client::{Endpoint, quote};
use super::super::{ClickHouseOptions, ClickHouseStore};
use super::links::LinkRow;
use super::persons::mode_str;
use crate::event::{Event, IdentityEffects};
use crate::identity::graph::{Link, LinkKind, Mode, Persons};
use crate::identity::resolver::{NewLink, USER_PREFIX};
use crate::identity::salt::DAY_MS;
use crate::session::SessionRules;
use crate::store::sqlite::tests::event;
use crate::store::{EventSink, IdentityState, StoreError};

#[path = "../../../../tests/common/clickhouse.rs"]
mod server;

pub(in crate::store::clickhouse) const FP: &str = "fp_1";

/// A store over a new database of the shared test server; `None` where ClickHouse is not
/// installed (the test is then skipped).
pub(in crate::store::clickhouse) async fn store() -> Option<ClickHouseStore> {
    let url = server::new_database()?;
    let options = ClickHouseOptions {
        endpoint: Endpoint::parse(&url, None, None).ok()?,
        cluster: None,
    };
    ClickHouseStore::open(options, SessionRules::default())
        .await
        .ok()
}

pub(in crate::store::clickhouse) fn with(id: u128, visitor: &str, fx: IdentityEffects) -> Event {
    Event {
        identity: fx,
        ..event(id, visitor, "s")
    }
}

pub(in crate::store::clickhouse) fn observed() -> IdentityEffects {
    IdentityEffects {
        fingerprint: FP.into(),
        observe_fingerprint: true,
        ..IdentityEffects::default()
    }
}

pub(in crate::store::clickhouse) fn new_link(a: &str, b: &str, kind: LinkKind) -> NewLink {
    NewLink {
        a: a.into(),
        b: b.into(),
        kind,
        confidence: 0.6,
        verified: false,
    }
}

pub(in crate::store::clickhouse) fn day() -> i64 {
    event(0, "", "").received.div_euclid(DAY_MS)
}

/// The events appended through the store's sink, as the ingest writer appends them
/// (their rows, sessions and ids, then `apply_identity`).
pub(in crate::store::clickhouse) async fn insert(
    store: &ClickHouseStore,
    events: &[Event],
) -> Result<(), StoreError> {
    store.append(vec![events.to_vec()]).await.map(|_| ())
}

/// Every link of `site`, newest version of each, oldest first.
pub(in crate::store::clickhouse) async fn all_links(
    store: &ClickHouseStore,
    site: &str,
) -> Result<Vec<Link>, StoreError> {
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
    store: &ClickHouseStore,
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
                quote(mode_str(mode)),
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
    store: &ClickHouseStore,
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
    assert!(
        all.iter()
            .all(|l| l.id > 0 && l.id < super::ids::LINK_ID_LIMIT)
    );
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
