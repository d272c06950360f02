//! Identity memory in SQLite: what the resolver needs to know about a client id and a
//! fingerprint ([`memory`]), how many client ids a cookie's visitor was linked to today
//! ([`cookie_ids`], one row of a counter table), the side effects of a resolution written with its event
//! ([`apply`]), and the reads behind persons: links, person counts and one person's
//! visitors, links and timeline.

use std::collections::BTreeSet;

use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};

use super::dict::{has_events_sql, id_key, id_key_sql};
use crate::event::Event;
use crate::identity::graph::{Link, LinkKind, Mode, Persons};
use crate::identity::resolver::{Memory, USER_PREFIX};
use crate::identity::salt::DAY_MS;
use crate::store::person_page::PersonPage;
use crate::store::{LinkView, Person, StoreError, TimelineEntry};

/// Most events a person's timeline returns (the newest ones).
pub const TIMELINE_CAP: usize = 1000;

/// Whether a client id is known: an event's visitor or a link's end.
pub(super) const KNOWN_SQL: &str = concat!(
    "SELECT EXISTS (SELECT 1 FROM event_rows
             WHERE site = (SELECT id FROM strings WHERE value = ?1)
               AND visitor = (SELECT id FROM strings WHERE value = ",
    id_key!("?2"),
    "))
         OR EXISTS (SELECT 1 FROM links WHERE site = ?1 AND a = ?2)
         OR EXISTS (SELECT 1 FROM links WHERE site = ?1 AND b = ?2)"
);

/// The first two visitors seen behind a fingerprint on a day.
pub(super) const SEEN_SQL: &str = "SELECT visitor, last_ms FROM fingerprint_seen
     WHERE site = ?1 AND day = ?2 AND fingerprint = ?3 ORDER BY visitor LIMIT 2";

/// Records a link unless the pair already has one of its kind, in either direction. Both
/// probes look the pair up (`links_site_a` is `(site, a, b)` from v20), so the check costs
/// the links between the two ends, not those of either end: a login's visitor may be a
/// cookie's visitor with thousands of client ids linked, and a user may have many devices.
const LINK_ONCE: &str =
    "INSERT INTO links (site, a, b, kind, confidence, at_ms, active, fingerprint)
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, 1, ?7
     WHERE NOT EXISTS (SELECT 1 FROM links INDEXED BY links_site_a
             WHERE site = ?1 AND a = ?2 AND b = ?3 AND +kind = ?4)
       AND NOT EXISTS (SELECT 1 FROM links INDEXED BY links_site_a
             WHERE site = ?1 AND a = ?3 AND b = ?2 AND +kind = ?4)";

/// Marks the link of a pair and kind verified, in each direction, by the pair.
const VERIFY: [&str; 2] = [
    "UPDATE links INDEXED BY links_site_a SET verified = 1
     WHERE site = ?1 AND a = ?2 AND b = ?3 AND +kind = ?4 AND +verified = 0",
    "UPDATE links INDEXED BY links_site_a SET verified = 1
     WHERE site = ?1 AND a = ?3 AND b = ?2 AND +kind = ?4 AND +verified = 0",
];

/// What the store remembers about `client_id` and `fingerprint` on `day` (Unix day, UTC).
pub(super) fn memory(
    conn: &Connection,
    site: &str,
    client_id: Option<&str>,
    fingerprint: &str,
    day: i64,
) -> Result<Memory, StoreError> {
    let client_id_known = match client_id {
        None => false,
        Some(id) => conn
            .prepare_cached(KNOWN_SQL)?
            .query_row(params![site, id], |r| r.get::<_, bool>(0))?,
    };
    // Two are enough: the rule only asks whether there is none, one (and which) or more,
    // and an address shared by thousands (a large NAT) must not cost thousands of rows a
    // request. No fingerprint (a caller that knows it already): not read.
    let seen = if fingerprint.is_empty() {
        Vec::new()
    } else {
        conn.prepare_cached(SEEN_SQL)?
            .query_map(params![site, day, fingerprint], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?
    };
    let last_seen_ms = seen.iter().map(|(_, t)| *t).max();
    Ok(Memory {
        client_id_known,
        behind_fingerprint: seen.into_iter().map(|(v, _)| v).collect(),
        last_seen_ms,
        shared_yesterday: false,
        cookie_ids_today: 0,
    })
}

/// How many client ids were linked (`client-id`) to `visitor` on `site` on `day` (Unix
/// day, UTC): one primary-key read of `cookie_ids`, whatever the person's size.
pub(super) fn cookie_ids(
    conn: &Connection,
    site: &str,
    visitor: &str,
    day: i64,
) -> Result<u32, StoreError> {
    Ok(conn
        .prepare_cached("SELECT ids FROM cookie_ids WHERE site = ?1 AND visitor = ?2 AND day = ?3")?
        .query_row(params![site, visitor, day], |r| r.get::<_, u32>(0))
        .optional()?
        .unwrap_or(0))
}

/// Whether two or more distinct id visitors were seen behind `fingerprint` on `day`.
pub(super) fn fingerprint_shared(
    conn: &Connection,
    site: &str,
    fingerprint: &str,
    day: i64,
) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) >= 2 FROM (SELECT 1 FROM fingerprint_seen
             WHERE site = ?1 AND day = ?2 AND fingerprint = ?3 LIMIT 2)",
        )?
        .query_row(params![site, day, fingerprint], |r| r.get::<_, bool>(0))?)
}

/// Writes the identity side effects of a new event `e`: withdraws the fingerprint's links
/// when it became ambiguous, then records the links (each pair and kind once) and the
/// fingerprint observation.
pub(super) fn apply(tx: &Transaction<'_>, e: &Event) -> Result<(), StoreError> {
    let fx = &e.identity;
    if fx.withdraw_fingerprint_links && !fx.fingerprint.is_empty() {
        // The persons of the withdrawn links' ends are recomputed after the update: a
        // split, which costs the components it splits (see `reports::persons`).
        let ends = tx
            .prepare_cached(
                "SELECT a, b FROM links
                 WHERE site = ?1 AND fingerprint = ?2 AND kind = 'fingerprint' AND active = 1",
            )?
            .query_map(params![e.site, fx.fingerprint], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        tx.prepare_cached(
            "UPDATE links SET active = 0
             WHERE site = ?1 AND fingerprint = ?2 AND kind = 'fingerprint' AND active = 1",
        )?
        .execute(params![e.site, fx.fingerprint])?;
        for (a, b) in &ends {
            super::reports::persons::relink(tx, &e.site, &[a, b])?;
        }
    }
    for link in &fx.links {
        let fingerprint = matches!(link.kind, LinkKind::Fingerprint | LinkKind::Recovery)
            .then_some(fx.fingerprint.as_str());
        // The same evidence seen again (every event of a logged-in visitor, say) adds no
        // second link; nor does it bring back a link that was undone. One exception: a
        // login back to a user after another user logged in on the same visitor (a shared
        // browser without reset) is recorded again, as it starts a new stretch of that
        // browser's events (see `identity::persons`); one row per switch of user.
        if link.kind == LinkKind::Login && switched_back(tx, &e.site, &link.a, &link.b)? {
            tx.prepare_cached(
                "INSERT INTO links (site, a, b, kind, confidence, at_ms, active, fingerprint)
                 VALUES (?1, ?2, ?3, 'login', ?4, ?5, 1, NULL)",
            )?
            .execute(params![
                e.site,
                link.a,
                link.b,
                f64::from(link.confidence),
                e.received,
            ])?;
            super::reports::persons::linked(tx, &e.site, &link.a, &link.b, link.kind, e.received)?;
        }
        let inserted = tx.prepare_cached(LINK_ONCE)?.execute(params![
            e.site,
            link.a,
            link.b,
            link.kind.as_str(),
            f64::from(link.confidence),
            e.received,
            fingerprint,
        ])?;
        if inserted > 0 {
            super::reports::persons::linked(tx, &e.site, &link.a, &link.b, link.kind, e.received)?;
            if link.kind == LinkKind::ClientId {
                // `b` is the cookie's visitor (see the resolver): count the id for its day.
                tx.prepare_cached(
                    "INSERT INTO cookie_ids (site, visitor, day, ids) VALUES (?1, ?2, ?3, 1)
                     ON CONFLICT DO UPDATE SET ids = ids + 1",
                )?
                .execute(params![
                    e.site,
                    link.b,
                    e.received.div_euclid(DAY_MS)
                ])?;
            }
        }
        if link.verified {
            // New or seen before unverified (a login before the site signed it): the
            // collector now vouches for it. An undone link stays undone. By the pair, in
            // each direction, as the insert above.
            for sql in VERIFY {
                tx.prepare_cached(sql)?.execute(params![
                    e.site,
                    link.a,
                    link.b,
                    link.kind.as_str()
                ])?;
            }
        }
    }
    if fx.observe_fingerprint && !fx.fingerprint.is_empty() {
        tx.prepare_cached(
            "INSERT INTO fingerprint_seen (site, day, fingerprint, visitor, last_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT DO UPDATE SET last_ms = max(last_ms, excluded.last_ms)",
        )?
        .execute(params![
            e.site,
            e.received.div_euclid(DAY_MS),
            fx.fingerprint,
            e.visitor,
            e.received,
        ])?;
    }
    Ok(())
}

/// Whether `visitor` logging in as `user` returns to a user it logged in as before, after
/// logging in as another: its latest login is to someone else, and its login as `user`
/// was recorded and not undone. Reads `visitor`'s own login links only (`links_site_a`,
/// newest first).
fn switched_back(
    tx: &Transaction<'_>,
    site: &str,
    visitor: &str,
    user: &str,
) -> Result<bool, StoreError> {
    if !user.starts_with(USER_PREFIX) {
        return Ok(false);
    }
    let latest: Option<String> = tx
        .prepare_cached(
            "SELECT b FROM links WHERE site = ?1 AND a = ?2 AND kind = 'login'
             ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![site, visitor], |r| r.get(0))
        .optional()?;
    if latest.as_deref().is_none_or(|l| l == user) {
        return Ok(false);
    }
    let (before, undone): (bool, bool) = tx
        .prepare_cached(
            "SELECT count(*) > 0, coalesce(max(active = 0), 0) FROM links
             WHERE site = ?1 AND a = ?2 AND b = ?3 AND kind = 'login'",
        )?
        .query_row(params![site, visitor, user], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(before && !undone)
}

fn kind_from_str(s: &str) -> Option<LinkKind> {
    [
        LinkKind::ServerCookie,
        LinkKind::ClientId,
        LinkKind::Fingerprint,
        LinkKind::Login,
        LinkKind::Recovery,
    ]
    .into_iter()
    .find(|k| k.as_str() == s)
}

const LINK_COLUMNS: &str = "id, a, b, kind, confidence, at_ms, active";

/// A `links` row selected as [`LINK_COLUMNS`]; `None` for an unknown kind.
fn link_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Link>> {
    let kind: String = r.get(3)?;
    let Some(kind) = kind_from_str(&kind) else {
        return Ok(None);
    };
    Ok(Some(Link {
        id: r.get(0)?,
        a: r.get(1)?,
        b: r.get(2)?,
        kind,
        confidence: r.get::<_, f64>(4)? as f32,
        at_ms: r.get(5)?,
        active: r.get(6)?,
    }))
}

/// Every link of `site`, active or not, oldest first. Rows of an unknown kind are skipped.
pub(super) fn links(conn: &Connection, site: &str) -> Result<Vec<Link>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {LINK_COLUMNS} FROM links WHERE site = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([site], link_row)?;
    let mut out = Vec::new();
    for row in rows {
        out.extend(row?);
    }
    Ok(out)
}

/// The links of `site` reachable from `start` through links of any kind, active or not,
/// oldest first: every link that can bear on `start`'s person under either reading, read
/// through the `(site, a)` and `(site, b)` indexes instead of the whole site's links.
pub(super) fn component_links(
    conn: &Connection,
    site: &str,
    start: &str,
) -> Result<Vec<Link>, StoreError> {
    let mut from = conn.prepare_cached(&format!(
        "SELECT {LINK_COLUMNS} FROM links WHERE site = ?1 AND a = ?2
         UNION ALL SELECT {LINK_COLUMNS} FROM links WHERE site = ?1 AND b = ?2"
    ))?;
    let mut seen = BTreeSet::from([start.to_string()]);
    let mut queue = vec![start.to_string()];
    let mut found: std::collections::BTreeMap<i64, Link> = std::collections::BTreeMap::new();
    while let Some(node) = queue.pop() {
        let rows = from.query_map(params![site, node], link_row)?;
        for link in rows {
            let Some(link) = link? else { continue };
            for end in [&link.a, &link.b] {
                if seen.insert(end.clone()) {
                    queue.push(end.clone());
                }
            }
            found.insert(link.id, link);
        }
    }
    Ok(found.into_values().collect())
}

/// Distinct persons among the visitors of `site`'s events under `mode`: each visitor is
/// one, less the visitors kept in `visitor_persons` beyond one per person, plus the
/// persons a shared visitor's later stretches belong to that no event visitor is already
/// counted as (see [`persons`](crate::identity::persons)).
pub(super) fn persons(conn: &Connection, site: &str, mode: Mode) -> Result<u64, StoreError> {
    let mode = super::reports::persons::mode_str(mode);
    let visitors: i64 = conn
        .prepare_cached(
            "SELECT count(DISTINCT visitor) FROM event_rows
             WHERE site = (SELECT id FROM strings WHERE value = ?1)",
        )?
        .query_row([site], |r| r.get(0))?;
    let merged: i64 = conn
        .prepare_cached(&format!(
            "SELECT count(*) - count(DISTINCT person) FROM visitor_persons vp
             WHERE site = ?1 AND mode = ?2 AND {}",
            has_events_sql("?1", "vp.visitor")
        ))?
        .query_row(params![site, mode], |r| r.get(0))?;
    // Few rows: only browsers shared by two users have stretches.
    let split: i64 = conn
        .prepare_cached(&format!(
            "SELECT count(DISTINCT ps.person) FROM person_stretches ps
             WHERE ps.site = ?1 AND ps.mode = ?2
               AND {}
               AND NOT EXISTS (SELECT 1 FROM visitor_persons vp
                   WHERE vp.site = ?1 AND vp.mode = ?2 AND vp.person = ps.person
                     AND {})
               AND NOT ({}
                   AND NOT EXISTS (SELECT 1 FROM visitor_persons vp
                       WHERE vp.site = ?1 AND vp.mode = ?2 AND vp.visitor = ps.person))",
            has_events_sql("?1", "ps.visitor"),
            has_events_sql("?1", "vp.visitor"),
            has_events_sql("?1", "ps.person"),
        ))?
        .query_row(params![site, mode], |r| r.get(0))?;
    Ok(u64::try_from(visitors - merged + split).unwrap_or(0))
}

/// Every event id of `site` with the person of its visitor under `mode` (a shared
/// visitor's event: the person of the user logged in when it was received).
pub(super) fn event_persons(
    conn: &Connection,
    site: &str,
    mode: Mode,
) -> Result<Vec<(String, String)>, StoreError> {
    let persons = Persons::from_links(&links(conn, site)?, mode);
    let mut stmt =
        conn.prepare_cached("SELECT id, visitor, received FROM events WHERE site = ?1")?;
    let rows = stmt.query_map([site], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, visitor, received) = row?;
        let person = persons.person_at(&visitor, received).to_string();
        out.push((id, person));
    }
    Ok(out)
}

/// The person `visitor` belongs to on `site` under `mode`, or `None` when the store knows
/// nothing of that visitor (no event, no link). A browser shared by two users is listed
/// in `shared`, and its events are in the timeline of the person logged in then.
pub(super) fn person(
    conn: &Connection,
    site: &str,
    visitor: &str,
    mode: Mode,
) -> Result<Option<Person>, StoreError> {
    let all = component_links(conn, site, visitor)?;
    let page = PersonPage::new(&all, visitor, mode);
    let timeline = timeline(conn, site, &page.timeline_visitors(), |v, received| {
        page.keeps(v, received)
    })?;
    if timeline.is_empty() && !page.has_links() {
        let known: Option<i64> = conn
            .prepare_cached(&format!("SELECT 1 WHERE {}", has_events_sql("?1", "?2")))?
            .query_row(params![site, visitor], |r| r.get(0))
            .optional()?;
        if known.is_none() {
            return Ok(None);
        }
    }
    Ok(Some(page.with_timeline(site, timeline)))
}

/// The newest [`TIMELINE_CAP`] events of `visitors` that `keep` (visitor, received)
/// accepts, oldest first.
fn timeline(
    conn: &Connection,
    site: &str,
    visitors: &[String],
    keep: impl Fn(&str, i64) -> bool,
) -> Result<Vec<TimelineEntry>, StoreError> {
    let mut out = Vec::new();
    // Chunks keep each statement under SQLite's limit on bound parameters. The visitor
    // index, named: left to itself, SQLite walks the site's whole `(site, ts)` index to
    // skip the sort (seconds at ten million events, for a person of a few dozen).
    for chunk in visitors.chunks(500) {
        let marks = (2..chunk.len() + 2)
            .map(|i| id_key_sql(&format!("?{i}")))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT id, ts, kind, path, visitor, evidence, received FROM events
             WHERE rowid IN (SELECT rowid FROM event_rows INDEXED BY events_site_visitor
                 WHERE site = (SELECT id FROM strings WHERE value = ?1)
                   AND visitor IN (SELECT id FROM strings WHERE value IN ({marks})))
             ORDER BY ts DESC, id DESC LIMIT {TIMELINE_CAP}"
        );
        let mut stmt = conn.prepare(&sql)?;
        let args = std::iter::once(site).chain(chunk.iter().map(String::as_str));
        let rows = stmt.query_map(params_from_iter(args), |r| {
            Ok((
                TimelineEntry {
                    id: r.get(0)?,
                    ts: r.get(1)?,
                    kind: r.get(2)?,
                    path: r.get(3)?,
                    visitor: r.get(4)?,
                    evidence: r.get(5)?,
                },
                r.get::<_, i64>(6)?,
            ))
        })?;
        for row in rows {
            let (entry, received) = row?;
            if keep(&entry.visitor, received) {
                out.push(entry);
            }
        }
    }
    out.sort_by(|x, y| (y.ts, &y.id).cmp(&(x.ts, &x.id)));
    out.truncate(TIMELINE_CAP);
    out.reverse();
    Ok(out)
}

/// The links refused on the way between `a`'s and `b`'s persons under `mode`: followed
/// links that would have joined them but for two users (read from `a`'s closure, which
/// holds every such link).
pub(super) fn refused(
    conn: &Connection,
    site: &str,
    a: &str,
    b: &str,
    mode: Mode,
) -> Result<Vec<LinkView>, StoreError> {
    let all = component_links(conn, site, a)?;
    let persons = Persons::from_links(&all, mode);
    let sides = |n: &str| {
        let mut out = vec![persons.person_of(n).to_string()];
        out.extend(persons.stretches(n).iter().map(|s| s.person.clone()));
        out
    };
    let (pa, pb) = (sides(a), sides(b));
    Ok(all
        .iter()
        .filter(|l| persons.is_refused(l.id))
        .filter(|l| {
            let (x, y) = (persons.person_of(&l.a), persons.person_of(&l.b));
            let has = |side: &[String], p: &str| side.iter().any(|s| s == p);
            (has(&pa, x) && has(&pb, y)) || (has(&pa, y) && has(&pb, x))
        })
        .map(|l| LinkView {
            refused: true,
            ..l.into()
        })
        .collect())
}

/// Deactivates link `id`; false when there is no such link.
pub(super) fn deactivate_link(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    let exists: Option<i64> = conn
        .prepare_cached("SELECT id FROM links WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    if exists.is_none() {
        return Ok(false);
    }
    let tx = conn.unchecked_transaction()?;
    tx.execute("UPDATE links SET active = 0 WHERE id = ?1", [id])?;
    let (site, a, b): (String, String, String) =
        tx.query_row("SELECT site, a, b FROM links WHERE id = ?1", [id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    super::reports::persons::relink(&tx, &site, &[&a, &b])?;
    tx.commit()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::IdentityEffects;
    use crate::identity::resolver::NewLink;
    use crate::store::sqlite::SqliteStore;
    use crate::store::sqlite::tests::event;

    const FP: &str = "fp_1";

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

    #[test]
    fn memory_knows_ids_from_events_and_links_and_who_is_behind_a_fingerprint()
    -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let d = day();
        let m = store.identity_memory("demo", Some("a"), FP, d)?;
        assert!(!m.client_id_known && m.behind_fingerprint.is_empty());
        let linked = IdentityEffects {
            links: vec![new_link("b", "a", LinkKind::ClientId)],
            ..observed()
        };
        store.insert_events(&[with(1, "a", linked)])?;
        assert!(
            store
                .identity_memory("demo", Some("a"), FP, d)?
                .client_id_known
        );
        let b = store.identity_memory("demo", Some("b"), FP, d)?;
        assert!(b.client_id_known, "an id seen only in a link is known");
        assert_eq!(b.behind_fingerprint, ["a"]);
        assert!(
            store
                .identity_memory("demo", Some("b"), FP, d + 1)?
                .behind_fingerprint
                .is_empty()
        );
        assert!(
            !store
                .identity_memory("other", Some("a"), FP, d)?
                .client_id_known
        );
        Ok(())
    }

    #[test]
    fn a_crowd_behind_one_fingerprint_is_read_as_two() -> Result<(), StoreError> {
        // A large NAT: many id visitors behind one address and user agent. The rule only
        // tells none, one and more apart, so the memory lists two, whatever the crowd.
        let store = SqliteStore::open_in_memory()?;
        let crowd: Vec<Event> = (1..=50)
            .map(|i| with(i, &format!("v{i:02}"), observed()))
            .collect();
        store.insert_events(&crowd)?;
        let m = store.identity_memory("demo", Some("new"), FP, day())?;
        assert_eq!(m.behind_fingerprint, ["v01", "v02"]);
        assert!(store.fingerprint_shared("demo", FP, day())?);
        Ok(())
    }

    #[test]
    fn a_fingerprint_is_shared_once_two_id_visitors_were_seen_behind_it() -> Result<(), StoreError>
    {
        let store = SqliteStore::open_in_memory()?;
        let d = day();
        store.insert_events(&[with(1, "a", observed()), with(2, "a", observed())])?;
        assert!(
            !store.fingerprint_shared("demo", FP, d)?,
            "one visitor, twice"
        );
        store.insert_events(&[with(3, "b", observed())])?;
        assert!(store.fingerprint_shared("demo", FP, d)?);
        assert!(!store.fingerprint_shared("demo", FP, d + 1)?, "per day");
        assert!(!store.fingerprint_shared("other", FP, d)?, "per site");
        Ok(())
    }

    #[test]
    fn a_duplicate_event_records_nothing_twice_and_withdrawal_keeps_other_links()
    -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let attach = IdentityEffects {
            fingerprint: FP.into(),
            links: vec![new_link(FP, "a", LinkKind::Fingerprint)],
            ..IdentityEffects::default()
        };
        let login = IdentityEffects {
            links: vec![new_link("a", "user:u", LinkKind::Login)],
            ..observed()
        };
        store.insert_events(&[with(1, "a", login), with(2, FP, attach.clone())])?;
        store.insert_events(&[with(2, FP, attach)])?;
        let again = IdentityEffects {
            links: vec![new_link("user:u", "a", LinkKind::Login)],
            ..observed()
        };
        store.insert_events(&[with(9, "a", again)])?;
        let all = links(&store.reader(), "demo")?;
        assert_eq!(
            all.len(),
            2,
            "neither the duplicate nor the same login added a link"
        );
        assert_eq!(store.summary("demo", Mode::Inclusive)?.persons, 1);
        let withdraw = IdentityEffects {
            withdraw_fingerprint_links: true,
            ..observed()
        };
        store.insert_events(&[with(3, "b", withdraw)])?;
        let all = links(&store.reader(), "demo")?;
        let active: Vec<_> = all.iter().map(|l| (l.kind, l.active)).collect();
        assert_eq!(
            active,
            [(LinkKind::Login, true), (LinkKind::Fingerprint, false)]
        );
        assert_eq!(store.summary("demo", Mode::Inclusive)?.persons, 3);
        assert!(store.deactivate_link(all[0].id)?);
        assert!(!store.deactivate_link(9999)?);
        let person = store.person("demo", "a", Mode::Inclusive)?;
        assert_eq!(person.map(|p| p.visitors), Some(vec!["a".to_string()]));
        assert!(store.person("demo", "nobody", Mode::Inclusive)?.is_none());
        Ok(())
    }

    #[test]
    fn client_id_links_are_counted_per_cookie_visitor_and_day() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let d = day();
        let linked = |kind, a: &str, b: &str| IdentityEffects {
            links: vec![new_link(a, b, kind)],
            ..IdentityEffects::default()
        };
        store.insert_events(&[
            with(1, "home", linked(LinkKind::ClientId, "x", "home")),
            with(2, "home", linked(LinkKind::ClientId, "y", "home")),
            with(3, "home", linked(LinkKind::ClientId, "x", "home")),
            with(4, "home", linked(LinkKind::Login, "home", "user:u")),
            with(5, "away", linked(LinkKind::ClientId, "z", "away")),
        ])?;
        assert_eq!(
            store.cookie_ids("demo", "home", d)?,
            2,
            "each id once, logins not"
        );
        assert_eq!(store.cookie_ids("demo", "home", d + 1)?, 0, "per day");
        assert_eq!(store.cookie_ids("other", "home", d)?, 0, "per site");
        store.erase(
            "demo",
            &crate::maintenance::erasure::Subject::Visitor("away".into()),
        )?;
        assert_eq!(
            store.cookie_ids("demo", "away", d)?,
            0,
            "erased with its visitor"
        );
        store.daily_salt(d + 1)?;
        assert_eq!(
            store.cookie_ids("demo", "home", d)?,
            2,
            "yesterday's is kept"
        );
        store.daily_salt(d + 2)?;
        assert_eq!(
            store.cookie_ids("demo", "home", d)?,
            0,
            "then deleted with the salts"
        );
        Ok(())
    }

    #[test]
    fn fingerprint_observations_go_with_their_salt() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let d = day();
        store.insert_events(&[with(1, "a", observed())])?;
        store.daily_salt(d + 1)?;
        assert_eq!(
            store
                .identity_memory("demo", None, FP, d)?
                .behind_fingerprint,
            ["a"]
        );
        store.daily_salt(d + 2)?;
        assert!(
            store
                .identity_memory("demo", None, FP, d)?
                .behind_fingerprint
                .is_empty()
        );
        Ok(())
    }

    /// A link recorded again (every event of a logged-in visitor) is looked up by its pair,
    /// not by either end's links: a login's visitor may have thousands.
    #[test]
    fn a_link_is_looked_up_by_its_two_ends() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let conn = store.reader();
        for sql in std::iter::once(LINK_ONCE).chain(VERIFY) {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
            let unbound = vec![rusqlite::types::Null; stmt.parameter_count()];
            let plan: Vec<String> = stmt
                .query_map(params_from_iter(unbound), |r| r.get(3))?
                .collect::<Result<_, _>>()?;
            let searches: Vec<&String> = plan.iter().filter(|s| s.contains("links")).collect();
            assert!(
                !searches.is_empty()
                    && searches
                        .iter()
                        .all(|s| s.starts_with("SEARCH") && s.contains("a=? AND b=?")),
                "{sql}: {plan:?}"
            );
        }
        Ok(())
    }

    fn fail(e: impl std::fmt::Display) -> proptest::test_runner::TestCaseError {
        proptest::test_runner::TestCaseError::fail(e.to_string())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// The persons the store keeps at write time, link by link (`visitor_persons`,
        /// `person_stretches`, `person_sets` and the count), are the rule's over the links
        /// it stored, and what `rebuild-reports` replays from them: whatever the order of
        /// logins, id links, inferred links and undone links, two users are never one
        /// person.
        #[test]
        fn write_time_persons_follow_the_rule(
            steps in proptest::collection::vec((0u8..5, 0u8..7, 0u8..4), 1..25),
        ) {
            let store = SqliteStore::open_in_memory().map_err(fail)?;
            for (i, (visitor, other, what)) in steps.iter().enumerate() {
                let v = format!("v{visitor}");
                let link = match what {
                    0 => new_link(&v, &format!("{USER_PREFIX}u{}", other % 3), LinkKind::Login),
                    1 => new_link(&format!("v{}", other % 5), &v, LinkKind::ClientId),
                    2 => new_link(&format!("v{}", other % 5), &v, LinkKind::Recovery),
                    _ => {
                        // Undo a link recorded so far (a split), if there is one.
                        let all = links(&store.reader(), "demo").map_err(fail)?;
                        if let Some(l) = all.get(usize::from(*other) % all.len().max(1)) {
                            store.deactivate_link(l.id).map_err(fail)?;
                        }
                        new_link(&format!("v{}", other % 5), &v, LinkKind::ClientId)
                    }
                };
                let e = Event {
                    received: 1_780_000_000_000 + i as i64,
                    ..with(i as u128 + 1, &v, IdentityEffects {
                        links: vec![link],
                        ..IdentityEffects::default()
                    })
                };
                store.insert_events(&[e]).map_err(fail)?;
            }
            let all = links(&store.reader(), "demo").map_err(fail)?;
            let visitors: Vec<String> = (0..5)
                .map(|n| format!("v{n}"))
                .filter(|v| steps.iter().any(|(x, ..)| format!("v{x}") == *v))
                .collect();
            for mode in [Mode::Strict, Mode::Inclusive] {
                let rule = Persons::from_links(&all, mode);
                let users: Vec<String> = (0..3).map(|u| format!("{USER_PREFIX}u{u}")).collect();
                for u in &users {
                    for w in &users {
                        proptest::prop_assert!(u == w || rule.person_of(u) != rule.person_of(w));
                    }
                }
                let stored = store.summary("demo", mode).map_err(fail)?.persons;
                proptest::prop_assert_eq!(
                    stored,
                    rule.count(visitors.iter().map(String::as_str)) as u64
                );
                let m = super::super::reports::persons::mode_str(mode);
                // After `summary`: the store's reader is one connection behind a lock.
                let conn = store.reader();
                for v in &visitors {
                    let kept: Option<String> = conn
                        .query_row(
                            "SELECT person FROM visitor_persons
                             WHERE site = 'demo' AND mode = ?1 AND visitor = ?2",
                            params![m, v],
                            |r| r.get(0),
                        )
                        .optional()
                        .map_err(fail)?;
                    // A visitor alone in its person has no row and is named by itself.
                    if let Some(kept) = &kept {
                        proptest::prop_assert_eq!(kept.as_str(), rule.person_of(v));
                    }
                    for w in &visitors {
                        let together = |x: &str, y: &str| rule.person_of(x) == rule.person_of(y);
                        let stored_together: bool = conn
                            .query_row(
                                "SELECT coalesce((SELECT person FROM visitor_persons
                                     WHERE site = 'demo' AND mode = ?1 AND visitor = ?2), ?2)
                                  = coalesce((SELECT person FROM visitor_persons
                                     WHERE site = 'demo' AND mode = ?1 AND visitor = ?3), ?3)",
                                params![m, v, w],
                                |r| r.get(0),
                            )
                            .map_err(fail)?;
                        proptest::prop_assert_eq!(stored_together, together(v, w));
                    }
                    let stretches: Vec<(i64, String)> = conn
                        .prepare(
                            "SELECT from_ms, person FROM person_stretches
                             WHERE site = 'demo' AND mode = ?1 AND visitor = ?2 ORDER BY from_ms",
                        )
                        .and_then(|mut st| {
                            st.query_map(params![m, v], |r| Ok((r.get(0)?, r.get(1)?)))?
                                .collect::<Result<Vec<_>, _>>()
                        })
                        .map_err(fail)?;
                    let expected: Vec<(i64, String)> = rule
                        .stretches(v)
                        .iter()
                        .map(|s| (s.from_ms, s.person.clone()))
                        .collect();
                    proptest::prop_assert_eq!(stretches, expected);
                }
                // Each set of two or more nodes, with its size and user.
                let mut sets: std::collections::BTreeMap<String, (i64, Option<String>)> =
                    std::collections::BTreeMap::new();
                let nodes: BTreeSet<&String> = all.iter().flat_map(|l| [&l.a, &l.b]).collect();
                for n in nodes {
                    let set = sets.entry(rule.person_of(n).to_string()).or_default();
                    set.0 += 1;
                    if n.starts_with(USER_PREFIX) {
                        set.1 = Some(n.clone());
                    }
                }
                sets.retain(|_, (nodes, _)| *nodes > 1);
                let stored: std::collections::BTreeMap<String, (i64, Option<String>)> = conn
                    .prepare("SELECT person, nodes, user FROM person_sets WHERE mode = ?1")
                    .and_then(|mut st| {
                        st.query_map([m], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?
                            .collect::<Result<_, _>>()
                    })
                    .map_err(fail)?;
                proptest::prop_assert_eq!(stored, sets);
            }
            let kept = |store: &SqliteStore| -> Result<Vec<String>, StoreError> {
                Ok(store
                    .reader()
                    .prepare(
                        "SELECT 'vp ' || mode || ' ' || visitor || ' ' || person FROM visitor_persons
                         UNION ALL SELECT 'ps ' || mode || ' ' || visitor || ' ' || from_ms
                             || ' ' || person FROM person_stretches
                         UNION ALL SELECT 'set ' || mode || ' ' || person || ' ' || nodes
                             || ' ' || coalesce(user, '-') FROM person_sets
                         ORDER BY 1",
                    )?
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<_, _>>()?)
            };
            let before = kept(&store).map_err(fail)?;
            store.rebuild_reports().map_err(fail)?;
            proptest::prop_assert_eq!(before, kept(&store).map_err(fail)?);
        }
    }
}
