//! The visitor → person mapping kept at write time (`visitor_persons`, and
//! `person_stretches` for a browser shared by two users), so counting persons is a join
//! rather than a union-find over every link of the site.
//!
//! When a link is added or deactivated, the links reachable from its two ends (any kind,
//! active or not: everything that can bear on their persons) are read once and grouped
//! by the rule of [`persons`](crate::identity::persons) for each reading, and the rows of
//! the visitors they reach rewritten: person = the smallest node id of its set. The cost
//! is the same walk as before the rule (the ends' components), not the site's links. Only
//! persons of two or more visitor ids, and persons a shared browser is split between, have
//! `visitor_persons` rows (what counting persons subtracts); any other visitor is its own
//! person. A visitor that logged in as users of different persons also has its stretches.

use std::collections::BTreeSet;

use rusqlite::{Connection, params};

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
