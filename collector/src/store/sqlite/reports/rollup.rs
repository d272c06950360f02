//! Rollups kept at write time: what each stored event and each changed session adds to
//! `report_hours` (per site and hour), `report_keys` (per site, dimension, day and key)
//! and `report_flows` (sessions per site, day and first page views), accumulated over one
//! insert transaction and written once per touched row.
//!
//! A session counts in the hour and day it started. When an event changes a session
//! (its exit page, its page views, its bounce), the session's old contribution is taken
//! back and its new one added, so the rollups always equal the sessions table. Visitor
//! sketches only grow (a sketch cannot forget), so the entry and exit rows, whose key a
//! session can leave (a later page view moves its exit, a late one its entry), take a
//! session's visitor only once the session is settled ([`Rollups::settled`], see
//! [`settle`](super::settle)), and no rollup overcounts a visitor.
//! Flows (`report_flows`) and transitions keep no sketch: their reports count sessions
//! and page views only.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, Transaction, params};

use crate::enrich::{agent, source};
use crate::event::{Event, EventKind, PropValue, Props};
use crate::reports::hll::Hll;
use crate::reports::range::{DAY_MS, HOUR_MS};
use crate::session::Session;
use crate::store::StoreError;

/// Page views a session remembers for flows.
pub(in crate::store::sqlite) const FLOW_PAGES: usize = 5;

/// What a session is beyond the sessionizer's state: decided when it starts (source,
/// browser…) or followed as it goes (its latest page view, its first page views).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(in crate::store::sqlite) struct SessionFacts {
    pub source: Option<String>,
    pub source_class: Option<String>,
    pub browser: Option<String>,
    pub os: Option<String>,
    pub device: Option<String>,
    pub country: Option<String>,
    /// Path of the latest page view.
    pub last_page: Option<String>,
    /// Paths of the first page views (at most [`FLOW_PAGES`]).
    pub flow: Vec<String>,
}

impl SessionFacts {
    /// The facts of a session started by `e`.
    pub(in crate::store::sqlite) fn start(e: &Event) -> SessionFacts {
        let c = &e.client;
        SessionFacts::first(
            c.referrer.as_deref(),
            c.utm.source.as_deref(),
            &c.hostname,
            c.context.agent,
            c.context.country.clone(),
        )
    }

    /// The facts of a session whose first event came from `referrer` with `utm_source`
    /// on `hostname`, from a browser classified as `agent` (`None`: no `User-Agent`).
    pub(in crate::store::sqlite) fn first(
        referrer: Option<&str>,
        utm_source: Option<&str>,
        hostname: &str,
        agent: Option<agent::Agent>,
        country: Option<String>,
    ) -> SessionFacts {
        let (src, class) = source::classify(referrer, utm_source, hostname);
        let agent = agent.unwrap_or_else(|| agent::classify(""));
        SessionFacts {
            source: Some(src),
            source_class: Some(class.to_string()),
            browser: Some(agent.browser.to_string()),
            os: Some(agent.os.to_string()),
            device: Some(agent.device.to_string()),
            country,
            last_page: None,
            flow: Vec::new(),
        }
    }

    /// Takes in a stored event of the session.
    pub(in crate::store::sqlite) fn add(&mut self, e: &Event) {
        if matches!(e.client.kind, EventKind::Pageview) {
            self.add_page(&e.client.path);
        }
    }

    /// Takes in a page view of `path`, the session's latest so far.
    pub(in crate::store::sqlite) fn add_page(&mut self, path: &str) {
        self.last_page = Some(path.to_string());
        if self.flow.len() < FLOW_PAGES {
            self.flow.push(path.to_string());
        }
    }

    /// The `flow` column.
    pub(in crate::store::sqlite) fn flow_text(&self) -> Option<String> {
        (!self.flow.is_empty()).then(|| self.flow.join("\n"))
    }

    /// From the `flow` column.
    pub(in crate::store::sqlite) fn flow_from(text: Option<String>) -> Vec<String> {
        text.map(|t| t.split('\n').map(str::to_string).collect())
            .unwrap_or_default()
    }
}

/// Counter changes of one rollup row, and the visitors to add to its sketch.
#[derive(Default)]
struct Delta {
    pageviews: i64,
    events: i64,
    sessions: i64,
    bounces: i64,
    duration_ms: i64,
    visitors: Option<Hll>,
}

impl Delta {
    fn visitor(&mut self, v: &str) {
        self.visitors.get_or_insert_with(Hll::new).add(v);
    }
}

/// The rollup changes of one transaction.
#[derive(Default)]
pub(in crate::store::sqlite) struct Rollups {
    hours: HashMap<(String, i64), Delta>,
    keys: HashMap<(String, &'static str, i64, String), Delta>,
    /// Sessions per (site, day, flow).
    flows: HashMap<(String, i64, String), i64>,
}

/// What the rollups read of one stored event: its columns, as an [`Event`] fills them
/// on insert and as an older file holds them (the backfill reads them back).
pub(in crate::store::sqlite) struct Counted<'a> {
    /// The site.
    pub site: &'a str,
    /// The resolved visitor id.
    pub visitor: &'a str,
    /// Client time, Unix ms.
    pub ts: i64,
    /// The stored kind (`pageview`, `custom`…, see [`EventKind::as_str`]).
    pub kind: &'a str,
    /// The page's path.
    pub path: &'a str,
    /// A custom event's name.
    pub name: Option<&'a str>,
    /// A custom event's properties.
    pub props: Option<&'a Props>,
    /// An outbound or download link's target.
    pub target: Option<&'a str>,
}

/// A session's contribution: `sign` is +1 to add it, -1 to take it back.
pub(in crate::store::sqlite) struct SessionState<'a> {
    pub site: &'a str,
    pub visitor: &'a str,
    pub session: &'a Session,
    pub facts: &'a SessionFacts,
}

impl Rollups {
    fn key(&mut self, site: &str, dim: &'static str, day: i64, key: &str) -> &mut Delta {
        self.keys
            .entry((site.to_string(), dim, day, key.to_string()))
            .or_default()
    }

    /// A stored event; `prev_page` is the page viewed before it in its session.
    pub(in crate::store::sqlite) fn event(&mut self, e: &Event, prev_page: Option<&str>) {
        let c = &e.client;
        let (name, props, target) = match &c.kind {
            EventKind::Custom(custom) => (Some(custom.name.as_str()), custom.props.as_ref(), None),
            EventKind::Outbound { target } | EventKind::Download { target } => {
                (None, None, Some(target.as_str()))
            }
            _ => (None, None, None),
        };
        self.counted(
            &Counted {
                site: &e.site,
                visitor: &e.visitor,
                ts: c.ts,
                kind: c.kind.as_str(),
                path: &c.path,
                name,
                props,
                target,
            },
            prev_page,
        );
    }

    /// An event as stored (see [`Counted`]); `prev_page` as for [`Rollups::event`].
    pub(in crate::store::sqlite) fn counted(&mut self, e: &Counted<'_>, prev_page: Option<&str>) {
        let pv = i64::from(e.kind == "pageview");
        let hour = self
            .hours
            .entry((e.site.to_string(), e.ts.div_euclid(HOUR_MS)))
            .or_default();
        hour.pageviews += pv;
        hour.events += 1;
        hour.visitor(e.visitor);
        let day = e.ts.div_euclid(DAY_MS);
        let page = self.key(e.site, "page", day, e.path);
        page.pageviews += pv;
        page.events += 1;
        page.visitor(e.visitor);
        let count = |rollups: &mut Rollups, dim: &'static str, key: &str| {
            let d = rollups.key(e.site, dim, day, key);
            d.events += 1;
            d.visitor(e.visitor);
        };
        match (e.kind, e.name, e.target) {
            ("pageview", _, _) => {
                let key = format!("{}\n{}", prev_page.unwrap_or("(entrance)"), e.path);
                self.key(e.site, "transition", day, &key).pageviews += 1;
            }
            ("custom", Some(name), _) => {
                count(self, "event", name);
                for (k, v) in e.props.iter().flat_map(|p| &p.0) {
                    let key = format!("{name}\n{k}\n{}", prop_text(v));
                    count(self, "event_property", &key);
                }
            }
            ("outbound", _, Some(target)) => count(self, "outbound", target),
            ("download", _, Some(target)) => count(self, "download", target),
            _ => {}
        }
    }

    /// A session's contribution, added (`sign` 1) or taken back (`sign` -1).
    pub(in crate::store::sqlite) fn session(&mut self, s: &SessionState<'_>, sign: i64) {
        let x = s.session;
        let hour = self
            .hours
            .entry((s.site.to_string(), x.start_ts.div_euclid(HOUR_MS)))
            .or_default();
        hour.sessions += sign;
        hour.bounces += sign * i64::from(x.bounce());
        hour.duration_ms += sign * x.duration_ms();
        let day = x.start_ts.div_euclid(DAY_MS);
        let f = s.facts;
        let exit = f.last_page.as_deref().unwrap_or(&x.exit_path);
        if let Some(flow) = f.flow_text() {
            *self
                .flows
                .entry((s.site.to_string(), day, flow))
                .or_default() += sign;
        }
        let keys: [(&'static str, Option<&str>); 9] = [
            ("entry", Some(&x.entry_path)),
            ("exit", Some(exit)),
            ("source", f.source.as_deref()),
            ("source_class", f.source_class.as_deref()),
            ("campaign", x.campaign.campaign.as_deref()),
            ("browser", f.browser.as_deref()),
            ("os", f.os.as_deref()),
            ("device", f.device.as_deref()),
            ("country", f.country.as_deref()),
        ];
        for (dim, key) in keys {
            let Some(key) = key else { continue };
            let d = self.key(s.site, dim, day, key);
            d.sessions += sign;
            d.pageviews += sign * i64::from(x.pageviews);
            d.events += sign * i64::from(x.events);
            if sign > 0 && !matches!(dim, "entry" | "exit") {
                d.visitor(s.visitor);
            }
        }
    }

    /// A settled session's visitor, added to the sketches of its `entry` and `exit` rows
    /// of `day` (their counters came with the session, see [`Rollups::session`]).
    pub(in crate::store::sqlite) fn settled(
        &mut self,
        site: &str,
        day: i64,
        visitor: &str,
        entry: &str,
        exit: &str,
    ) {
        self.key(site, "entry", day, entry).visitor(visitor);
        self.key(site, "exit", day, exit).visitor(visitor);
    }

    /// Writes every touched row.
    pub(in crate::store::sqlite) fn flush(self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        let mut read_hour =
            tx.prepare_cached("SELECT visitors FROM report_hours WHERE site = ?1 AND hour = ?2")?;
        let mut write_hour = tx.prepare_cached(
            "INSERT INTO report_hours (site, hour, pageviews, events, sessions, bounces,
                 duration_ms, visitors)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (site, hour) DO UPDATE SET
                 pageviews = pageviews + excluded.pageviews, events = events + excluded.events,
                 sessions = sessions + excluded.sessions, bounces = bounces + excluded.bounces,
                 duration_ms = duration_ms + excluded.duration_ms,
                 visitors = coalesce(excluded.visitors, visitors)",
        )?;
        for ((site, hour), d) in self.hours {
            let sketch = merged(&mut read_hour, params![site, hour], d.visitors)?;
            write_hour.execute(params![
                site,
                hour,
                d.pageviews,
                d.events,
                d.sessions,
                d.bounces,
                d.duration_ms,
                sketch
            ])?;
        }
        let mut read_key = tx.prepare_cached(
            "SELECT visitors FROM report_keys WHERE site = ?1 AND dim = ?2 AND day = ?3 AND key = ?4",
        )?;
        let mut write_key = tx.prepare_cached(
            "INSERT INTO report_keys (site, dim, day, key, pageviews, events, sessions, visitors)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (site, dim, day, key) DO UPDATE SET
                 pageviews = pageviews + excluded.pageviews, events = events + excluded.events,
                 sessions = sessions + excluded.sessions,
                 visitors = coalesce(excluded.visitors, visitors)",
        )?;
        for ((site, dim, day, key), d) in self.keys {
            if d.visitors.is_none() && d.pageviews == 0 && d.events == 0 && d.sessions == 0 {
                continue;
            }
            let sketch = merged(&mut read_key, params![site, dim, day, key], d.visitors)?;
            write_key.execute(params![
                site,
                dim,
                day,
                key,
                d.pageviews,
                d.events,
                d.sessions,
                sketch
            ])?;
        }
        let mut write_flow = tx.prepare_cached(
            "INSERT INTO report_flows (site, day, key, sessions) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (site, day, key) DO UPDATE SET sessions = sessions + excluded.sessions",
        )?;
        // A flow a session has moved on from (its next page view made it longer) may be
        // left with no session.
        let mut drop_empty = tx.prepare_cached(
            "DELETE FROM report_flows WHERE site = ?1 AND day = ?2 AND key = ?3 AND sessions <= 0",
        )?;
        for ((site, day, key), n) in self.flows {
            if n == 0 {
                continue;
            }
            write_flow.execute(params![site, day, key, n])?;
            if n < 0 {
                drop_empty.execute(params![site, day, key])?;
            }
        }
        Ok(())
    }
}

/// The stored sketch merged with `new` (None when there is nothing new to add).
fn merged(
    read: &mut rusqlite::CachedStatement<'_>,
    key: impl rusqlite::Params,
    new: Option<Hll>,
) -> Result<Option<Vec<u8>>, StoreError> {
    let Some(mut new) = new else { return Ok(None) };
    let stored: Option<Option<Vec<u8>>> = read.query_row(key, |r| r.get(0)).optional()?;
    if let Some(bytes) = stored.flatten() {
        new.merge(&Hll::from_bytes(&bytes));
    }
    Ok(Some(new.to_bytes()))
}

/// A property value as a breakdown key: text as is, numbers and booleans as JSON.
pub(in crate::store::sqlite) fn prop_text(v: &PropValue) -> String {
    match v {
        PropValue::Text(s) => s.clone(),
        PropValue::Number(n) => n.to_string(),
        PropValue::Bool(b) => b.to_string(),
    }
}
