//! Reports: what site owners read — summary, time series, breakdowns, real-time, paths,
//! funnels and the visitor log (see `docs/API.md`, "Reports").
//!
//! This module owns the report model: the validated query ([`ReportQuery`]: site, range,
//! filters, how to count), the answers' shapes, and the pure computations over what the
//! store returns (change against the previous period, funnel conversion, the Sankey of
//! flows, CSV). A store answers through
//! [`ReportSource`](crate::store::ReportSource); the SQLite store answers unfiltered
//! reports from rollups kept at write time and filtered ones from the range's sessions
//! (`store/sqlite/reports`).
//!
//! - [`range`]: dates and the previous period; [`params`]: the query string;
//! - [`hll`]: the unique-count sketches of the rollups (the browser, OS, device and
//!   source classes reports group by come from [`enrich`](crate::enrich));
//! - [`summary`], [`funnel`], [`flows`], [`csv`]: the pure parts of those reports;
//! - [`generate`]: synthetic history through the real insert path; [`bench`]: the
//!   dashboard's query set timed with rollups and by scanning.

pub mod csv;
pub mod flows;
pub mod funnel;
pub mod generate;
pub mod hll;
pub mod params;
pub mod range;
pub mod summary;

use serde::Serialize;

use crate::identity::graph::Mode;
use range::Range;

/// What `visitors` columns count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CountBy {
    /// Distinct visitor ids.
    #[default]
    Visitors,
    /// Distinct persons (visitor ids joined by links).
    Persons,
}

/// Device classes a filter may name.
pub const DEVICES: &[&str] = &["desktop", "mobile", "tablet"];

/// Exact-match filters; each selects sessions (see `docs/API.md`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// Sessions with a page view of this path.
    pub page: Option<String>,
    /// Sessions from this source.
    pub source: Option<String>,
    /// Sessions of this `utm_campaign`.
    pub campaign: Option<String>,
    /// Sessions from this country.
    pub country: Option<String>,
    /// Sessions on this device class.
    pub device: Option<String>,
}

impl Filters {
    /// No filter is set.
    pub fn is_empty(&self) -> bool {
        *self == Filters::default()
    }
}

/// A validated report query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportQuery {
    /// The site.
    pub site: String,
    /// The days covered.
    pub range: Range,
    /// Filters on sessions.
    pub filters: Filters,
    /// What `visitors` columns count.
    pub count: CountBy,
    /// Which links make persons.
    pub mode: Mode,
    /// Rows of a table report.
    pub limit: usize,
}

impl ReportQuery {
    /// A query over `range` of `site` with the defaults (no filter, visitors, inclusive,
    /// 10 rows).
    pub fn new(site: &str, range: Range) -> ReportQuery {
        ReportQuery {
            site: site.to_string(),
            range,
            filters: Filters::default(),
            count: CountBy::Visitors,
            mode: Mode::Inclusive,
            limit: 10,
        }
    }

    /// The same query over another range.
    pub fn with_range(&self, range: Range) -> ReportQuery {
        ReportQuery {
            range,
            ..self.clone()
        }
    }
}

/// Time series resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// One point per UTC hour.
    Hour,
    /// One point per UTC day.
    Day,
}

impl Interval {
    /// Bucket length in ms.
    pub fn ms(self) -> i64 {
        match self {
            Interval::Hour => range::HOUR_MS,
            Interval::Day => range::DAY_MS,
        }
    }

    /// The name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Hour => "hour",
            Interval::Day => "day",
        }
    }
}

/// What a breakdown groups by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dimension {
    /// Page path of page views.
    Page,
    /// First page of sessions.
    Entry,
    /// Last page of sessions.
    Exit,
    /// Referrer source of sessions.
    Source,
    /// `search`, `social`, `direct`, `other`.
    SourceClass,
    /// `utm_campaign` of sessions.
    Campaign,
    /// Browser of sessions.
    Browser,
    /// Operating system of sessions.
    Os,
    /// Device class of sessions.
    Device,
    /// Country of sessions (GeoIP).
    Country,
    /// Custom event names.
    Event,
    /// Values of one property of one custom event.
    EventProperty {
        /// The event name.
        event: String,
        /// The property key.
        property: String,
    },
    /// Outbound link targets.
    Outbound,
    /// Download targets.
    Download,
}

impl Dimension {
    /// The name in the API and in the rollups.
    pub fn as_str(&self) -> &'static str {
        match self {
            Dimension::Page => "page",
            Dimension::Entry => "entry",
            Dimension::Exit => "exit",
            Dimension::Source => "source",
            Dimension::SourceClass => "source_class",
            Dimension::Campaign => "campaign",
            Dimension::Browser => "browser",
            Dimension::Os => "os",
            Dimension::Device => "device",
            Dimension::Country => "country",
            Dimension::Event => "event",
            Dimension::EventProperty { .. } => "event_property",
            Dimension::Outbound => "outbound",
            Dimension::Download => "download",
        }
    }
}

/// Raw counters of a period (or a bucket), before rates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Distinct visitors.
    pub visitors: u64,
    /// Distinct persons.
    pub persons: u64,
    /// Page views.
    pub pageviews: u64,
    /// Sessions started.
    pub sessions: u64,
    /// Events of every kind.
    pub events: u64,
    /// Sessions that bounced.
    pub bounces: u64,
    /// Sum of session durations, ms.
    pub duration_ms: u64,
}

/// One row of a breakdown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The value grouped by.
    pub key: String,
    /// Distinct visitors (or persons with `count=persons`).
    pub visitors: u64,
    /// Page views.
    pub pageviews: u64,
    /// Events.
    pub events: u64,
    /// Sessions (session dimensions, entry and exit; 0 for the others).
    pub sessions: u64,
    /// `visitors` over the period's visitors.
    pub share: f64,
}

impl Row {
    /// A breakdown's answer from its rows, as every store gives it: sorted (most
    /// visitors, then page views, events, sessions, key), cut to `limit`, each row's share
    /// over `total` visitors.
    pub fn finish(mut rows: Vec<Row>, total: u64, limit: usize) -> Vec<Row> {
        rows.sort_by(|a, b| {
            (b.visitors, b.pageviews, b.events, b.sessions)
                .cmp(&(a.visitors, a.pageviews, a.events, a.sessions))
                .then_with(|| a.key.cmp(&b.key))
        });
        rows.truncate(limit);
        for r in &mut rows {
            r.share = if total == 0 {
                0.0
            } else {
                r.visitors as f64 / total as f64
            };
        }
        rows
    }
}

/// A key and a count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyCount {
    /// The key.
    pub key: String,
    /// Distinct visitors.
    pub visitors: u64,
}

/// `GET /api/realtime`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Realtime {
    /// Distinct visitors over the last 5 minutes.
    pub visitors: u64,
    /// Pages they viewed, most visitors first.
    pub pages: Vec<KeyCount>,
}

/// A transition and its share.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Share {
    /// The page (or `(entrance)`, `(exit)`).
    pub key: String,
    /// Page views.
    pub count: u64,
    /// `count` over the page's views.
    pub share: f64,
}

/// `GET /api/paths/transitions`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transitions {
    /// The page.
    pub page: String,
    /// Its page views.
    pub views: u64,
    /// What came before each view.
    pub before: Vec<Share>,
    /// What came after.
    pub after: Vec<Share>,
}

/// One session of the visitor log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogSession {
    /// Session id.
    pub session: String,
    /// Visitor id.
    pub visitor: String,
    /// Person id under the query's identity reading.
    pub person: String,
    /// First event, Unix ms.
    pub start: i64,
    /// Last event, Unix ms.
    pub end: i64,
    /// Entry page.
    pub entry: String,
    /// Exit page.
    pub exit: String,
    /// Page views.
    pub pageviews: u64,
    /// Duration, ms.
    pub duration_ms: i64,
    /// Whether it bounced.
    pub bounce: bool,
    /// Device class.
    pub device: Option<String>,
    /// Browser.
    pub browser: Option<String>,
    /// Operating system.
    pub os: Option<String>,
    /// Referrer source.
    pub source: Option<String>,
    /// Its events, oldest first.
    pub events: Vec<LogEvent>,
}

/// One event of the visitor log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEvent {
    /// Client time, Unix ms.
    pub ts: i64,
    /// Event type.
    pub kind: String,
    /// Page path.
    pub path: String,
    /// Custom event name, or link target.
    pub name: Option<String>,
}

/// One event that matched a funnel step: who (visitor or person), when, which step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunnelHit {
    /// The person, as a number the store gave it for this answer (equal numbers: the same
    /// person).
    pub who: u64,
    /// Unix ms.
    pub ts: i64,
    /// Index of the step matched.
    pub step: usize,
}
