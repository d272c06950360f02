//! The hits a funnel is evaluated from, read through the step indexes
//! (`events_pageview_path`, `events_custom_name`) of `event_rows`, each person numbered
//! from its visitors' dictionary ids ([`Persons`]). A first step counts only inside the range
//! ([`funnel::evaluate`](crate::reports::funnel::evaluate) starts no attempt outside it),
//! so its hits are read only there.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;

use rusqlite::{Connection, params};

use super::exact;
use crate::reports::funnel::Step;
use crate::reports::{FunnelHit, ReportQuery};
use crate::store::StoreError;
use crate::store::sqlite::dict::{id_key, id_text};
use crate::store::sqlite::row;

/// Maps and sets keyed by person numbers (a month's funnel looks up millions).
type Fast = foldhash::fast::RandomState;

/// Numbers the persons of one answer without reading a string per hit: a visitor on its
/// own is its dictionary id (see [`dict`](crate::store::sqlite::dict)), a visitor in a
/// person of two or more the 64-bit hash of the person's id with the top bit set (ids are
/// below 2^63, so the two never meet). Two persons share a number only if their ids
/// collide in 64 bits (for a million persons, a chance of about 3 in 100 million).
struct Persons {
    /// visitor's dictionary id → person, for visitors in a person of two or more.
    of_visitor: HashMap<i64, u64, Fast>,
}

impl Persons {
    fn new(conn: &Connection, q: &ReportQuery) -> Result<Persons, StoreError> {
        let hasher = foldhash::fast::FixedState::with_seed(0x5eed);
        let mut stmt = conn.prepare_cached(concat!(
            "SELECT s.id, vp.person FROM visitor_persons vp
                 JOIN strings s ON s.value = ",
            id_key!("vp.visitor"),
            "
             WHERE vp.site = ?1 AND vp.mode = ?2"
        ))?;
        let mut of_visitor = HashMap::default();
        let mut rows = stmt.query(params![q.site, super::persons::mode_str(q.mode)])?;
        while let Some(r) = rows.next()? {
            let person = r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
            of_visitor.insert(r.get(0)?, hasher.hash_one(person) | 1 << 63);
        }
        Ok(Persons { of_visitor })
    }

    /// The number of the person of the visitor with dictionary id `visitor`.
    fn who(&self, visitor: i64) -> u64 {
        self.of_visitor
            .get(&visitor)
            .copied()
            .unwrap_or(visitor.unsigned_abs())
    }
}

/// What reading any step needs: the persons' numbers and, when the query has filters,
/// the sessions that pass them. Built once, shared by the reads of the steps.
pub(super) struct Context {
    persons: Persons,
    sessions: Option<HashSet<String>>,
}

impl Context {
    pub(super) fn new(conn: &Connection, q: &ReportQuery) -> Result<Context, StoreError> {
        Ok(Context {
            persons: Persons::new(conn, q)?,
            sessions: if q.filters.is_empty() {
                None
            } else {
                Some(exact::session_ids(conn, q)?)
            },
        })
    }
}

/// The hits of the steps numbered `which` that can count in the funnel of `steps` over
/// `q`'s range with `window_ms`.
pub(super) fn hits(
    conn: &Connection,
    q: &ReportQuery,
    cx: &Context,
    steps: &[Step],
    which: std::ops::Range<usize>,
    window_ms: i64,
) -> Result<Vec<FunnelHit>, StoreError> {
    let (start, end) = (q.range.start_ms(), q.range.end_ms());
    let mut hits = Vec::new();
    for (i, step) in steps.iter().enumerate().take(which.end).skip(which.start) {
        // A first step counts only inside the range; later ones up to the window past it.
        let to = if i == 0 {
            end
        } else {
            end.saturating_add(window_ms)
        };
        each_hit(conn, q, step, start, to, &cx.sessions, |visitor, ts| {
            hits.push(FunnelHit {
                who: cx.persons.who(visitor),
                ts,
                step: i,
            });
        })?;
    }
    Ok(hits)
}

/// Calls `f(visitor, ts)` for each event of `step` in `[from, to)` (of the allowed
/// sessions, when the query has filters), with the visitor's dictionary id.
fn each_hit(
    conn: &Connection,
    q: &ReportQuery,
    step: &Step,
    from: i64,
    to: i64,
    sessions: &Option<HashSet<String>>,
    mut f: impl FnMut(i64, i64),
) -> Result<(), StoreError> {
    // Built from constants only: the step's value is bound.
    // On `event_rows` itself, with the kind's code: the partial covering index is only
    // used when the query names its condition (see `row`).
    let (index, kind, column, value) = match step {
        Step::Page(p) => ("events_pageview_path", row::PAGEVIEW, "path", p),
        Step::Event(e) => ("events_custom_name", row::CUSTOM, "name", e),
    };
    let (session, session_join) = if sessions.is_some() {
        (
            concat!(", ", id_text!("s.id")),
            "LEFT JOIN session_rows s ON s.rowid = e.session_id",
        )
    } else {
        ("", "")
    };
    let sql = format!(
        "SELECT e.visitor, e.ts{session} FROM event_rows e INDEXED BY {index} {session_join}
         WHERE e.site = (SELECT id FROM strings WHERE value = ?1) AND e.kind = {kind}
           AND e.{column} = (SELECT id FROM strings WHERE value = ?2)
           AND e.ts >= ?3 AND e.ts < ?4"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![q.site, value, from, to])?;
    while let Some(r) = rows.next()? {
        if let Some(allowed) = sessions {
            let id = r
                .get_ref(2)?
                .as_str_or_null()
                .map_err(rusqlite::Error::from)?;
            if !id.is_some_and(|id| allowed.contains(id)) {
                continue;
            }
        }
        f(r.get(0)?, r.get(1)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::graph::Mode;
    use crate::reports::Filters;
    use crate::reports::funnel::evaluate;
    use crate::reports::generate::{Spec, generate};
    use crate::reports::range::{DAY_MS, HOUR_MS, Range};
    use crate::store::sqlite::SqliteStore;

    /// Every hit of every step, by brute force over the events of the range and window.
    fn every_hit(
        conn: &Connection,
        q: &ReportQuery,
        steps: &[Step],
        window_ms: i64,
    ) -> Result<Vec<FunnelHit>, StoreError> {
        let of_visitor = exact::person_map(conn, q)?;
        let allowed = (!q.filters.is_empty())
            .then(|| exact::session_ids(conn, q))
            .transpose()?;
        let mut ids: HashMap<String, u64> = HashMap::new();
        let mut stmt = conn.prepare(
            "SELECT visitor, ts, session_id, kind, path, name FROM events
             WHERE site = ?1 AND ts >= ?2 AND ts < ?3",
        )?;
        let mut rows = stmt.query(params![
            q.site,
            q.range.start_ms(),
            q.range.end_ms() + window_ms
        ])?;
        let mut hits = Vec::new();
        while let Some(r) = rows.next()? {
            let (visitor, ts, session, kind, path, name): (
                String,
                i64,
                Option<String>,
                String,
                String,
                Option<String>,
            ) = (
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            );
            if let Some(allowed) = &allowed {
                if !session.is_some_and(|s| allowed.contains(&s)) {
                    continue;
                }
            }
            let person = of_visitor.get(&visitor).cloned().unwrap_or(visitor);
            let n = ids.len() as u64;
            let who = *ids.entry(person).or_insert(n);
            for (step, s) in steps.iter().enumerate() {
                let matches = match s {
                    Step::Page(p) => kind == "pageview" && &path == p,
                    Step::Event(e) => kind == "custom" && name.as_ref() == Some(e),
                };
                if matches {
                    hits.push(FunnelHit { who, ts, step });
                }
            }
        }
        Ok(hits)
    }

    #[test]
    fn hits_evaluate_as_every_hit_does() -> Result<(), StoreError> {
        // A file, so the store has its two readers and reads the steps on both at once.
        let dir = tempfile::tempdir().map_err(|source| StoreError::Io {
            path: "tmp".into(),
            source,
        })?;
        let store = SqliteStore::open(&dir.path().join("spoor.db"))?;
        let end_ms = 20_600 * DAY_MS + 20 * HOUR_MS;
        let spec = Spec {
            site: "demo".into(),
            events: 30_000,
            days: 4,
            end_ms,
            seed: 7,
            batch: 5_000,
        };
        generate(&store, &spec, |_| {})?;
        let funnels: [&[Step]; 3] = [
            &[
                Step::Page("/".into()),
                Step::Page("/pricing".into()),
                Step::Event("signup".into()),
            ],
            &[Step::Page("/pricing".into()), Step::Page("/".into())],
            &[
                Step::Page("/blog".into()),
                Step::Page("/docs".into()),
                Step::Page("/pricing".into()),
            ],
        ];
        let mobile = Filters {
            device: Some("mobile".into()),
            ..Filters::default()
        };
        let mut fewer = 0;
        for steps in funnels {
            for window in [60_000, HOUR_MS, DAY_MS] {
                for (mode, filters) in [
                    (Mode::Inclusive, Filters::default()),
                    (Mode::Strict, Filters::default()),
                    (Mode::Inclusive, mobile.clone()),
                ] {
                    let q = ReportQuery {
                        mode,
                        filters,
                        ..ReportQuery::new(
                            "demo",
                            Range {
                                from: 20_598,
                                to: 20_599,
                            },
                        )
                    };
                    let (start, end) = (q.range.start_ms(), q.range.end_ms());
                    let few = store.funnel_hits(&q, steps, window)?;
                    let all = every_hit(&store.reader(), &q, steps, window)?;
                    fewer += all.len() - few.len();
                    let from_few = evaluate(steps, few, start, end, window);
                    let from_all = evaluate(steps, all, start, end, window);
                    assert_eq!(from_few, from_all, "{steps:?} {window} {mode:?}");
                    assert!(from_all[0].persons > 0, "{steps:?}: nobody in the funnel");
                }
            }
        }
        assert!(fewer > 0, "first steps past the range are not read");
        Ok(())
    }
}
