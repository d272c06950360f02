//! The visitor → person mapping kept at write time (`visitor_persons`, and
//! `person_stretches` for a browser shared by two users), so counting persons is a join
//! rather than a union-find over every link of the site.
//!
//! The common link, a node seen for the first time joined to a known one (a new client id
//! linked to a cookie's visitor, a recovery, a fingerprint), is a merge ([`linked`]): the
//! new node can hold no user, so nothing is refused and no stretch moves, and it takes the
//! other side's person as it is, one row written, whatever that person's size. When that
//! cannot be decided from the two ends' rows (a login, two nodes with links of their own,
//! a new node whose id is smaller than the person's, which would rename it), and when a
//! link is deactivated, the links reachable from its two ends (any kind, active or not:
//! everything that can bear on their persons) are read once and grouped by the rule of
//! [`persons`](crate::identity::persons) for each reading, and the rows of the visitors
//! they reach rewritten: person = the smallest node id of its set. The cost of that is
//! the walk of the ends' components, not the site's links. Only
//! persons of two or more visitor ids, and persons a shared browser is split between, have
//! `visitor_persons` rows (what counting persons subtracts); any other visitor is its own
//! person. A visitor that logged in as users of different persons also has its stretches.

use std::collections::BTreeSet;

use rusqlite::{Connection, params};

use crate::identity::graph::{Link, LinkKind, Mode, Persons};
use crate::identity::persons::follows;
use crate::identity::resolver::USER_PREFIX;
use crate::store::StoreError;
use crate::store::sqlite::identity::component_links;

/// The stored name of a reading.
pub(in crate::store::sqlite) fn mode_str(mode: Mode) -> &'static str {
    match mode {
        Mode::Inclusive => "inclusive",
        Mode::Strict => "strict",
    }
}

/// Takes in the link of `kind` just recorded between `a` and `b` in `site`: a merge when
/// one end is new (see the module docs), else [`relink`].
pub(in crate::store::sqlite) fn linked(
    conn: &Connection,
    site: &str,
    a: &str,
    b: &str,
    kind: LinkKind,
) -> Result<(), StoreError> {
    let plain = |n: &str| !n.starts_with(USER_PREFIX);
    if kind != LinkKind::Login
        && plain(a)
        && plain(b)
        && a != b
        && merge_new(conn, site, a, b, kind)?
    {
        return Ok(());
    }
    relink(conn, site, &[a, b])
}

/// The merge of [`linked`]: writes the rows when one end (or both) has no link but this
/// one and the person it joins keeps its id; false (nothing written) otherwise.
fn merge_new(
    conn: &Connection,
    site: &str,
    a: &str,
    b: &str,
    kind: LinkKind,
) -> Result<bool, StoreError> {
    let (new_a, new_b) = (
        only_this_link(conn, site, a)?,
        only_this_link(conn, site, b)?,
    );
    let mut rows: Vec<(&'static str, &str, String)> = Vec::new();
    for mode in [Mode::Inclusive, Mode::Strict] {
        if !follows(mode, kind) {
            // Not followed under this reading: both ends stay as they were.
            continue;
        }
        let m = mode_str(mode);
        match (new_a, new_b) {
            (true, true) => {
                // Two nodes alone: a person of the two, named by the smaller.
                let person = a.min(b).to_string();
                rows.push((m, a, person.clone()));
                rows.push((m, b, person));
            }
            (true, false) | (false, true) => {
                let (new, old) = if new_a { (a, b) } else { (b, a) };
                let Some(person) = person_row(conn, site, m, old)? else {
                    // The old end is alone in its person (no row) or split: its person's
                    // id and users are not in a row; walk it.
                    return Ok(false);
                };
                if new < person.as_str() {
                    // The new node would name the person: every row of it changes.
                    return Ok(false);
                }
                rows.push((m, new, person));
            }
            (false, false) => return Ok(false),
        }
    }
    let mut upsert = conn.prepare_cached(
        "INSERT INTO visitor_persons (site, mode, visitor, person) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO UPDATE SET person = excluded.person",
    )?;
    for (m, visitor, person) in rows {
        upsert.execute(params![site, m, visitor, person])?;
    }
    Ok(true)
}

/// Whether `node` has exactly one link in `site`, of any kind, active or not (the one just
/// recorded): two index probes at most.
fn only_this_link(conn: &Connection, site: &str, node: &str) -> Result<bool, StoreError> {
    let n: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM (SELECT 1 FROM links WHERE site = ?1 AND a = ?2
                 UNION ALL SELECT 1 FROM links WHERE site = ?1 AND b = ?2 LIMIT 2)",
        )?
        .query_row(params![site, node], |r| r.get(0))?;
    Ok(n == 1)
}

/// The person of `visitor`'s row under reading `m`, when it has one and is not a shared
/// browser (whose stretches the walk keeps).
fn person_row(
    conn: &Connection,
    site: &str,
    m: &str,
    visitor: &str,
) -> Result<Option<String>, StoreError> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .prepare_cached(
            "SELECT person FROM visitor_persons WHERE site = ?1 AND mode = ?2 AND visitor = ?3
               AND NOT EXISTS (SELECT 1 FROM person_stretches
                   WHERE site = ?1 AND mode = ?2 AND visitor = ?3)",
        )?
        .query_row(params![site, m, visitor], |r| r.get(0))
        .optional()?)
}

/// Recomputes the persons of `nodes` (the ends of a link that changed) in `site`.
pub(in crate::store::sqlite) fn relink(
    conn: &Connection,
    site: &str,
    nodes: &[&str],
) -> Result<(), StoreError> {
    let mut done: BTreeSet<String> = BTreeSet::new();
    for node in nodes {
        if done.contains(*node) {
            continue;
        }
        let links = component_links(conn, site, node)?;
        let mut reached = BTreeSet::from([node.to_string()]);
        for l in &links {
            reached.insert(l.a.clone());
            reached.insert(l.b.clone());
        }
        for mode in [Mode::Inclusive, Mode::Strict] {
            write(conn, site, mode, &links, &reached)?;
        }
        done.extend(reached);
    }
    Ok(())
}

/// Writes the rows of the visitors in `reached` (closed under `links`) under `mode`.
fn write(
    conn: &Connection,
    site: &str,
    mode: Mode,
    links: &[Link],
    reached: &BTreeSet<String>,
) -> Result<(), StoreError> {
    let persons = Persons::from_links(links, mode);
    let mut delete = conn.prepare_cached(
        "DELETE FROM visitor_persons WHERE site = ?1 AND mode = ?2 AND visitor = ?3",
    )?;
    let mut upsert = conn.prepare_cached(
        "INSERT INTO visitor_persons (site, mode, visitor, person) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO UPDATE SET person = excluded.person",
    )?;
    let mut clear = conn.prepare_cached(
        "DELETE FROM person_stretches WHERE site = ?1 AND mode = ?2 AND visitor = ?3",
    )?;
    let mut stretch = conn.prepare_cached(
        "INSERT INTO person_stretches (site, mode, visitor, from_ms, person)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let visitors: Vec<&String> = reached
        .iter()
        .filter(|n| !n.starts_with(USER_PREFIX))
        .collect();
    // Visitors per person, to keep rows for persons of two or more only.
    let mut size: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for v in &visitors {
        *size.entry(persons.person_of(v)).or_default() += 1;
    }
    // The persons a shared browser is split between keep a row for every visitor, even
    // alone, so the reports can tell them from other visitors (see `merged_visitors`).
    let split: std::collections::HashSet<&str> = visitors
        .iter()
        .flat_map(|v| persons.stretches(v))
        .map(|s| s.person.as_str())
        .collect();
    let m = mode_str(mode);
    for v in visitors {
        let person = persons.person_of(v);
        if size.get(person).copied().unwrap_or(0) > 1 || split.contains(person) {
            upsert.execute(params![site, m, v, person])?;
        } else {
            delete.execute(params![site, m, v])?;
        }
        clear.execute(params![site, m, v])?;
        for s in persons.stretches(v) {
            stretch.execute(params![site, m, v, s.from_ms, s.person])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

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

    /// Rows the store writes for one more event of the client, and the time it takes.
    fn one_more(store: &SqliteStore, n: u32) -> Result<(u64, std::time::Duration), StoreError> {
        let before = store.writer().total_changes();
        let started = Instant::now();
        store.insert_events(&[adversarial(n)])?;
        let took = started.elapsed();
        Ok((store.writer().total_changes() - before, took))
    }

    /// The adversarial client: it keeps its cookie and sends a new client id with
    /// every event. Each id joins the cookie's person; the store writes the same rows for
    /// it whether the person already holds 100 ids or 5,000 (before the merge, every link
    /// rewrote the whole person: 5,000 rows and more per event).
    #[test]
    fn a_new_id_joining_a_large_person_writes_what_it_writes_for_a_small_one()
    -> Result<(), StoreError> {
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
            let (rows, took) = one_more(&store, n)?;
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
}
