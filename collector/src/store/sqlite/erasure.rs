//! The SQL of [`Maintenance::export`](crate::store::Maintenance::export) and
//! [`Maintenance::erase`](crate::store::Maintenance::erase): which ids a [`Subject`] covers, and the
//! rows of each table that are about them. Id lists are bound as one JSON array
//! (`json_each`), so a person of any size is one statement per table.

use std::collections::BTreeSet;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, params};

use super::dict::id_key;
use super::identity::component_links;
use crate::identity::graph::{Mode, Persons};
use crate::identity::resolver::USER_PREFIX;
use crate::maintenance::erasure::{Erased, Subject, SubjectExport};
use crate::store::StoreError;

/// Events counted for one of the visitors, or sent with one of them as the beacon's id:
/// two index lookups (`(site, visitor)`, and the partial `(site, client_id)` of events whose
/// beacon id is not their visitor), not a scan of the site's events. The ids are looked up
/// in `strings` first (see [`dict`](super::dict)); rows are read and deleted through the
/// `events` view.
const EVENTS: &str = concat!(
    "FROM events WHERE rowid IN (
         SELECT rowid FROM event_rows INDEXED BY events_site_visitor
         WHERE site = (SELECT id FROM strings WHERE value = ?1)
           AND visitor IN (SELECT s.id FROM json_each(?2) j JOIN strings s ON s.value = ",
    id_key!("j.value"),
    ")
         UNION
         SELECT rowid FROM event_rows INDEXED BY events_site_client_id
         WHERE site = (SELECT id FROM strings WHERE value = ?1)
           AND client_id IN (SELECT s.id FROM json_each(?2) j JOIN strings s ON s.value = ",
    id_key!("j.value"),
    ")
           AND client_id <> 0)"
);
/// The sessions, found like the events: by `(site, visitor)` on `session_rows` with the
/// ids looked up in `strings`, read through the `sessions` view and deleted from the table.
pub(super) const SESSIONS: &str = concat!(
    "FROM sessions WHERE rowid IN (
         SELECT rowid FROM session_rows INDEXED BY sessions_site_visitor_last
         WHERE site = (SELECT id FROM strings WHERE value = ?1)
           AND visitor IN (SELECT s.id FROM json_each(?2) j JOIN strings s ON s.value = ",
    id_key!("j.value"),
    "))"
);
const LINKS: &str = "FROM links WHERE site = ?1
     AND (a IN (SELECT value FROM json_each(?2)) OR b IN (SELECT value FROM json_each(?2)))";
/// Links between two of the ids: what an export by user id shows (a claim to be the user
/// from a visitor it does not cover is someone else's data).
const LINKS_WITHIN: &str = "FROM links WHERE site = ?1
     AND a IN (SELECT value FROM json_each(?2)) AND b IN (SELECT value FROM json_each(?2))";
const FINGERPRINTS: &str =
    "FROM fingerprint_seen WHERE site = ?1 AND visitor IN (SELECT value FROM json_each(?2))";
/// The identity guard's daily counters of the visitors (no event data; at most two days
/// old).
const COOKIE_IDS: &str =
    "FROM cookie_ids WHERE site = ?1 AND visitor IN (SELECT value FROM json_each(?2))";
/// Failed events whose raw JSON (possibly cut, so not parsed) holds one of the ids as a
/// string.
const FAILED: &str = "FROM failed_events WHERE site = ?1
     AND EXISTS (SELECT 1 FROM json_each(?2) WHERE instr(failed_events.raw, '\"' || value || '\"') > 0)";
/// The report's visitor → person rows of the visitors.
const PERSON_MAPPINGS: &str =
    "FROM visitor_persons WHERE site = ?1 AND visitor IN (SELECT value FROM json_each(?2))";
/// The time stretches of the visitors that were shared by two users.
const PERSON_STRETCHES: &str =
    "FROM person_stretches WHERE site = ?1 AND visitor IN (SELECT value FROM json_each(?2))";

/// The graph nodes `subject` covers on `site` (visitor ids and `user:` nodes), and the
/// evidence followed to reach them: the kinds of the links walked, a signed login as
/// `verified-login`.
fn nodes(
    conn: &Connection,
    site: &str,
    subject: &Subject,
) -> Result<(BTreeSet<String>, BTreeSet<String>), StoreError> {
    let start = match subject {
        Subject::Visitor(v) => return Ok((BTreeSet::from([v.clone()]), BTreeSet::new())),
        Subject::Person(v) => v.clone(),
        Subject::User(u) => return user_nodes(conn, site, u),
    };
    // Every link that can join `start` to anyone (reached through links of any kind).
    let all = component_links(conn, site, &start)?;
    let persons = Persons::from_links(&all, Mode::Inclusive);
    let me = persons.person_of(&start).to_string();
    let mut members = BTreeSet::from([start]);
    let mut evidence = BTreeSet::new();
    for l in &all {
        if l.active && persons.person_of(&l.a) == me {
            evidence.insert(l.kind.as_str().to_string());
        }
        for node in [&l.a, &l.b] {
            if persons.person_of(node) == me {
                members.insert(node.clone());
            }
        }
    }
    Ok((members, evidence))
}

/// The nodes of a site user id: the visitors whose login as it the site signed (even if
/// the link was undone since), and from them only the active links the collector itself
/// established ([`NewLink::verified`]). An unsigned `identify`, which anyone who knows
/// or picks a visitor id can send, never brings a visitor in, nor does a network
/// inference; another user's node is not entered.
///
/// [`NewLink::verified`]: crate::identity::resolver::NewLink::verified
fn user_nodes(
    conn: &Connection,
    site: &str,
    user: &str,
) -> Result<(BTreeSet<String>, BTreeSet<String>), StoreError> {
    let start = format!("{USER_PREFIX}{user}");
    let mut members = BTreeSet::from([start.clone()]);
    let mut evidence = BTreeSet::new();
    let mut queue: Vec<String> = Vec::new();
    let logins = conn
        .prepare_cached(
            "SELECT a FROM links WHERE site = ?1 AND b = ?2 AND kind = 'login' AND verified = 1
             UNION SELECT b FROM links WHERE site = ?1 AND a = ?2 AND kind = 'login' AND verified = 1",
        )?
        .query_map(params![site, start], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    for visitor in logins {
        evidence.insert("verified-login".to_string());
        if members.insert(visitor.clone()) {
            queue.push(visitor);
        }
    }
    let mut from = conn.prepare_cached(
        "SELECT b, kind FROM links WHERE site = ?1 AND a = ?2 AND verified = 1 AND active = 1
         UNION ALL
         SELECT a, kind FROM links WHERE site = ?1 AND b = ?2 AND verified = 1 AND active = 1",
    )?;
    while let Some(node) = queue.pop() {
        let ends = from
            .query_map(params![site, node], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        for (end, kind) in ends {
            if end.starts_with(USER_PREFIX) {
                continue;
            }
            evidence.insert(if kind == "login" {
                "verified-login".to_string()
            } else {
                kind
            });
            if members.insert(end.clone()) {
                queue.push(end);
            }
        }
    }
    Ok((members, evidence))
}

/// The ids as a JSON array for `json_each`.
fn json_ids<'a>(ids: impl IntoIterator<Item = &'a String>) -> String {
    serde_json::Value::from(ids.into_iter().cloned().collect::<Vec<_>>()).to_string()
}

/// Every row of `SELECT * {from} {order}` with `?1` = site and `?2` = ids, as JSON objects.
fn rows(
    conn: &Connection,
    from: &str,
    order: &str,
    site: &str,
    ids: &str,
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, StoreError> {
    let mut stmt = conn.prepare(&format!("SELECT * {from} {order}"))?;
    let names: Vec<String> = stmt.column_names().map(str::to_string).collect();
    let mut out = Vec::new();
    let mut rows = stmt.query(params![site, ids])?;
    while let Some(row) = rows.next()? {
        let mut object = serde_json::Map::new();
        for (i, name) in names.iter().enumerate() {
            if name == "rowid" {
                // The `events` view's row address, not data.
                continue;
            }
            let value = match row.get_ref(i)? {
                ValueRef::Null => serde_json::Value::Null,
                ValueRef::Integer(n) => n.into(),
                ValueRef::Real(x) => x.into(),
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
                ValueRef::Blob(b) => b
                    .iter()
                    .map(|x| format!("{x:02x}"))
                    .collect::<String>()
                    .into(),
            };
            object.insert(name.clone(), value);
        }
        out.push(object);
    }
    Ok(out)
}

/// Everything stored about `subject` on `site`.
pub(super) fn export(
    conn: &Connection,
    site: &str,
    subject: &Subject,
) -> Result<SubjectExport, StoreError> {
    let (members, evidence) = nodes(conn, site, subject)?;
    let (users, visitors): (Vec<String>, Vec<String>) = members
        .iter()
        .cloned()
        .partition(|m| m.starts_with(USER_PREFIX));
    let all = json_ids(&members);
    let only_visitors = json_ids(&visitors);
    Ok(SubjectExport {
        site: site.to_string(),
        events: rows(conn, EVENTS, "ORDER BY ts, id", site, &only_visitors)?,
        sessions: rows(
            conn,
            SESSIONS,
            "ORDER BY start_ts, id",
            site,
            &only_visitors,
        )?,
        links: rows(
            conn,
            if matches!(subject, Subject::User(_)) {
                LINKS_WITHIN
            } else {
                LINKS
            },
            "ORDER BY id",
            site,
            &all,
        )?,
        fingerprint_observations: rows(conn, FINGERPRINTS, "ORDER BY day", site, &only_visitors)?,
        failed_events: rows(conn, FAILED, "ORDER BY id", site, &only_visitors)?,
        users: users
            .into_iter()
            .map(|u| u[USER_PREFIX.len()..].to_string())
            .collect(),
        visitors,
        evidence: evidence.into_iter().collect(),
    })
}

/// Deletes everything about `subject` on `site` in one transaction.
pub(super) fn erase(
    conn: &mut Connection,
    site: &str,
    subject: &Subject,
) -> Result<Erased, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let (members, evidence) = nodes(&tx, site, subject)?;
    let all = json_ids(&members);
    let only_visitors = json_ids(members.iter().filter(|m| !m.starts_with(USER_PREFIX)));
    // The other ends of the subject's links: their persons change once the links are gone.
    let neighbours: Vec<String> = {
        let mut stmt = tx.prepare(&format!("SELECT a, b {LINKS}"))?;
        let ends = stmt
            .query_map(params![site, all], |r| {
                Ok([r.get::<_, String>(0)?, r.get::<_, String>(1)?])
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut outside: BTreeSet<String> = ends.into_iter().flatten().collect();
        outside.retain(|n| !members.contains(n));
        outside.into_iter().collect()
    };
    let delete = |from: &str, ids: &str| tx.execute(&format!("DELETE {from}"), params![site, ids]);
    // Counters only, so not reported; but they name the visitor, so they go too.
    delete(COOKIE_IDS, &only_visitors)?;
    // The `identify` events that named the user from visitors it does not cover (an
    // unsigned claim): the events go, the claimant's other events stay.
    let claims = match subject {
        Subject::User(u) => tx.execute(
            "DELETE FROM event_rows WHERE site = (SELECT id FROM strings WHERE value = ?1)
                 AND user_id = (SELECT id FROM strings WHERE value = ?2)",
            params![site, u],
        )?,
        _ => 0,
    };
    // From `event_rows` itself: a delete through the view's trigger counts no changes.
    let events = format!("FROM event_rows WHERE rowid IN (SELECT rowid {EVENTS})");
    let sessions = format!("FROM session_rows WHERE rowid IN (SELECT rowid {SESSIONS})");
    let erased = Erased {
        events: delete(&events, &only_visitors)? + claims,
        sessions: delete(&sessions, &only_visitors)?,
        links: delete(LINKS, &all)?,
        fingerprint_observations: delete(FINGERPRINTS, &only_visitors)?,
        failed_events: delete(FAILED, &only_visitors)?,
        person_mappings: delete(PERSON_MAPPINGS, &only_visitors)?
            + delete(PERSON_STRETCHES, &only_visitors)?,
        evidence: evidence.into_iter().collect(),
    };
    // The sets named by an erased id or holding an erased user (the neighbours' are
    // written again by the relink).
    for sql in [
        "DELETE FROM person_sets WHERE site = ?1 AND mode IN ('inclusive', 'strict')
             AND person IN (SELECT value FROM json_each(?2))",
        "DELETE FROM person_sets INDEXED BY person_sets_user
             WHERE site = ?1 AND mode IN ('inclusive', 'strict')
               AND user IN (SELECT value FROM json_each(?2))",
    ] {
        tx.execute(sql, params![site, all])?;
    }
    let neighbours: Vec<&str> = neighbours.iter().map(String::as_str).collect();
    super::reports::persons::relink(&tx, site, &neighbours)?;
    // The strings only the erased events held (a unique path, a title, the visitor id).
    super::dict::sweep(&tx)?;
    tx.commit()?;
    Ok(erased)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, EventKind};
    use crate::identity::graph::LinkKind;
    use crate::identity::resolver::NewLink;
    use crate::maintenance::erasure::Subject;
    use crate::store::sqlite::SqliteStore;
    use crate::store::sqlite::tests::event;

    /// An event counted for `visitor` (the server cookie's) but sent with `beacon_id`.
    fn sent_as(id: u128, visitor: &str, beacon_id: &str) -> Event {
        let mut e = event(id, visitor, "s");
        e.client.client_id = Some(beacon_id.into());
        e
    }

    #[test]
    fn a_visitor_covers_the_events_sent_with_its_beacon_id_and_a_user_its_logins()
    -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        // z's login as u9 was signed; w's was only claimed.
        let login = |id: u128, visitor: &str, verified: bool| {
            let mut e = event(id, visitor, "s");
            e.client.kind = EventKind::Identify { user: "u9".into() };
            e.identity.links.push(NewLink {
                a: visitor.into(),
                b: "user:u9".into(),
                kind: LinkKind::Login,
                confidence: 1.0,
                verified,
            });
            e
        };
        store.insert_events(&[
            event(1, "x", "s"),
            sent_as(2, "x", "y"),
            event(3, "y", "s"),
            login(4, "z", true),
            event(5, "other", "s"),
            login(6, "w", false),
            event(7, "w", "s"),
        ])?;
        let ids = |export: SubjectExport| -> Vec<String> {
            export
                .events
                .iter()
                .filter_map(|e| e.get("id").and_then(|v| v.as_str()).map(str::to_string))
                .collect()
        };
        let y = store.export("demo", &Subject::Visitor("y".into()))?;
        assert_eq!(
            ids(y),
            [
                uuid::Uuid::from_u128(2).to_string(),
                uuid::Uuid::from_u128(3).to_string()
            ],
            "y's own event and the one sent with y's beacon id under x's cookie"
        );
        let user = store.export("demo", &Subject::User("u9".into()))?;
        assert_eq!(
            user.visitors,
            ["z"],
            "the visitor whose login as u9 was signed"
        );
        assert_eq!(user.evidence, ["verified-login"]);
        let erased = store.erase("demo", &Subject::User("u9".into()))?;
        assert_eq!(
            erased.events, 2,
            "z's login, and w's claim to be u9 (not w's other events)"
        );
        let w = store.export("demo", &Subject::Visitor("w".into()))?;
        assert_eq!(ids(w), [uuid::Uuid::from_u128(7).to_string()]);
        let erased = store.erase("demo", &Subject::Visitor("y".into()))?;
        assert_eq!(erased.events, 2);
        let left = ids(store.export("demo", &Subject::Visitor("x".into()))?);
        assert_eq!(left, [uuid::Uuid::from_u128(1).to_string()]);
        Ok(())
    }

    /// The dictionary keeps each string once for every row that holds it; an erasure
    /// deletes the strings only the erased rows held, and (with `secure_delete` and the
    /// checkpoint) no page of the files keeps them. The report rollups keep a path as an
    /// aggregate key (`report_keys`), so the path is checked in the tables, the referrer
    /// URL (rolled up only as its host) in the files too.
    #[test]
    fn an_erasure_deletes_the_strings_only_the_erased_rows_held() -> Result<(), StoreError> {
        const PATH: &str = "/only-x-7d1f";
        const REFERRER: &str = "https://ref.example/only-x-ref-3c9a";
        let dir = tempfile::tempdir().map_err(|source| StoreError::Io {
            path: "tmp".into(),
            source,
        })?;
        let db = dir.path().join("spoor.db");
        let store = SqliteStore::open(&db)?;
        let mut mine = event(1, "x-5e2b", "s");
        mine.client.path = PATH.into();
        mine.client.url = format!("https://example.com{PATH}");
        mine.client.referrer = Some(REFERRER.into());
        store.insert_events(&[mine, event(2, "y", "s"), event(3, "x-5e2b", "s")])?;
        let strings = |like: &str| -> Result<i64, StoreError> {
            Ok(store.reader().query_row(
                "SELECT count(*) FROM strings WHERE value LIKE ?1",
                [like],
                |r| r.get(0),
            )?)
        };
        // The session's entry path is the path's string; its flow (`/only-x-7d1f\n/a`) is
        // a string of its own.
        assert_eq!(
            strings("%only-x%")?,
            3,
            "the path, the referrer and the session's flow"
        );
        let erased = store.erase("demo", &Subject::Visitor("x-5e2b".into()))?;
        assert_eq!(erased.events, 2);
        assert_eq!(strings("%only-x%")?, 0);
        assert_eq!(strings("x-5e2b")?, 0, "nor the visitor id");
        assert_eq!(strings("/a")?, 1, "y's page stays");
        let events: Vec<String> = store
            .reader()
            .prepare("SELECT visitor || ' ' || path FROM events")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        assert_eq!(events, ["y /a"]);
        drop(store);
        for suffix in ["", "-wal", "-shm"] {
            let file = format!("{}{suffix}", db.display());
            let bytes = std::fs::read(&file).unwrap_or_default();
            let needle = b"only-x-ref-3c9a";
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{file} holds the referrer"
            );
        }
        Ok(())
    }
}
