//! Funnels: the events that match each step (the first only inside the range, later ones
//! up to the window past it), each with its person as a number, reduced per person on the
//! server to the hits [`funnel::evaluate`](crate::reports::funnel::evaluate) can use; and
//! the saved funnels (the `funnels` table, newest version of each name).
//!
//! **The reduction.** `evaluate` sorts a person's hits by time, then step (one event that
//! matches two steps is a hit of each), and counts the most steps any attempt completes: an
//! attempt starts at a first-step hit in the range and takes, step after step, the earliest
//! hit of the next step that follows, while within the window of its start. Of a person's
//! hits, in that order, the query keeps
//!
//! - a first-step hit when the next hit of step 0 or 1 after it is of step 1, and the
//!   person's earliest first-step hit;
//! - a hit of step `k ≥ 1` when the previous hit of step `k - 1` or `k` before it is of
//!   step `k - 1`;
//!
//! and nothing of a person without a first-step hit (who reaches no step). This is exact.
//! Fewer hits never complete more steps. And whatever the best attempt completes, from
//! start `s` with hits `h1, h2, …`, the attempt from the last first-step hit `s'` before
//! `h1` completes as much with the same `h1, h2, …` (it starts no earlier, so its window
//! ends no earlier), and its hits are kept: nothing of step 0 or 1 lies between `s'` and
//! `h1` (`s'` is the last step 0 before `h1`, and `h1` the earliest step 1 after `s`), and
//! each `hk` is the earliest of its step after `h(k-1)`, so the hit just before it of step
//! `k - 1` or `k` is of step `k - 1`. A person who completes one step keeps its earliest.
//!
//! Each hit is packed into one number for that, its time from the range's start times 16
//! plus its step (at most [`MAX_STEPS`](crate::reports::funnel::MAX_STEPS), below 15): the
//! numbers sort as `evaluate` sorts the hits, and the answer is one row per person.
//!
//! ClickHouse's `windowFunnel` would answer each person's step count, but not as
//! `evaluate` does: on 18.16 its times are `UInt32` (seconds), an event matching two steps
//! counts for one, and hits of the same time are taken in the order they are read.

use serde::{Deserialize, Serialize};

use super::super::ClickHouseStore;
use super::super::client::{quote, quote_list};
use super::sessions::{ONE_PERSON, PERSON_AT_ARRIVAL, events_between};
use crate::identity::graph::Mode;
use crate::reports::funnel::{FunnelDef, Step};
use crate::reports::{FunnelHit, ReportQuery};
use crate::store::StoreError;

/// A person's kept hits as the query answers them: each its time from the range's start
/// times [`PACK`] plus its step.
#[derive(Deserialize)]
struct Kept {
    who: u64,
    hits: Vec<u64>,
}

/// The factor of a hit's time in its packed number (above every step and the sentinel).
const PACK: u64 = 16;

/// A step no hit has, which pads the arrays the reduction compares element by element.
const NO_STEP: u64 = PACK - 1;

// Every step fits below the sentinel.
const _: () = assert!(crate::reports::funnel::MAX_STEPS < NO_STEP as usize);

/// A saved funnel's row.
#[derive(Serialize, Deserialize)]
struct Saved {
    site: String,
    name: String,
    def: String,
    version: u64,
}

/// The SQL of the kept hits (see the module docs) of `hs`, a person's packed hits
/// sorted, for `steps` steps, as column `hits`: those of step `j` are found in the array of
/// the hits of steps `j - 1` and `j`, each compared with its neighbour (the arrays end
/// with one [`NO_STEP`], so that the shifted copies compared have the same length).
fn kept(steps: usize) -> String {
    let pair = |j: usize| {
        format!(
            "arrayPushBack(arrayFilter(x -> x % {PACK} IN ({}, {}), hs), {NO_STEP}) AS a{j}",
            j.saturating_sub(1),
            j.max(1)
        )
    };
    let mut arrays = vec![pair(0)];
    let mut parts = vec![format!(
        "arrayFilter((x, next, firsts) -> x % {PACK} = 0 AND (next % {PACK} = 1 OR firsts = 1), \
             a0, arrayPushBack(arrayPopFront(a0), {NO_STEP}), \
             arrayCumSum(arrayMap(x -> x % {PACK} = 0, a0)))"
    )];
    for j in 1..steps {
        arrays.push(pair(j));
        parts.push(format!(
            "arrayFilter((x, prev) -> x % {PACK} = {j} AND prev % {PACK} = {}, \
                 a{j}, arrayPushFront(arrayPopBack(a{j}), {NO_STEP}))",
            j - 1
        ));
    }
    format!(
        "{}, arrayConcat({}) AS hits",
        arrays.join(", "),
        parts.join(", ")
    )
}

impl ClickHouseStore {
    /// [`ReportSource::funnel_hits`](crate::store::ReportSource::funnel_hits): one query
    /// for every step, which keeps of each person's hits those the module docs say; a
    /// person is numbered by the 64-bit hash of its id, its visitor's person at the
    /// event's arrival (see [`sessions`](super::sessions)).
    pub(super) async fn range_funnel_hits(
        &self,
        q: &ReportQuery,
        steps: &[Step],
        window_ms: i64,
    ) -> Result<Vec<FunnelHit>, StoreError> {
        if steps.is_empty() {
            return Ok(Vec::new());
        }
        let (start, end) = (q.range.start_ms(), q.range.end_ms());
        let later_end = end.saturating_add(window_ms.max(0));
        // An event matching two steps (the same page twice) is a hit of each.
        let mut arms = Vec::new();
        let (mut pages, mut names) = (Vec::new(), Vec::new());
        for (i, step) in steps.iter().enumerate() {
            let to = if i == 0 { end } else { later_end };
            let matches = match step {
                Step::Page(path) => {
                    pages.push(path.as_str());
                    format!("kind = 'pageview' AND path = {}", quote(path))
                }
                Step::Event(name) => {
                    names.push(name.as_str());
                    format!("kind = 'custom' AND name = {}", quote(name))
                }
            };
            arms.push(format!("if({matches} AND ts < {to}, {}, 0)", i + 1));
        }
        let hits = format!("arrayFilter(x -> x > 0, [{}])", arms.join(", "));
        // What can be a hit at all, read before the rest of the row.
        let mut can_hit = Vec::new();
        if !pages.is_empty() {
            can_hit.push(format!(
                "(kind = 'pageview' AND path IN {})",
                quote_list(pages)
            ));
        }
        if !names.is_empty() {
            can_hit.push(format!(
                "(kind = 'custom' AND name IN {})",
                quote_list(names)
            ));
        }
        let mut filter = format!(" AND ({})", can_hit.join(" OR "));
        if !q.filters.is_empty() {
            let sessions = self.sessions(q, super::sessions::Need::default()).await?;
            filter.push_str(&format!(
                " AND session IN (SELECT session FROM ({}))",
                sessions.sql()
            ));
        }
        // Every event read is at or after `start`: the packed times are not negative.
        let window = events_between(&q.site, start, later_end);
        let persons = self.persons_of_hits(&q.site, q.mode, &format!("{window}{filter}"), &hits);
        let kept = kept(steps.len());
        let sql = format!(
            "SELECT who, hits FROM (\
                 SELECT who, arraySort(groupArray(toUInt64(ts - {start}) * {PACK} + step)) AS hs, \
                     {kept} \
                 FROM ({persons}) \
                 GROUP BY who HAVING min(step) = 0)"
        );
        let rows: Vec<Kept> = self.client().rows(sql, &[]).await?;
        let mut out = Vec::with_capacity(rows.len());
        for person in rows {
            out.extend(person.hits.into_iter().map(|h| FunnelHit {
                who: person.who,
                ts: start.saturating_add_unsigned(h / PACK),
                step: usize::try_from(h % PACK).unwrap_or(usize::MAX),
            }));
        }
        Ok(out)
    }

    /// `who, ts, step` of every hit (`hits`: an array of the step numbers, from 1, each
    /// event of `cond` is a hit of), `who` the 64-bit hash of the event's visitor's
    /// person at its arrival. A visitor of one person all along (nearly every linked
    /// visitor) is mapped to it by `transform` over two constant arrays, those visitors
    /// and their persons; only the events of shared browsers (more than one stretch) are
    /// joined to their stretches, read by the events' primary key; every other visitor is
    /// its own person. (`transform` refuses empty arrays: both start with `''`, which maps
    /// to itself.)
    fn persons_of_hits(&self, site: &str, mode: Mode, cond: &str, hits: &str) -> String {
        let events = self.table("events");
        let stretches = self.stretches_of(site, mode);
        let shared = format!("SELECT visitor FROM ({stretches}) WHERE NOT ({ONE_PERSON})");
        let constant = |column: &str| {
            format!(
                "(SELECT arrayPushFront(groupArray({column}), '') FROM ({stretches}) \
                 WHERE {ONE_PERSON})"
            )
        };
        let (visitors, persons) = (constant("visitor"), constant("stretches[1].2"));
        format!(
            "SELECT cityHash64(transform(visitor, {visitors}, {persons}, visitor)) AS who, ts, \
                 toUInt64(s - 1) AS step \
             FROM (SELECT visitor, ts, arrayJoin({hits}) AS s FROM {events} \
                 WHERE {cond} AND visitor NOT IN ({shared})) \
             UNION ALL \
             SELECT cityHash64(person) AS who, ts, toUInt64(s - 1) AS step FROM (\
                 SELECT {PERSON_AT_ARRIVAL}, ts, s FROM (SELECT * FROM (\
                     SELECT visitor, ts, received, arrayJoin({hits}) AS s FROM {events} \
                     WHERE {cond} AND visitor IN ({shared})) \
                 ANY LEFT JOIN ({stretches}) USING visitor))"
        )
    }

    /// [`ReportSource::save_funnel`](crate::store::ReportSource::save_funnel): a new
    /// version of the name's row (the newest wins).
    pub(super) async fn store_funnel(
        &self,
        site: &str,
        funnel: &FunnelDef,
    ) -> Result<(), StoreError> {
        let def = serde_json::to_string(funnel).map_err(|e| StoreError::Task(e.to_string()))?;
        let version = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let row = Saved {
            site: site.to_string(),
            name: funnel.name.clone(),
            def,
            version,
        };
        self.client()
            .insert("funnels", &[row], &self.state_settings())
            .await
    }

    /// [`ReportSource::funnels`](crate::store::ReportSource::funnels), by name.
    pub(super) async fn saved_funnels(&self, site: &str) -> Result<Vec<FunnelDef>, StoreError> {
        #[derive(Deserialize)]
        struct Def {
            def: String,
        }
        let rows: Vec<Def> = self
            .client()
            .rows(
                format!(
                    "SELECT argMax(def, version) AS def FROM {} WHERE site = {} \
                     GROUP BY name ORDER BY name",
                    self.table("funnels"),
                    quote(site)
                ),
                &self.consistent_read(),
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|d| serde_json::from_str(&d.def).ok())
            .collect())
    }
}
