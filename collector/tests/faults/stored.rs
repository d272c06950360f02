//! The store as the tests read it: straight from the database file, after the collector
//! stopped.

use std::collections::HashSet;
use std::path::Path;

/// The store as read straight from the file after the collector stopped.
pub struct Stored {
    /// Every stored event id, with how many rows carry it.
    pub ids: Vec<(String, i64)>,
    pub integrity: String,
}

impl Stored {
    pub fn read(db: &Path) -> Stored {
        let conn =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        let mut stmt = conn
            .prepare("SELECT id, count(*) FROM events GROUP BY id")
            .unwrap();
        let ids = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        Stored { ids, integrity }
    }

    /// The file's size in pages.
    pub fn page_count(db: &Path) -> i64 {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap()
    }

    pub fn id_set(&self) -> HashSet<String> {
        self.ids.iter().map(|(id, _)| id.clone()).collect()
    }

    /// Asserts every id of `acked` is stored exactly once.
    pub fn assert_holds_once(&self, acked: &HashSet<String>) {
        assert!(
            self.ids.iter().all(|(_, n)| *n == 1),
            "an event id is stored twice"
        );
        let stored = self.id_set();
        let missing: Vec<_> = acked.difference(&stored).take(5).collect();
        assert!(
            missing.is_empty(),
            "{} acknowledged events are not stored, e.g. {missing:?}",
            acked.difference(&stored).count()
        );
    }
}

/// Asserts every derived row of the file at `db` counts exactly its committed events: each
/// session's event and page view counts, the hourly rollups' totals, and the persons kept
/// at write time (`visitor_persons`) against the rule over the stored links. A derived row
/// written apart from its events (a cache flushed after a crash, a rollup committed in
/// another transaction) shows here as a count off by the events it lost or gained.
pub fn assert_derived_match_events(db: &Path) {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let one = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        one("SELECT count(*) FROM sessions s
             WHERE s.events <> (SELECT count(*) FROM events e WHERE e.session_id = s.id)
                OR s.pageviews <> (SELECT count(*) FROM events e
                                   WHERE e.session_id = s.id AND e.kind = 'pageview')"),
        0,
        "sessions whose counts differ from their events"
    );
    assert_eq!(
        one("SELECT count(*) FROM events
             WHERE session_id IS NULL OR session_id NOT IN (SELECT id FROM sessions)"),
        0,
        "events without their session"
    );
    let totals = |sql: &str| -> (i64, i64, i64) {
        conn.query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
    };
    assert_eq!(
        totals(
            "SELECT coalesce(sum(events), 0), coalesce(sum(pageviews), 0),
                    coalesce(sum(sessions), 0) FROM report_hours"
        ),
        totals(
            "SELECT (SELECT count(*) FROM events),
                    (SELECT count(*) FROM events WHERE kind = 'pageview'),
                    (SELECT count(*) FROM sessions)"
        ),
        "hourly rollups (events, page views, sessions) against the rows"
    );
    use spoor_collector::identity::graph::{Link, LinkKind, Mode, Persons};
    let kinds = [
        LinkKind::ServerCookie,
        LinkKind::ClientId,
        LinkKind::Fingerprint,
        LinkKind::Login,
        LinkKind::Recovery,
    ];
    let links: Vec<Link> = conn
        .prepare("SELECT id, a, b, kind, confidence, at_ms, active FROM links")
        .unwrap()
        .query_map([], |r| {
            let kind: String = r.get(3)?;
            Ok(Link {
                id: r.get(0)?,
                a: r.get(1)?,
                b: r.get(2)?,
                kind: kinds
                    .into_iter()
                    .find(|k| k.as_str() == kind)
                    .unwrap_or(LinkKind::Fingerprint),
                confidence: r.get::<_, f64>(4)? as f32,
                at_ms: r.get(5)?,
                active: r.get(6)?,
            })
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (mode, name) in [(Mode::Inclusive, "inclusive"), (Mode::Strict, "strict")] {
        let rule = Persons::from_links(&links, mode);
        let rows: Vec<(String, String)> = conn
            .prepare(
                "SELECT visitor, person FROM visitor_persons WHERE site = 'demo' AND mode = ?1",
            )
            .unwrap()
            .query_map([name], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (visitor, person) in &rows {
            assert_eq!(
                person,
                rule.person_of(visitor),
                "{name}: person of {visitor}"
            );
        }
        let stored: std::collections::HashMap<&str, &str> =
            rows.iter().map(|(v, p)| (v.as_str(), p.as_str())).collect();
        let person_of = |v: &'_ str| -> String { stored.get(v).map_or(v, |p| *p).to_string() };
        for l in links.iter().filter(|l| l.active) {
            if l.a.starts_with("user:") || l.b.starts_with("user:") {
                continue;
            }
            assert_eq!(
                person_of(&l.a) == person_of(&l.b),
                rule.person_of(&l.a) == rule.person_of(&l.b),
                "{name}: link {} between {} and {}",
                l.id,
                l.a,
                l.b
            );
        }
    }
    eprintln!(
        "derived rows match: {} sessions, {} links, {} visitor_persons rows",
        one("SELECT count(*) FROM sessions"),
        links.len(),
        one("SELECT count(*) FROM visitor_persons")
    );
}
