//! The visitor → person mapping kept at write time (`visitor_persons`, and
//! `person_stretches` for a browser shared by two users), so counting persons is a join
//! rather than a union-find over every link of the site.
//!
//! Two ways in:
//! - **A new link** (a new id, a recovery, a fingerprint, a login, a user's return to a
//!   shared browser) is a merge by size ([`merge`]): the smaller of the two sets it joins
//!   is relabelled, never the person it joins, so its cost does not grow with the person;
//!   `person_sets` keeps each set's size and user for it.
//! - **A split**: a link undone (`DELETE /api/links/{id}`), fingerprint links withdrawn
//!   when a second id appears behind an address, links purged by retention or erased with
//!   their subject ([`relink`]). The links reachable from the changed links' ends (any
//!   kind, active or not: everything that can bear on their persons) are read once and
//!   replayed by the rule of [`persons`](crate::identity::persons) for each reading, and
//!   the rows of every node they reach rewritten. A split costs the component it splits
//!   (the walk of its links), not the site's links; `rebuild-reports` and the upgrade to
//!   v20 do the same for every link, so they agree with the merges (the replay takes the
//!   links in the order the merges did, and [`keeps_label`] decides both).
//!
//! Only persons of two or more visitor ids, and persons a shared browser is split between,
//! have `visitor_persons` rows (what counting persons subtracts); any other visitor is its
//! own person. A visitor that logged in as users of different persons also has its
//! stretches. A person's id is a node of it (see [`keeps_label`]).
//!
//! [`keeps_label`]: crate::identity::persons::keeps_label

mod merge;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use rusqlite::{Connection, params};

pub(in crate::store::sqlite) use merge::linked;

use crate::identity::graph::{Link, Mode, Persons};
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

/// Writes `visitor`'s row: its person under reading `m` (stored name).
fn upsert_person(
    conn: &Connection,
    site: &str,
    m: &str,
    visitor: &str,
    person: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO visitor_persons (site, mode, visitor, person) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO UPDATE SET person = excluded.person",
    )?
    .execute(params![site, m, visitor, person])?;
    Ok(())
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

/// Writes the rows of the nodes in `reached` (closed under `links`) under `mode`: their
/// visitors' persons and stretches, and their sets.
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
    // As the merge writes them: two logins in one millisecond keep the later.
    let mut stretch = conn.prepare_cached(
        "INSERT INTO person_stretches (site, mode, visitor, from_ms, person)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT DO UPDATE SET person = excluded.person",
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
    // The sets: every old one is named by a node reached (a set's id is a node of it), so
    // they go, and the sets of two or more nodes are written again.
    let mut sets: std::collections::BTreeMap<&str, (i64, Option<&str>)> =
        std::collections::BTreeMap::new();
    let mut drop_set = conn
        .prepare_cached("DELETE FROM person_sets WHERE site = ?1 AND mode = ?2 AND person = ?3")?;
    for n in reached {
        drop_set.execute(params![site, m, n])?;
        let set = sets.entry(persons.person_of(n)).or_default();
        set.0 += 1;
        if n.starts_with(USER_PREFIX) {
            set.1 = Some(n);
        }
    }
    let mut add_set = conn.prepare_cached(
        "INSERT INTO person_sets (site, mode, person, nodes, user) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (person, (nodes, user)) in sets {
        if nodes > 1 {
            add_set.execute(params![site, m, person, nodes, user])?;
        }
    }
    Ok(())
}
