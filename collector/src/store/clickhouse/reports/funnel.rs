//! Funnels: the events that match each step (the first only inside the range, later ones
//! up to the window past it), each with its person as a number, for
//! [`funnel::evaluate`](crate::reports::funnel::evaluate); and the saved funnels (the
//! `funnels` table, newest version of each name).

use serde::{Deserialize, Serialize};

use super::super::ClickHouseStore;
use super::super::client::quote;
use super::sessions::{PERSON_AT_ARRIVAL, events_between};
use crate::reports::funnel::{FunnelDef, Step};
use crate::reports::{FunnelHit, ReportQuery};
use crate::store::StoreError;

/// One hit as the query answers it.
#[derive(Deserialize)]
struct Hit {
    who: u64,
    ts: i64,
    step: usize,
}

/// A saved funnel's row.
#[derive(Serialize, Deserialize)]
struct Saved {
    site: String,
    name: String,
    def: String,
    version: u64,
}

impl ClickHouseStore {
    /// [`ReportSource::funnel_hits`](crate::store::ReportSource::funnel_hits): one query
    /// for every step; a person is numbered by the 64-bit hash of its id, its visitor's
    /// person at the event's arrival (see [`sessions`](super::sessions)).
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
        for (i, step) in steps.iter().enumerate() {
            let to = if i == 0 { end } else { later_end };
            let matches = match step {
                Step::Page(path) => format!("kind = 'pageview' AND path = {}", quote(path)),
                Step::Event(name) => format!("kind = 'custom' AND name = {}", quote(name)),
            };
            arms.push(format!("if({matches} AND ts < {to}, {}, 0)", i + 1));
        }
        let hits = format!("arrayFilter(x -> x > 0, [{}])", arms.join(", "));
        let mut filter = String::new();
        if !q.filters.is_empty() {
            let sessions = self.sessions(q, super::sessions::Need::default()).await?;
            filter = format!(" AND session IN (SELECT session FROM ({}))", sessions.sql());
        }
        let window = events_between(&q.site, start, later_end);
        let events = self.table("events");
        let stretches = self.stretches_of(&q.site, q.mode);
        let sql = format!(
            "SELECT {PERSON_AT_ARRIVAL}, cityHash64(person) AS who, ts, \
                 toUInt64(s - 1) AS step \
             FROM (SELECT * FROM (\
                 SELECT visitor, ts, received, arrayJoin({hits}) AS s FROM {events} \
                 WHERE {window} AND kind IN ('pageview', 'custom'){filter}) \
             ANY LEFT JOIN ({stretches}) USING visitor)"
        );
        let rows: Vec<Hit> = self.client().rows(sql, &[]).await?;
        Ok(rows
            .into_iter()
            .map(|h| FunnelHit {
                who: h.who,
                ts: h.ts,
                step: h.step,
            })
            .collect())
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
