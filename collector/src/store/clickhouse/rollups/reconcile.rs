//! The rollups of a day made exact again from its events.
//!
//! ClickHouse has no transaction across tables: a call cut off after its events and
//! before its rollups (a collector killed mid-call, a replica lost between the two
//! inserts) leaves events the rollups never counted, and its retry finds them stored
//! (see [`rollups`](super)). [`ClickHouseStore::reconcile_day`] works out one site's
//! UTC day again from the events stored, with the writer's own accumulator
//! ([`Rollups`]): every event of the day (its hour, page, event, link and property rows,
//! and its transition from the `prev_path` the writer stored with it), every session that
//! started that day (grouped by its stored `session`, with the definitions of the
//! sessions of the reports and of [`settle`](super::settle)), and its entry and exit
//! visitors. It then reads what the rollups hold for that day and appends the difference
//! as one more batch of signed changes, and every visitor again (a sketch ignores a
//! visitor it has): no row is deleted, so a report read meanwhile is never short of a day.
//!
//! It is exact for a day no write touches while it runs: the counts it reads could
//! otherwise include a call's rollups but not its events, or the reverse, and the
//! difference would carry that call twice or not at all. A day is reconciled once its
//! sessions are over: by one collector an hour into the next day
//! ([`ClickHouseStore::reconcile_closed`], from each collector's minutely task), or on
//! demand (`SPOOR_STORE=clickhouse:… spoor-collector rebuild-reports --site S --from D
//! --to D`, which the cluster test runs after its load); a later late event is added by
//! the writer as usual.
//! Sessions are taken as if their events had arrived in time order (equal times in order
//! of arrival), which is how the writer saw them unless a late event reached it after a
//! later one: then only the exit page or first page views of that session can differ.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::super::ClickHouseStore;
use super::super::client::quote;
use super::super::sink::{Latest, VisitorSession};
use crate::event::Props;
use crate::reports::range::{DAY_MS, HOUR_MS, date};
use crate::session::ENGAGED_VISIBLE_MS;
use crate::store::StoreError;
use crate::store::rollup::{Counted, Delta, Rollups};

/// What a reconciliation found and changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reconciled {
    /// The site.
    pub site: String,
    /// The UTC day reconciled (`YYYY-MM-DD`).
    pub day: String,
    /// Events stored that day.
    pub events: u64,
    /// Sessions that started that day.
    pub sessions: u64,
    /// Rollup rows whose counters were off, now corrected.
    pub corrected: u64,
}

/// An event of the day, as the rollups count it.
#[derive(Deserialize)]
struct EventRow {
    visitor: String,
    ts: i64,
    kind: String,
    path: String,
    name: String,
    props: String,
    target: String,
    prev_path: String,
}

/// A rollup row as stored, summed.
#[derive(Deserialize)]
struct CountRow {
    dim: String,
    bucket: i64,
    key: String,
    pageviews: i64,
    events: i64,
    sessions: i64,
    bounces: i64,
    duration_ms: i64,
}

/// The rollups' own name of a stored dimension (`None` for one they never write).
fn dim(name: &str) -> Option<&'static str> {
    const DIMS: [&str; 15] = [
        "page",
        "entry",
        "exit",
        "source",
        "source_class",
        "campaign",
        "browser",
        "os",
        "device",
        "country",
        "event",
        "event_property",
        "outbound",
        "download",
        "transition",
    ];
    DIMS.into_iter().find(|d| *d == name)
}

/// How far into a UTC day the day before is reconciled on its own: its sessions are over,
/// and beacons kept offline for a while have been sent.
pub const CLOSED_AFTER_MS: i64 = HOUR_MS;

impl ClickHouseStore {
    /// Reconciles yesterday (by `now_ms`, UTC), every site of it, once
    /// [`CLOSED_AFTER_MS`] into today, by one collector: each collector's minutely task
    /// asks; the one whose claim is chosen (as a salt is, the earliest candidate once no
    /// earlier one can land) runs it and marks the day `reconciled` in `rollup_marks`.
    /// Returns what it did (`None`: not due, done, or another collector's). A run that
    /// fails is taken up by the same collector at its next; one that dies in the middle
    /// leaves the day to `rebuild-reports`.
    pub async fn reconcile_closed(
        &self,
        now_ms: i64,
    ) -> Result<Option<Vec<Reconciled>>, StoreError> {
        let today = now_ms.div_euclid(DAY_MS);
        let day = today - 1;
        if now_ms - today * DAY_MS < CLOSED_AFTER_MS || self.reconciled(day).await? {
            return Ok(None);
        }
        let claim = self.inner.claim;
        let chosen = self
            .chosen_or_create("reconcile", &day.to_string(), &claim)
            .await?;
        if chosen != claim {
            return Ok(None);
        }
        #[derive(Deserialize)]
        struct Site {
            site: String,
        }
        let first_hour = day * (DAY_MS / HOUR_MS);
        let sites: Vec<Site> = self
            .client()
            .rows(
                format!(
                    "SELECT DISTINCT site FROM {} WHERE day = '{}' \
                     UNION ALL SELECT DISTINCT site FROM {} WHERE dim = 'hour' \
                         AND bucket >= {first_hour} AND bucket < {}",
                    self.table("events"),
                    date(day),
                    self.table("report_counts"),
                    first_hour + DAY_MS / HOUR_MS
                ),
                &[],
            )
            .await?;
        let sites: std::collections::BTreeSet<String> = sites.into_iter().map(|s| s.site).collect();
        let mut done = Vec::with_capacity(sites.len());
        for site in sites {
            done.push(self.reconcile_day(&site, day).await?);
        }
        self.client()
            .command(
                format!(
                    "INSERT INTO {} (name, at) VALUES ('reconciled', {day})",
                    self.table("rollup_marks")
                ),
                &self.state_settings(),
            )
            .await?;
        Ok(Some(done))
    }

    /// Whether `day` was reconciled on its own.
    async fn reconciled(&self, day: i64) -> Result<bool, StoreError> {
        #[derive(Deserialize)]
        struct Marks {
            n: u64,
        }
        let rows: Vec<Marks> = self
            .client()
            .rows(
                format!(
                    "SELECT count() AS n FROM {} WHERE name = 'reconciled' AND at = {day}",
                    self.table("rollup_marks")
                ),
                &self.consistent_read(),
            )
            .await?;
        Ok(rows.first().is_some_and(|m| m.n > 0))
    }

    /// Makes the rollups of `site`'s UTC `day` (a Unix day number) equal what its stored
    /// events give (see the module docs for when that is exact).
    pub async fn reconcile_day(&self, site: &str, day: i64) -> Result<Reconciled, StoreError> {
        let mut exact: Rollups<HashSet<String>> = Rollups::default();
        let events = self.count_events(site, day, &mut exact).await?;
        let sessions = self.count_sessions(site, day, &mut exact).await?;
        let stored = self.stored_counts(site, day).await?;
        let mut fix = difference(site, &exact, stored);
        let corrected = (fix.hours.len() + fix.keys.len() + fix.flows.len()) as u64;
        // Every visitor again: what a sketch has already changes nothing.
        for (k, d) in exact.hours {
            fix.hours.entry(k).or_default().visitors = d.visitors;
        }
        for (k, d) in exact.keys {
            fix.keys.entry(k).or_default().visitors = d.visitors;
        }
        let batch = u64::from_le_bytes(crate::store::random_bytes::<8>()?);
        self.write_rollups(fix, batch).await?;
        Ok(Reconciled {
            site: site.to_string(),
            day: date(day),
            events,
            sessions,
            corrected,
        })
    }

    /// Counts every event of the day into `into`; returns how many.
    async fn count_events(
        &self,
        site: &str,
        day: i64,
        into: &mut Rollups<HashSet<String>>,
    ) -> Result<u64, StoreError> {
        let rows: Vec<EventRow> = self
            .client()
            .rows(
                format!(
                    "SELECT visitor, ts, kind, path, name, props, target, prev_path FROM {} \
                     WHERE site = {} AND day = '{}' LIMIT 1 BY id",
                    self.table("events"),
                    quote(site),
                    date(day)
                ),
                &[],
            )
            .await?;
        for e in &rows {
            let props = Props::from_json(&e.props);
            into.counted(
                &Counted {
                    site,
                    visitor: &e.visitor,
                    ts: e.ts,
                    kind: &e.kind,
                    path: &e.path,
                    name: (!e.name.is_empty()).then_some(e.name.as_str()),
                    props: props.as_ref(),
                    target: (!e.target.is_empty()).then_some(e.target.as_str()),
                },
                (!e.prev_path.is_empty()).then_some(e.prev_path.as_str()),
            );
        }
        Ok(rows.len() as u64)
    }

    /// Counts every session that started on the day into `into`, with its entry and exit
    /// visitors; returns how many.
    async fn count_sessions(
        &self,
        site: &str,
        day: i64,
        into: &mut Rollups<HashSet<String>>,
    ) -> Result<u64, StoreError> {
        let events = self.table("events");
        let site_q = quote(site);
        // A session lasts at most a local day: its events lie within a day either side.
        let (before, on, after) = (date(day - 1), date(day), date(day + 1));
        let rows: Vec<VisitorSession> = self
            .client()
            .rows(
                format!(
                    "SELECT {site_q} AS site, any(visitor) AS visitor, sid AS session, \
                         min(ts) AS start_ts, max(ts) AS last_ts, toInt64(0) AS day, \
                         argMin(path, (ts, received)) AS entry_path, \
                         argMax(path, (ts, received)) AS exit_path, \
                         argMaxIf(path, (ts, received), kind = 'pageview') AS last_page, \
                         toUInt32(countIf(kind = 'pageview')) AS pageviews, \
                         toUInt32(count()) AS events, \
                         toUInt8(max(kind IN ('custom', 'outbound', 'download') \
                             OR (kind = 'engagement' AND visible_ms >= {ENGAGED_VISIBLE_MS}))) AS engaged, \
                         anyIf(utm_source, starts = 1) AS utm_source, \
                         anyIf(utm_medium, starts = 1) AS utm_medium, \
                         anyIf(utm_campaign, starts = 1) AS utm_campaign, \
                         anyIf(source, starts = 1) AS source, \
                         anyIf(source_class, starts = 1) AS source_class, \
                         anyIf(browser, starts = 1) AS browser, \
                         anyIf(os, starts = 1) AS os, \
                         anyIf(device, starts = 1) AS device, \
                         anyIf(country, starts = 1) AS country, \
                         arrayMap(p -> p.3, arraySlice(arraySort( \
                             groupArrayIf((ts, received, path), kind = 'pageview')), 1, 5)) AS flow, \
                         emptyArrayUInt32() AS flow_after \
                     FROM (SELECT visitor, toString(session) AS sid, ts, received, path, kind, \
                             visible_ms, starts, utm_source, utm_medium, utm_campaign, source, \
                             source_class, browser, os, device, country \
                           FROM {events} WHERE site = {site_q} AND day >= '{before}' AND day <= '{after}' \
                             AND session IN (SELECT session FROM {events} \
                                 WHERE site = {site_q} AND day = '{on}') \
                           LIMIT 1 BY id) \
                     GROUP BY sid HAVING intDiv(start_ts, {DAY_MS}) = {day}"
                ),
                &[],
            )
            .await?;
        for r in &rows {
            let mut latest = Latest::from_row(r)?;
            latest.session.day = self.rules().zone.day_of(r.start_ts);
            let key = (r.site.clone(), r.visitor.clone());
            into.session(&latest.state(&key), 1);
            let (session, facts) = (&latest.session, &latest.facts);
            let exit = facts.last_page.as_deref().unwrap_or(&session.exit_path);
            into.settled(site, day, &r.visitor, &session.entry_path, exit);
        }
        Ok(rows.len() as u64)
    }

    /// What the rollups hold for the day, summed per row.
    async fn stored_counts(&self, site: &str, day: i64) -> Result<Vec<CountRow>, StoreError> {
        let first_hour = day * (DAY_MS / HOUR_MS);
        let end_hour = first_hour + DAY_MS / HOUR_MS;
        self.client()
            .rows(
                format!(
                    "SELECT dim, bucket, key, sum(pageviews) AS pageviews, sum(events) AS events, \
                         sum(sessions) AS sessions, sum(bounces) AS bounces, \
                         sum(duration_ms) AS duration_ms \
                     FROM {} WHERE site = {} AND ((dim = 'hour' AND bucket >= {first_hour} \
                         AND bucket < {end_hour}) OR (dim != 'hour' AND bucket = {day})) \
                     GROUP BY dim, bucket, key",
                    self.table("report_counts"),
                    quote(site)
                ),
                &[],
            )
            .await
    }
}

/// The counter changes that make `stored` equal `exact` (no visitors).
fn difference(
    site: &str,
    exact: &Rollups<HashSet<String>>,
    stored: Vec<CountRow>,
) -> Rollups<HashSet<String>> {
    let mut fix: Rollups<HashSet<String>> = Rollups::default();
    let mut stored_hours: HashMap<i64, CountRow> = HashMap::new();
    let mut stored_keys: HashMap<(&'static str, i64, String), CountRow> = HashMap::new();
    let mut stored_flows: HashMap<(i64, String), i64> = HashMap::new();
    for row in stored {
        match row.dim.as_str() {
            "hour" => {
                stored_hours.insert(row.bucket, row);
            }
            "flow" => {
                stored_flows.insert((row.bucket, row.key), row.sessions);
            }
            other => {
                if let Some(d) = dim(other) {
                    stored_keys.insert((d, row.bucket, row.key.clone()), row);
                }
            }
        }
    }
    let changed = |want: Option<&Delta<HashSet<String>>>, have: Option<&CountRow>| {
        let w = |f: fn(&Delta<HashSet<String>>) -> i64| want.map_or(0, f);
        let h = |f: fn(&CountRow) -> i64| have.map_or(0, f);
        let d: Delta<HashSet<String>> = Delta {
            pageviews: w(|d| d.pageviews) - h(|r| r.pageviews),
            events: w(|d| d.events) - h(|r| r.events),
            sessions: w(|d| d.sessions) - h(|r| r.sessions),
            bounces: w(|d| d.bounces) - h(|r| r.bounces),
            duration_ms: w(|d| d.duration_ms) - h(|r| r.duration_ms),
            visitors: None,
        };
        (!d.is_empty()).then_some(d)
    };
    for ((site, hour), want) in &exact.hours {
        if let Some(d) = changed(Some(want), stored_hours.remove(hour).as_ref()) {
            fix.hours.insert((site.clone(), *hour), d);
        }
    }
    for ((site, dim, day, key), want) in &exact.keys {
        let have = stored_keys.remove(&(*dim, *day, key.clone()));
        if let Some(d) = changed(Some(want), have.as_ref()) {
            fix.keys.insert((site.clone(), dim, *day, key.clone()), d);
        }
    }
    for ((site, day, flow), want) in &exact.flows {
        let have = stored_flows.remove(&(*day, flow.clone())).unwrap_or(0);
        if *want != have {
            fix.flows
                .insert((site.clone(), *day, flow.clone()), want - have);
        }
    }
    // Rows the rollups hold that the events do not: taken back.
    for (hour, have) in stored_hours {
        if let Some(d) = changed(None, Some(&have)) {
            fix.hours.insert((site.to_string(), hour), d);
        }
    }
    for ((dim, day, key), have) in stored_keys {
        if let Some(d) = changed(None, Some(&have)) {
            fix.keys.insert((site.to_string(), dim, day, key), d);
        }
    }
    for ((day, flow), have) in stored_flows {
        if have != 0 {
            fix.flows.insert((site.to_string(), day, flow), -have);
        }
    }
    fix
}
