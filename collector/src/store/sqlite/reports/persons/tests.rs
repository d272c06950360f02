//! The adversarial client of #12 against every way a link reaches a person: the rows one
//! commit writes when it joins a person of 100 ids and of 5,000 must be the same (before
//! the merge by size, a login, a rename or a merge rewrote every row of the person).

use std::time::Instant;

use rusqlite::params;

use crate::event::{Event, IdentityEffects};
use crate::identity::graph::{LinkKind, Mode};
use crate::identity::resolver::NewLink;
use crate::store::StoreError;
use crate::store::sqlite::SqliteStore;
use crate::store::sqlite::tests::event;

/// Event `n` of the adversarial client: its cookie's visitor `home`, with a new client
/// id linked to it (the resolver's `client-id` link), a day apart every ten ids (the
/// per-cookie cap lets ten a day through: a person grown over many days).
fn adversarial(n: u32) -> Event {
    let mut e = event(u128::from(n) + 1, "home", "s");
    e.received += i64::from(n / 10) * 86_400_000;
    e.identity = IdentityEffects {
        links: vec![NewLink {
            a: format!("id-{n:05}"),
            b: "home".into(),
            kind: LinkKind::ClientId,
            confidence: 0.95,
            // Under a vouched cookie, to a fresh id: the collector vouches for it.
            verified: true,
        }],
        ..IdentityEffects::default()
    };
    e
}

/// Rows the store writes for `e`, and the time it takes.
fn rows_for(store: &SqliteStore, e: Event) -> Result<(u64, std::time::Duration), StoreError> {
    let before = store.writer().total_changes();
    let started = Instant::now();
    store.insert_events(&[e])?;
    let took = started.elapsed();
    Ok((store.writer().total_changes() - before, took))
}

/// The adversarial client: it keeps its cookie and sends a new client id with
/// every event. Each id joins the cookie's person; the store writes the same rows for
/// it whether the person already holds 100 ids or 5,000 (before the merge, every link
/// rewrote the whole person: 5,000 rows and more per event).
#[test]
fn a_new_id_joining_a_large_person_writes_what_it_writes_for_a_small_one() -> Result<(), StoreError>
{
    let store = SqliteStore::open_in_memory()?;
    let mut n = 0;
    let mut measured = Vec::new();
    for size in [100, 5_000] {
        let started = Instant::now();
        let batch: Vec<Event> = (n..size).map(adversarial).collect();
        for chunk in batch.chunks(100) {
            store.insert_events(chunk)?;
        }
        let per_batch = started.elapsed() / ((size - n) / 100).max(1);
        n = size;
        // The client's session (one, its client time never moves) settles once, when
        // a day passes (`settle`): settled before both measures, not inside one.
        store.settle(adversarial(n).received)?;
        let (rows, took) = rows_for(&store, adversarial(n))?;
        n += 1;
        eprintln!(
            "person of {size} ids: one more id writes {rows} rows in {took:?}; \
             batches of 100 took {per_batch:?} each"
        );
        measured.push(rows);
    }
    assert_eq!(
        measured[0], measured[1],
        "rows written per new id: {measured:?}"
    );
    let s = store.summary("demo", Mode::Inclusive)?;
    assert_eq!(s.persons, 1, "one person, however many ids");
    Ok(())
}

/// A step after the person is built: an event of `visitor` recording link `a`–`b` of
/// `kind`.
struct Step {
    visitor: &'static str,
    a: &'static str,
    b: &'static str,
    kind: LinkKind,
}

fn login(visitor: &'static str, user: &'static str) -> Step {
    Step {
        visitor,
        a: visitor,
        b: user,
        kind: LinkKind::Login,
    }
}

fn client_id(new: &'static str, cookie: &'static str) -> Step {
    Step {
        visitor: cookie,
        a: new,
        b: cookie,
        kind: LinkKind::ClientId,
    }
}

/// Builds, in a new store, the adversarial client's person of `size` ids (`home` and
/// `id-…`) beside `small`, a person of its own (`small` and ten ids), then commits
/// `steps` one event each; returns the rows each step's commit wrote, and the store.
fn after(size: u32, steps: &[Step]) -> Result<(Vec<u64>, SqliteStore), StoreError> {
    let store = SqliteStore::open_in_memory()?;
    let batch: Vec<Event> = (0..size).map(adversarial).collect();
    for chunk in batch.chunks(100) {
        store.insert_events(chunk)?;
    }
    let last = batch.last().map_or(0, |e| e.received);
    let mut next_id = 1_000_000u128;
    let mut step = |visitor: &str, a: &str, b: &str, kind: LinkKind| {
        next_id += 1;
        let mut e = event(next_id, visitor, "t");
        // Each step a minute after the one before: a stretch starts at its login.
        e.received = last + 60_000 * (next_id - 1_000_000) as i64;
        e.identity = IdentityEffects {
            links: vec![NewLink {
                a: a.into(),
                b: b.into(),
                kind,
                confidence: 1.0,
                verified: true,
            }],
            ..IdentityEffects::default()
        };
        e
    };
    for i in 0..10 {
        let id = [
            "s-0", "s-1", "s-2", "s-3", "s-4", "s-5", "s-6", "s-7", "s-8", "s-9",
        ][i];
        store.insert_events(&[step("small", id, "small", LinkKind::ClientId)])?;
    }
    // Every session so far settled (`settle`) before the steps, so that none settles
    // inside a measured commit: the larger history spans more time and would settle more.
    store.settle(last + 86_400_000)?;
    let mut rows = Vec::new();
    let mut slowest = std::time::Duration::ZERO;
    for s in steps {
        let (n, took) = rows_for(&store, step(s.visitor, s.a, s.b, s.kind))?;
        rows.push(n);
        slowest = slowest.max(took);
    }
    eprintln!("person of {size} ids: rows per step {rows:?}, slowest commit {slowest:?}");
    Ok((rows, store))
}

/// `steps` write the same rows into a person of 100 ids as into one of 5,000; returns the
/// larger store for more checks.
fn same_rows_at_100_and_5000(steps: &[Step]) -> Result<SqliteStore, StoreError> {
    let (small, _) = after(100, steps)?;
    let (large, store) = after(5_000, steps)?;
    assert_eq!(small, large, "rows written per step at 100 and 5,000 ids");
    Ok(store)
}

/// The person of `visitor` under `mode` as the reports read it.
fn person_row(store: &SqliteStore, visitor: &str, mode: &str) -> Result<String, StoreError> {
    Ok(store.reader().query_row(
        "SELECT coalesce((SELECT person FROM visitor_persons
             WHERE site = 'demo' AND mode = ?1 AND visitor = ?2), ?2)",
        params![mode, visitor],
        |r| r.get(0),
    )?)
}

/// The cookie of 5,000 ids logs in, then a phone logs in as the same user: neither
/// rewrites the person (the user node, then the phone, is the smaller side).
#[test]
fn a_login_and_an_identify_joining_a_large_person_write_what_they_write_for_a_small_one()
-> Result<(), StoreError> {
    let store = same_rows_at_100_and_5000(&[login("home", "user:u"), login("phone", "user:u")])?;
    for mode in ["inclusive", "strict"] {
        assert_eq!(person_row(&store, "phone", mode)?, "home");
        assert_eq!(person_row(&store, "id-04999", mode)?, "home");
    }
    assert_eq!(
        store.summary("demo", Mode::Strict)?.persons,
        2,
        "home's, small's"
    );
    Ok(())
}

/// A new id smaller than every id of the person: before, it renamed the person (its id
/// was its smallest node's) and so rewrote every row; now the larger side keeps its id.
#[test]
fn a_smaller_id_joining_a_large_person_renames_nothing() -> Result<(), StoreError> {
    let store = same_rows_at_100_and_5000(&[client_id("0-new", "home")])?;
    assert_eq!(person_row(&store, "0-new", "inclusive")?, "home");
    Ok(())
}

/// A link between two persons with links of their own: the smaller (`small`, eleven ids)
/// takes the larger's id, whatever the larger's size; and a login of the small person
/// first makes no difference to which side moves.
#[test]
fn two_known_persons_merge_at_the_cost_of_the_smaller() -> Result<(), StoreError> {
    let store = same_rows_at_100_and_5000(&[login("small", "user:s"), client_id("s-3", "home")])?;
    assert_eq!(person_row(&store, "s-9", "strict")?, "home");
    assert_eq!(store.summary("demo", Mode::Strict)?.persons, 1);
    Ok(())
}

/// The large person's browser is shared: logged in as `u`, then as `w` (whose own phone
/// logged in first) without a reset, then as `u` again. The second login is refused and
/// starts a stretch, the third (a new login link) another; none rewrites the person.
#[test]
fn a_shared_browser_switching_users_writes_what_it_writes_for_a_small_person()
-> Result<(), StoreError> {
    let store = same_rows_at_100_and_5000(&[
        login("home", "user:u"),
        login("w-phone", "user:w"),
        login("home", "user:w"),
        login("home", "user:u"),
    ])?;
    let stretches: Vec<(String, String)> = store
        .reader()
        .prepare(
            "SELECT mode, person FROM person_stretches WHERE visitor = 'home'
             ORDER BY mode, from_ms",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let expected: Vec<(String, String)> = ["inclusive", "strict"]
        .into_iter()
        .flat_map(|m| ["home", "w-phone", "home"].map(|p| (m.to_string(), p.to_string())))
        .collect();
    assert_eq!(stretches, expected);
    // w's person is split by the browser: its one visitor has its row.
    assert_eq!(person_row(&store, "w-phone", "strict")?, "w-phone");
    Ok(())
}

/// Every lookup of a merge is an index search on all its key's columns, so what it reads
/// does not grow with the site either (the tests above count rows written; this one the rows a merge may read).
#[test]
fn every_lookup_of_a_merge_searches_an_index() -> Result<(), StoreError> {
    let store = SqliteStore::open_in_memory()?;
    let conn = store.reader();
    for sql in super::merge::LOOKUPS {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let unbound = vec![rusqlite::types::Null; stmt.parameter_count()];
        let plan: Vec<String> = stmt
            .query_map(rusqlite::params_from_iter(unbound), |r| r.get(3))?
            .collect::<Result<_, _>>()?;
        assert!(
            plan.iter()
                .all(|step| !step.starts_with("SCAN") || step == "SCAN CONSTANT ROW"),
            "{sql}: {plan:?}"
        );
        // Each search keyed on the site, the reading and the node or person, not a range
        // of the site's rows.
        let searches: Vec<&String> = plan.iter().filter(|s| s.starts_with("SEARCH")).collect();
        assert!(
            !searches.is_empty() && searches.iter().all(|s| s.contains("mode=? AND ")),
            "{sql}: {plan:?}"
        );
    }
    Ok(())
}
