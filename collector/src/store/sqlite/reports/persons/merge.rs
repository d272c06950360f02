//! A new link taken into the persons kept at write time, by union by size: the cost of a
//! login, an `identify`, a new id or a link between two known sets is the smaller side of
//! the merge it makes (and the stretches that name that side), never the person it joins.
//!
//! What is kept, per site and reading: `person_sets` (each set of two or more nodes: its
//! id, its node count, its user node), `visitor_persons` (the reports' rows, see the
//! [parent module](super)) and `person_stretches`. A visitor's set is its
//! `visitor_persons` row, else itself (a set holding one visitor is named by it, see
//! [`keeps_label`]); a user node's is the `person_sets` row holding it, else itself. A
//! merge, as [`Persons::from_links`](crate::identity::persons::Persons::from_links)
//! replays it:
//! - the same set, or two sets that each hold a user (the refused link): nothing joins;
//! - else the side [`keeps_label`] chooses keeps its id; the other side's visitors (read by
//!   the `(site, mode, person)` index, as many as that side holds) and the stretches
//!   naming it take that id, its `person_sets` row goes into the kept one.
//!
//! A login then extends the visitor's stretches when it logs in as a user of another
//! person than the one its events go to now (its latest stretch, else its own person):
//! the visitor's latest stretch row is read, one or two rows written.

use rusqlite::{Connection, OptionalExtension, params};

use super::{mode_str, upsert_person};
use crate::identity::graph::{LinkKind, Mode};
use crate::identity::persons::{Side, follows, keeps_label};
use crate::identity::resolver::USER_PREFIX;
use crate::store::StoreError;

/// The set holding user node `?3` under reading `?2`. Named: without statistics SQLite
/// walks the site's sets by the primary key's `(site, mode)` rather than look the user up.
const USER_SET: &str = "SELECT person, nodes FROM person_sets INDEXED BY person_sets_user
     WHERE site = ?1 AND mode = ?2 AND user = ?3";
/// A visitor's person.
const VISITOR_ROW: &str =
    "SELECT person FROM visitor_persons WHERE site = ?1 AND mode = ?2 AND visitor = ?3";
/// A set's size and user.
const SET_ROW: &str =
    "SELECT nodes, user FROM person_sets WHERE site = ?1 AND mode = ?2 AND person = ?3";
/// Whether a stretch names a person.
const NAMED: &str = "SELECT EXISTS (SELECT 1 FROM person_stretches
     WHERE site = ?1 AND mode = ?2 AND person = ?3)";
/// A person's visitors (of one of two or more).
const MEMBERS: &str =
    "SELECT visitor FROM visitor_persons WHERE site = ?1 AND mode = ?2 AND person = ?3";
/// The stretches naming the smaller side take the larger's id.
const RELABEL_STRETCHES: &str =
    "UPDATE person_stretches SET person = ?4 WHERE site = ?1 AND mode = ?2 AND person = ?3";
/// The smaller side's set row, folded into the larger's.
const DROP_SET: &str = "DELETE FROM person_sets WHERE site = ?1 AND mode = ?2 AND person = ?3";
/// A visitor's latest stretch.
const LATEST_STRETCH: &str = "SELECT person FROM person_stretches
     WHERE site = ?1 AND mode = ?2 AND visitor = ?3 ORDER BY from_ms DESC LIMIT 1";

/// Every statement of a merge that finds rows, for the test of their plans: each looks
/// rows up by all three columns of an index, never walks a site's rows.
#[cfg(test)]
pub(super) const LOOKUPS: &[&str] = &[
    USER_SET,
    VISITOR_ROW,
    SET_ROW,
    NAMED,
    MEMBERS,
    RELABEL_STRETCHES,
    DROP_SET,
    LATEST_STRETCH,
];

/// A set as stored: its id, node count and user node.
struct Set {
    label: String,
    nodes: i64,
    user: Option<String>,
}

impl Set {
    /// How many visitor ids it holds.
    fn visitors(&self) -> i64 {
        self.nodes - i64::from(self.user.is_some())
    }

    fn side(&self) -> Side<'_> {
        Side {
            label: &self.label,
            nodes: self.nodes.unsigned_abs(),
        }
    }
}

fn is_user(node: &str) -> bool {
    node.starts_with(USER_PREFIX)
}

/// Takes the active link of `kind` between `a` and `b`, recorded at `at_ms` as the newest
/// link of `site`, into both readings' persons.
pub(in crate::store::sqlite) fn linked(
    conn: &Connection,
    site: &str,
    a: &str,
    b: &str,
    kind: LinkKind,
    at_ms: i64,
) -> Result<(), StoreError> {
    if a == b {
        return Ok(());
    }
    for mode in [Mode::Inclusive, Mode::Strict] {
        if !follows(mode, kind) {
            continue;
        }
        let m = mode_str(mode);
        union(conn, site, m, a, b)?;
        if kind == LinkKind::Login {
            login(conn, site, m, a, b, at_ms)?;
        }
    }
    Ok(())
}

/// The set of `node` under reading `m`.
fn set_of(conn: &Connection, site: &str, m: &str, node: &str) -> Result<Set, StoreError> {
    if is_user(node) {
        let row: Option<(String, i64)> = conn
            .prepare_cached(USER_SET)?
            .query_row(params![site, m, node], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let (label, nodes) = row.unwrap_or_else(|| (node.to_string(), 1));
        return Ok(Set {
            label,
            nodes,
            user: Some(node.to_string()),
        });
    }
    let label: String = conn
        .prepare_cached(VISITOR_ROW)?
        .query_row(params![site, m, node], |r| r.get(0))
        .optional()?
        .unwrap_or_else(|| node.to_string());
    let row: Option<(i64, Option<String>)> = conn
        .prepare_cached(SET_ROW)?
        .query_row(params![site, m, label], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (nodes, user) = row.unwrap_or((1, None));
    Ok(Set { label, nodes, user })
}

/// Whether a stretch of a shared browser names person `label` (one index probe).
fn named_by_stretch(
    conn: &Connection,
    site: &str,
    m: &str,
    label: &str,
) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(NAMED)?
        .query_row(params![site, m, label], |r| r.get(0))?)
}

/// The visitor ids of `set`: none, its id when it holds one (see [`keeps_label`]), else
/// its `visitor_persons` rows.
fn visitors_of(
    conn: &Connection,
    site: &str,
    m: &str,
    set: &Set,
) -> Result<Vec<String>, StoreError> {
    Ok(match set.visitors() {
        0 => Vec::new(),
        1 => vec![set.label.clone()],
        _ => conn
            .prepare_cached(MEMBERS)?
            .query_map(params![site, m, set.label], |r| r.get(0))?
            .collect::<Result<_, _>>()?,
    })
}

/// Joins the sets of `a` and `b` under reading `m` (see the module docs).
fn union(conn: &Connection, site: &str, m: &str, a: &str, b: &str) -> Result<(), StoreError> {
    let (sa, sb) = (set_of(conn, site, m, a)?, set_of(conn, site, m, b)?);
    if sa.label == sb.label || (sa.user.is_some() && sb.user.is_some()) {
        return Ok(());
    }
    let (keep, gone) = if keeps_label(sa.side(), sb.side()) {
        (sa, sb)
    } else {
        (sb, sa)
    };
    // Rows for every visitor once the person holds two, or a shared browser is split
    // between it and another (see the parent module); else its one visitor names it.
    if keep.visitors() + gone.visitors() >= 2
        || named_by_stretch(conn, site, m, &keep.label)?
        || named_by_stretch(conn, site, m, &gone.label)?
    {
        for v in visitors_of(conn, site, m, &gone)? {
            upsert_person(conn, site, m, &v, &keep.label)?;
        }
        if keep.visitors() == 1 {
            upsert_person(conn, site, m, &keep.label, &keep.label)?;
        }
    }
    conn.prepare_cached(RELABEL_STRETCHES)?
        .execute(params![site, m, gone.label, keep.label])?;
    conn.prepare_cached(DROP_SET)?
        .execute(params![site, m, gone.label])?;
    conn.prepare_cached(
        "INSERT INTO person_sets (site, mode, person, nodes, user) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT DO UPDATE SET nodes = excluded.nodes, user = excluded.user",
    )?
    .execute(params![
        site,
        m,
        keep.label,
        keep.nodes + gone.nodes,
        keep.user.or(gone.user)
    ])?;
    Ok(())
}

/// The stretches of the visitor of login link `a`–`b` after its [`union`]: a new one when
/// the user's person is not the one the visitor's events go to now.
fn login(
    conn: &Connection,
    site: &str,
    m: &str,
    a: &str,
    b: &str,
    at_ms: i64,
) -> Result<(), StoreError> {
    let (visitor, user) = match (is_user(a), is_user(b)) {
        (false, true) => (a, b),
        (true, false) => (b, a),
        _ => return Ok(()),
    };
    let theirs = set_of(conn, site, m, user)?;
    let latest: Option<String> = conn
        .prepare_cached(LATEST_STRETCH)?
        .query_row(params![site, m, visitor], |r| r.get(0))
        .optional()?;
    let own = set_of(conn, site, m, visitor)?;
    if latest.as_deref().unwrap_or(&own.label) == theirs.label {
        return Ok(());
    }
    let mut stretch = conn.prepare_cached(
        "INSERT INTO person_stretches (site, mode, visitor, from_ms, person)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT DO UPDATE SET person = excluded.person",
    )?;
    if latest.is_none() {
        stretch.execute(params![site, m, visitor, i64::MIN, own.label])?;
    }
    stretch.execute(params![site, m, visitor, at_ms, theirs.label])?;
    // Both persons are now split by a browser: each keeps a row for its every visitor.
    for set in [&own, &theirs] {
        if set.visitors() == 1 {
            upsert_person(conn, site, m, &set.label, &set.label)?;
        }
    }
    Ok(())
}
