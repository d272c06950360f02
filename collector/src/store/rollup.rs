//! Rollups kept at write time, whatever the store: what each stored event and each
//! changed session adds per site and hour (`hours`), per site, dimension, UTC day and key
//! (`keys`) and per site, day and first page views (`flows`), accumulated over one write
//! and handed to the store's own writer (SQLite's `report_*` tables,
//! [`sqlite::reports::rollup`](super::sqlite), ClickHouse's `report_counts` and
//! `report_visitors`, [`clickhouse::rollups`](super::clickhouse)).
//!
//! A session counts in the hour and day it started. When an event changes a session
//! (its exit page, its page views, its bounce), the session's old contribution is taken
//! back and its new one added, so the rollups always equal the sessions. Visitor sets
//! only grow (a sketch cannot forget), so the entry and exit rows, whose key a
//! session can leave (a later page view moves its exit, a late one its entry), take a
//! session's visitor only once the session is settled ([`Rollups::settled`]), and no
//! rollup overcounts a visitor. Flows and transitions keep no visitors: their reports
//! count sessions and page views only. What holds a row's visitors is the store's
//! ([`Visitors`]): a sketch on SQLite, the ids themselves where the store sketches them.

use std::collections::HashMap;

use crate::enrich::{agent, source};
use crate::event::{Event, EventKind, PropValue, Props};
use crate::reports::hll::Hll;
use crate::reports::range::{DAY_MS, HOUR_MS};
use crate::session::Session;

/// Page views a session remembers for flows.
pub const FLOW_PAGES: usize = 5;

/// What a session is beyond the sessionizer's state: decided when it starts (source,
/// browser…) or followed as it goes (its latest page view, its first page views).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFacts {
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
    pub fn start(e: &Event) -> SessionFacts {
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
    pub fn first(
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
    pub fn add(&mut self, e: &Event) {
        if matches!(e.client.kind, EventKind::Pageview) {
            self.add_page(&e.client.path);
        }
    }

    /// Takes in a page view of `path`, the session's latest so far.
    pub fn add_page(&mut self, path: &str) {
        self.last_page = Some(path.to_string());
        if self.flow.len() < FLOW_PAGES {
            self.flow.push(path.to_string());
        }
    }

    /// The `flow` column.
    pub fn flow_text(&self) -> Option<String> {
        (!self.flow.is_empty()).then(|| self.flow.join("\n"))
    }

    /// From the `flow` column.
    pub fn flow_from(text: Option<String>) -> Vec<String> {
        text.map(|t| t.split('\n').map(str::to_string).collect())
            .unwrap_or_default()
    }
}

/// What gathers a rollup row's visitors over one write.
pub trait Visitors: Default {
    /// Takes in a visitor id.
    fn add(&mut self, visitor: &str);
}

impl Visitors for Hll {
    fn add(&mut self, visitor: &str) {
        Hll::add(self, visitor);
    }
}

/// The ids themselves (for a store that sketches them itself).
impl Visitors for std::collections::HashSet<String> {
    fn add(&mut self, visitor: &str) {
        if !self.contains(visitor) {
            self.insert(visitor.to_string());
        }
    }
}

/// Counter changes of one rollup row, and the visitors to add to it.
pub struct Delta<V> {
    pub pageviews: i64,
    pub events: i64,
    pub sessions: i64,
    pub bounces: i64,
    pub duration_ms: i64,
    pub visitors: Option<V>,
}

impl<V> Default for Delta<V> {
    fn default() -> Self {
        Delta {
            pageviews: 0,
            events: 0,
            sessions: 0,
            bounces: 0,
            duration_ms: 0,
            visitors: None,
        }
    }
}

impl<V: Visitors> Delta<V> {
    fn visitor(&mut self, v: &str) {
        self.visitors.get_or_insert_with(V::default).add(v);
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.visitors.is_none()
            && self.pageviews == 0
            && self.events == 0
            && self.sessions == 0
            && self.bounces == 0
            && self.duration_ms == 0
    }
}

/// `(site, hour)`.
pub type HourKey = (String, i64);
/// `(site, dimension, day, key)`.
pub type KeyKey = (String, &'static str, i64, String);
/// `(site, day, flow)`.
pub type FlowKey = (String, i64, String);

/// The rollup changes of one write.
pub struct Rollups<V = Hll> {
    pub hours: HashMap<HourKey, Delta<V>>,
    pub keys: HashMap<KeyKey, Delta<V>>,
    /// Sessions per (site, day, flow).
    pub flows: HashMap<FlowKey, i64>,
}

impl<V> Default for Rollups<V> {
    fn default() -> Self {
        Rollups {
            hours: HashMap::new(),
            keys: HashMap::new(),
            flows: HashMap::new(),
        }
    }
}

/// What the rollups read of one stored event: its columns, as an [`Event`] fills them
/// on insert and as an older file holds them (the backfill reads them back).
pub struct Counted<'a> {
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
pub struct SessionState<'a> {
    pub site: &'a str,
    pub visitor: &'a str,
    pub session: &'a Session,
    pub facts: &'a SessionFacts,
}

impl<V: Visitors> Rollups<V> {
    fn key(&mut self, site: &str, dim: &'static str, day: i64, key: &str) -> &mut Delta<V> {
        self.keys
            .entry((site.to_string(), dim, day, key.to_string()))
            .or_default()
    }

    /// A stored event; `prev_page` is the page viewed before it in its session.
    pub fn event(&mut self, e: &Event, prev_page: Option<&str>) {
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
    pub fn counted(&mut self, e: &Counted<'_>, prev_page: Option<&str>) {
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
        let count = |rollups: &mut Rollups<V>, dim: &'static str, key: &str| {
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
    pub fn session(&mut self, s: &SessionState<'_>, sign: i64) {
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
    pub fn settled(&mut self, site: &str, day: i64, visitor: &str, entry: &str, exit: &str) {
        self.key(site, "entry", day, entry).visitor(visitor);
        self.key(site, "exit", day, exit).visitor(visitor);
    }
}

/// A property value as a breakdown key: text as is, numbers and booleans as JSON.
pub fn prop_text(v: &PropValue) -> String {
    match v {
        PropValue::Text(s) => s.clone(),
        PropValue::Number(n) => n.to_string(),
        PropValue::Bool(b) => b.to_string(),
    }
}

/// A page's transitions from the rollups: the `transition` rows' page views (`from\nto`
/// keys) into and out of `page`, and its exits (the `exit` row's sessions).
pub fn transitions(
    pairs: impl IntoIterator<Item = (String, u64)>,
    exits: u64,
    page: &str,
) -> crate::store::RawTransitions {
    let mut before = Vec::new();
    let mut after = Vec::new();
    for (key, n) in pairs {
        if let Some((from, to)) = key.split_once('\n') {
            if to == page {
                before.push((from.to_string(), n));
            }
            if from == page {
                after.push((to.to_string(), n));
            }
        }
    }
    if exits > 0 {
        after.push(("(exit)".to_string(), exits));
    }
    let views = before.iter().map(|(_, n)| n).sum();
    (views, before, after)
}
