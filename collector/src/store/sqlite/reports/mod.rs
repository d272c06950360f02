//! The SQLite answers to reports ([`ReportSource`](crate::store::ReportSource), run on
//! the blocking pool by `seam`): `rollup` keeps the rollups and `persons` the
//! visitor → person mapping at write time; `fast` reads the rollups (reports without a
//! filter), `exact` the range's sessions and events (filtered reports, counting by
//! persons, and the check of the rollups); `funnel` and real-time read events through
//! their indexes.

pub(super) mod exact;
pub(super) mod fast;
mod funnel;
pub(super) mod persons;
pub(super) mod rollup;
pub(super) mod settle;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};

use rusqlite::params;

use super::SqliteStore;
use crate::reports::funnel::{FunnelDef, Step};
use crate::reports::{
    CountBy, Counts, Dimension, FunnelHit, Interval, KeyCount, LogSession, Realtime, ReportQuery,
    Row,
};
use crate::store::{RawTransitions, StoreError};

/// Fallback page views per reason over `?2..?3` of site `?1`. Reads the partial index
/// `events_fallback`, which holds only them, so most sites pay nothing.
const FALLBACKS: &str = "SELECT (SELECT value FROM strings WHERE id = fallback) AS reason,
        count(*) AS n
    FROM event_rows
    WHERE site = (SELECT id FROM strings WHERE value = ?1) AND ts >= ?2 AND ts < ?3
      AND fallback IS NOT NULL
    GROUP BY fallback ORDER BY n DESC, reason";

/// Takes from each bucket's visitors those merged into another visitor's person there,
/// and adds the persons a shared browser's later stretches belong to.
fn subtract_merged(
    buckets: &mut [(i64, Counts)],
    merged: &[(String, String, i64)],
    bucket_ms: i64,
) {
    let Some(start) = buckets.first().map(|(t, _)| *t) else {
        return;
    };
    let mut per: HashMap<usize, (HashSet<&str>, HashSet<&str>)> = HashMap::new();
    for (person, visitor, ts) in merged {
        let i = usize::try_from(((*ts).max(start) - start) / bucket_ms).unwrap_or(0);
        let (visitors, persons) = per.entry(i.min(buckets.len() - 1)).or_default();
        visitors.insert(visitor);
        persons.insert(person);
    }
    for (i, (visitors, persons)) in per {
        if let Some((_, c)) = buckets.get_mut(i) {
            // More persons than visitors when a shared browser is split between users.
            c.persons = (c.visitors + persons.len() as u64).saturating_sub(visitors.len() as u64);
        }
    }
}

/// The synchronous answers, for the seam's [`ReportSource`](crate::store::ReportSource)
/// impl, SQLite's own tests and `devtools`' benchmark.
impl SqliteStore {
    /// Whether the rollups answer `q`: without a filter, counting visitors, unless this
    /// handle was made by [`SqliteStore::without_rollups`].
    fn uses_rollups(&self, q: &ReportQuery) -> bool {
        self.rollups && q.filters.is_empty() && q.count == CountBy::Visitors
    }

    /// [`ReportSource::fallbacks`](crate::store::ReportSource::fallbacks), here and now.
    pub fn fallbacks(&self, q: &ReportQuery) -> Result<Vec<(String, u64)>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(FALLBACKS)?;
        let rows = stmt
            .query_map(params![q.site, q.range.start_ms(), q.range.end_ms()], |r| {
                Ok((r.get(0)?, u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0)))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// [`ReportSource::sites`](crate::store::ReportSource::sites), here and now.
    pub fn sites(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.reader();
        let mut stmt =
            conn.prepare_cached("SELECT DISTINCT site FROM report_hours ORDER BY site")?;
        let sites = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(sites)
    }

    /// [`ReportSource::counts`](crate::store::ReportSource::counts), here and now.
    pub fn counts(&self, q: &ReportQuery) -> Result<Counts, StoreError> {
        let conn = self.reader();
        let whole = q.range.end_ms() - q.range.start_ms();
        let buckets = if self.uses_rollups(q) {
            // Visitors of a period are not the sum of its days': one bucket merges the
            // sketches of the whole range.
            let mut b: Vec<(i64, Counts)> = fast::series(&conn, q, whole)?
                .into_iter()
                .map(|(t, c, _)| (t, c))
                .collect();
            subtract_merged(&mut b, &exact::merged_visitors(&conn, q)?, whole);
            b
        } else {
            exact::counts(&conn, q, None)?
        };
        Ok(buckets
            .into_iter()
            .next()
            .map(|(_, c)| c)
            .unwrap_or_default())
    }

    /// [`ReportSource::counts_with_previous`](crate::store::ReportSource::counts_with_previous), here and now.
    pub fn counts_with_previous(&self, q: &ReportQuery) -> Result<(Counts, Counts), StoreError> {
        if !self.uses_rollups(q) {
            return Ok((
                self.counts(q)?,
                self.counts(&q.with_range(q.range.previous()))?,
            ));
        }
        // Both periods in one pass: two buckets over the doubled range, one lookup of the
        // merged visitors.
        let both = q.with_range(crate::reports::range::Range {
            from: q.range.previous().from,
            to: q.range.to,
        });
        let conn = self.reader();
        let length = q.range.end_ms() - q.range.start_ms();
        let mut b: Vec<(i64, Counts)> = fast::series(&conn, &both, length)?
            .into_iter()
            .map(|(t, c, _)| (t, c))
            .collect();
        subtract_merged(&mut b, &exact::merged_visitors(&conn, &both)?, length);
        let previous = b.first().map(|(_, c)| *c).unwrap_or_default();
        let current = b.get(1).map(|(_, c)| *c).unwrap_or_default();
        Ok((current, previous))
    }

    /// [`ReportSource::series`](crate::store::ReportSource::series), here and now.
    pub fn series(
        &self,
        q: &ReportQuery,
        interval: Interval,
    ) -> Result<Vec<(i64, Counts)>, StoreError> {
        let conn = self.reader();
        let bucket = interval.ms();
        if self.uses_rollups(q) {
            let mut out: Vec<(i64, Counts)> = fast::series(&conn, q, bucket)?
                .into_iter()
                .map(|(t, c, _)| (t, c))
                .collect();
            subtract_merged(&mut out, &exact::merged_visitors(&conn, q)?, bucket);
            return Ok(out);
        }
        let found: HashMap<i64, Counts> =
            exact::counts(&conn, q, Some(bucket))?.into_iter().collect();
        let start = q.range.start_ms();
        let n = (q.range.end_ms() - start) / bucket;
        Ok((0..n)
            .map(|i| {
                let t = start + i * bucket;
                (t, found.get(&t).copied().unwrap_or_default())
            })
            .collect())
    }

    /// [`ReportSource::breakdown`](crate::store::ReportSource::breakdown), here and now.
    pub fn breakdown(
        &self,
        q: &ReportQuery,
        dimension: &Dimension,
    ) -> Result<Vec<Row>, StoreError> {
        // Shares are over the period's visitors: from the merged sketches when the
        // rollups answer (persons are not needed, nor their correction).
        let total = if self.uses_rollups(q) {
            let conn = self.reader();
            let whole = q.range.end_ms() - q.range.start_ms();
            fast::series(&conn, q, whole)?
                .first()
                .map_or(0, |(_, c, _)| c.visitors)
        } else {
            let totals = self.counts(q)?;
            match q.count {
                CountBy::Visitors => totals.visitors,
                CountBy::Persons => totals.persons,
            }
        };
        let conn = self.reader();
        let rows = if self.uses_rollups(q) {
            match dimension {
                Dimension::EventProperty { event, property } => {
                    let prefix = format!("{event}\n{property}\n");
                    fast::keys(&conn, q, dimension.as_str(), Some(&prefix))?
                }
                Dimension::Entry | Dimension::Exit => {
                    // The settled sessions' sketches and the unsettled sessions (`settle`).
                    fast::pages(&conn, q, matches!(dimension, Dimension::Exit))?.0
                }
                _ => fast::keys(&conn, q, dimension.as_str(), None)?,
            }
        } else {
            exact::breakdown(&conn, q, dimension)?
        };
        Ok(Row::finish(rows, total, q.limit))
    }

    /// [`ReportSource::realtime`](crate::store::ReportSource::realtime), here and now.
    pub fn realtime(
        &self,
        site: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Realtime, StoreError> {
        let conn = self.reader();
        let visitors: i64 = conn
            .prepare_cached(
                "SELECT count(DISTINCT visitor) FROM event_rows INDEXED BY events_site_ts
                 WHERE site = (SELECT id FROM strings WHERE value = ?1) AND ts >= ?2 AND ts <= ?3",
            )?
            .query_row(params![site, since_ms, until_ms], |r| r.get(0))?;
        let mut stmt = conn.prepare_cached(
            "SELECT p.value, count(DISTINCT e.visitor) AS n
             FROM event_rows e INDEXED BY events_site_ts JOIN strings p ON p.id = e.path
             WHERE e.site = (SELECT id FROM strings WHERE value = ?1) AND e.ts >= ?2
               AND e.ts <= ?3 AND e.kind = 0
             GROUP BY e.path ORDER BY n DESC, p.value LIMIT 20",
        )?;
        let pages = stmt
            .query_map(params![site, since_ms, until_ms], |r| {
                Ok(KeyCount {
                    key: r.get(0)?,
                    visitors: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Realtime {
            visitors: u64::try_from(visitors).unwrap_or(0),
            pages,
        })
    }

    /// [`ReportSource::transitions`](crate::store::ReportSource::transitions), here and now.
    pub fn transitions(&self, q: &ReportQuery, page: &str) -> Result<RawTransitions, StoreError> {
        let conn = self.reader();
        if !self.uses_rollups(q) {
            return exact::transitions(&conn, q, page);
        }
        let all = fast::sums(&conn, q, "transition", "pageviews")?;
        let exits: u64 = fast::sums(&conn, q, "exit", "sessions")?
            .into_iter()
            .filter(|(k, _)| k == page)
            .map(|(_, n)| n)
            .sum();
        Ok(crate::store::rollup::transitions(all, exits, page))
    }

    /// [`ReportSource::flows`](crate::store::ReportSource::flows), here and now.
    pub fn flows(
        &self,
        q: &ReportQuery,
        steps: usize,
    ) -> Result<Vec<(Vec<String>, u64)>, StoreError> {
        let conn = self.reader();
        if !self.uses_rollups(q) {
            return exact::flows(&conn, q, steps);
        }
        Ok(fast::flows(&conn, q, steps)?
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(key, n)| (key.split('\n').map(str::to_string).collect(), n))
            .collect())
    }

    /// [`ReportSource::funnel_hits`](crate::store::ReportSource::funnel_hits), here and now.
    pub fn funnel_hits(
        &self,
        q: &ReportQuery,
        steps: &[Step],
        window_ms: i64,
    ) -> Result<Vec<FunnelHit>, StoreError> {
        let conn = self.reader();
        let cx = funnel::Context::new(&conn, q)?;
        // The first step (usually the site's busiest page) here and the later ones on a
        // spare reader at the same time, if there is one; each reads its own snapshot,
        // a few events apart at most.
        let (first, later) = std::thread::scope(|s| {
            let later = s.spawn(|| {
                self.spare_reader()
                    .map(|c| funnel::hits(&c, q, &cx, steps, 1..steps.len(), window_ms))
            });
            (
                funnel::hits(&conn, q, &cx, steps, 0..1, window_ms),
                later.join(),
            )
        });
        let mut hits = first?;
        match later {
            Ok(Some(later)) => hits.extend(later?),
            Ok(None) => hits.extend(funnel::hits(
                &conn,
                q,
                &cx,
                steps,
                1..steps.len(),
                window_ms,
            )?),
            Err(_) => return Err(StoreError::Task("a funnel step's read panicked".into())),
        }
        Ok(hits)
    }

    /// [`ReportSource::save_funnel`](crate::store::ReportSource::save_funnel), here and now.
    pub fn save_funnel(&self, site: &str, funnel: &FunnelDef) -> Result<(), StoreError> {
        let steps =
            serde_json::to_string(&funnel.steps).map_err(|e| StoreError::Task(e.to_string()))?;
        self.writer().execute(
            "INSERT INTO funnels (site, name, steps, window_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (site, name) DO UPDATE SET steps = excluded.steps,
                 window_ms = excluded.window_ms",
            params![site, funnel.name, steps, funnel.window_ms],
        )?;
        Ok(())
    }

    /// [`ReportSource::funnels`](crate::store::ReportSource::funnels), here and now.
    pub fn funnels(&self, site: &str) -> Result<Vec<FunnelDef>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT name, steps, window_ms FROM funnels WHERE site = ?1 ORDER BY name",
        )?;
        let rows = stmt
            .query_map([site], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows
            .into_iter()
            .map(|(name, steps, window_ms)| FunnelDef {
                name,
                steps: serde_json::from_str(&steps).unwrap_or_default(),
                window_ms,
            })
            .collect())
    }

    /// [`ReportSource::visitor_log`](crate::store::ReportSource::visitor_log), here and now.
    pub fn visitor_log(&self, q: &ReportQuery) -> Result<Vec<LogSession>, StoreError> {
        let conn = self.reader();
        exact::sessions(&conn, q)
    }
}
