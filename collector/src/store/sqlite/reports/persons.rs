//! The visitor → person mapping kept at write time (`visitor_persons`), so counting
//! persons is a join rather than a union-find over every link of the site.
//!
//! When a link is added or deactivated, the components of its two ends are walked again
//! over the active links (for each reading: inclusive follows every link, strict only
//! the proven kinds, as in [`graph`](crate::identity::graph)) and their visitors' rows
//! rewritten: person = the smallest node id of the component. Only persons of two or more
//! visitor ids have rows (what counting persons subtracts); any other visitor is its own
//! person.

use std::collections::{BTreeSet, VecDeque};

use rusqlite::{Connection, params};

use crate::identity::graph::Mode;
use crate::store::StoreError;

/// The stored name of a reading.
pub(in crate::store::sqlite) fn mode_str(mode: Mode) -> &'static str {
    match mode {
        Mode::Inclusive => "inclusive",
        Mode::Strict => "strict",
    }
}

/// Whether strict counting follows a link kind (see `LinkKind::is_strict`).
fn strict_kind(kind: &str) -> bool {
    matches!(kind, "server-cookie" | "client-id" | "login")
}

/// Recomputes the persons of `nodes` (the ends of a link that changed) in `site`.
pub(in crate::store::sqlite) fn relink(
    conn: &Connection,
    site: &str,
    nodes: &[&str],
) -> Result<(), StoreError> {
    for mode in [Mode::Inclusive, Mode::Strict] {
        let mut done: BTreeSet<String> = BTreeSet::new();
        for node in nodes {
            if done.contains(*node) {
                continue;
            }
            let component = walk(conn, site, node, mode)?;
            write(conn, site, mode, &component)?;
            done.extend(component);
        }
    }
    Ok(())
}

/// The nodes connected to `start` by active links followed under `mode`.
fn walk(
    conn: &Connection,
    site: &str,
    start: &str,
    mode: Mode,
) -> Result<BTreeSet<String>, StoreError> {
    let mut seen = BTreeSet::from([start.to_string()]);
    let mut queue = VecDeque::from([start.to_string()]);
    let mut from_a =
        conn.prepare_cached("SELECT b, kind FROM links WHERE site = ?1 AND a = ?2 AND active = 1")?;
    let mut from_b =
        conn.prepare_cached("SELECT a, kind FROM links WHERE site = ?1 AND b = ?2 AND active = 1")?;
    while let Some(node) = queue.pop_front() {
        for stmt in [&mut from_a, &mut from_b] {
            let rows = stmt
                .query_map(params![site, node], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            for (other, kind) in rows {
                if (mode == Mode::Inclusive || strict_kind(&kind)) && seen.insert(other.clone()) {
                    queue.push_back(other);
                }
            }
        }
    }
    Ok(seen)
}

fn write(
    conn: &Connection,
    site: &str,
    mode: Mode,
    component: &BTreeSet<String>,
) -> Result<(), StoreError> {
    let person = component.first().cloned().unwrap_or_default();
    let mut delete = conn.prepare_cached(
        "DELETE FROM visitor_persons WHERE site = ?1 AND mode = ?2 AND visitor = ?3",
    )?;
    let mut upsert = conn.prepare_cached(
        "INSERT INTO visitor_persons (site, mode, visitor, person) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO UPDATE SET person = excluded.person",
    )?;
    let visitors = component.iter().filter(|n| !n.starts_with("user:"));
    let several = visitors.clone().count() > 1;
    for node in visitors {
        if several {
            upsert.execute(params![site, mode_str(mode), node, person])?;
        } else {
            delete.execute(params![site, mode_str(mode), node])?;
        }
    }
    Ok(())
}
