//! The query string every report takes, validated into a [`ReportQuery`] and the
//! report-specific parts (interval, dimension, page, steps). Every problem is a message
//! naming the parameter, which the handlers answer as a `400`.

use serde::Deserialize;

use super::range::Range;
use super::{CountBy, DEVICES, Dimension, Filters, Interval, ReportQuery};
use crate::identity::graph::Mode;

/// Default rows of a table report.
pub const DEFAULT_LIMIT: usize = 10;
/// Most rows of a table report.
pub const MAX_LIMIT: usize = 1000;
/// Longest filter value, in bytes.
pub const MAX_FILTER_LEN: usize = 2048;
/// Longest hourly time series, in days.
pub const MAX_HOURLY_DAYS: i64 = 31;

/// The raw query string of a report.
#[derive(Debug, Default, Deserialize)]
pub struct Params {
    /// Site.
    pub site: Option<String>,
    /// First day.
    pub from: Option<String>,
    /// Last day.
    pub to: Option<String>,
    /// Page filter (and the page of transitions).
    pub page: Option<String>,
    /// Source filter.
    pub source: Option<String>,
    /// Campaign filter.
    pub campaign: Option<String>,
    /// Country filter.
    pub country: Option<String>,
    /// Device filter.
    pub device: Option<String>,
    /// `visitors` or `persons`.
    pub count: Option<String>,
    /// `inclusive` or `strict`.
    pub identity: Option<String>,
    /// Rows.
    pub limit: Option<String>,
    /// `json` or `csv`.
    pub format: Option<String>,
    /// `hour` or `day`.
    pub interval: Option<String>,
    /// Breakdown dimension.
    pub dimension: Option<String>,
    /// Event name (event_property breakdown).
    pub event: Option<String>,
    /// Property key (event_property breakdown).
    pub property: Option<String>,
    /// Funnel steps (comma-separated) or flow steps (a number).
    pub steps: Option<String>,
    /// Funnel window.
    pub window_ms: Option<String>,
    /// Saved funnel name.
    pub name: Option<String>,
}

fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

fn filter(name: &str, v: &Option<String>) -> Result<Option<String>, String> {
    match v.as_deref().filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) if s.len() > MAX_FILTER_LEN => {
            Err(format!("{name}: longer than {MAX_FILTER_LEN} bytes"))
        }
        Some(s) => Ok(Some(s.to_string())),
    }
}

impl Params {
    /// The common part of every report; `today` is the current UTC day.
    pub fn query(&self, today: i64) -> Result<ReportQuery, String> {
        let site = self
            .site
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or("site: query parameter is required")?;
        let range = Range::parse(self.from.as_deref(), self.to.as_deref(), today)?;
        let device = filter("device", &self.device)?;
        if let Some(d) = &device {
            if !DEVICES.contains(&d.as_str()) {
                return Err(format!(
                    "device: {:?} is not one of desktop, mobile, tablet",
                    short(d)
                ));
            }
        }
        let filters = Filters {
            page: filter("page", &self.page)?,
            source: filter("source", &self.source)?,
            campaign: filter("campaign", &self.campaign)?,
            country: filter("country", &self.country)?,
            device,
        };
        let count = match self.count.as_deref() {
            None | Some("") | Some("visitors") => CountBy::Visitors,
            Some("persons") => CountBy::Persons,
            Some(o) => {
                return Err(format!(
                    "count: {:?} is neither \"visitors\" nor \"persons\"",
                    short(o)
                ));
            }
        };
        let mode = match self.identity.as_deref() {
            None | Some("") | Some("inclusive") => Mode::Inclusive,
            Some("strict") => Mode::Strict,
            Some(o) => {
                return Err(format!(
                    "identity: {:?} is neither \"strict\" nor \"inclusive\"",
                    short(o)
                ));
            }
        };
        let limit = match self.limit.as_deref().filter(|s| !s.is_empty()) {
            None => DEFAULT_LIMIT,
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    format!(
                        "limit: {:?} is not a number from 1 to {MAX_LIMIT}",
                        short(s)
                    )
                })?,
        };
        Ok(ReportQuery {
            site,
            range,
            filters,
            count,
            mode,
            limit,
        })
    }

    /// Whether CSV was asked for (`format=csv`; `json` or nothing is JSON).
    pub fn csv(&self) -> Result<bool, String> {
        match self.format.as_deref() {
            None | Some("") | Some("json") => Ok(false),
            Some("csv") => Ok(true),
            Some(o) => Err(format!(
                "format: {:?} is neither \"json\" nor \"csv\"",
                short(o)
            )),
        }
    }

    /// The time series interval (default `day`), checked against the range.
    pub fn interval(&self, range: &Range) -> Result<Interval, String> {
        let interval = match self.interval.as_deref() {
            None | Some("") | Some("day") => Interval::Day,
            Some("hour") => Interval::Hour,
            Some(o) => {
                return Err(format!(
                    "interval: {:?} is neither \"hour\" nor \"day\"",
                    short(o)
                ));
            }
        };
        if interval == Interval::Hour && range.days() > MAX_HOURLY_DAYS {
            return Err(format!(
                "interval: hourly series cover at most {MAX_HOURLY_DAYS} days"
            ));
        }
        Ok(interval)
    }

    /// The breakdown dimension (required).
    pub fn dimension(&self) -> Result<Dimension, String> {
        let d = self
            .dimension
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or("dimension: query parameter is required")?;
        Ok(match d {
            "page" => Dimension::Page,
            "entry" => Dimension::Entry,
            "exit" => Dimension::Exit,
            "source" => Dimension::Source,
            "source_class" => Dimension::SourceClass,
            "campaign" => Dimension::Campaign,
            "browser" => Dimension::Browser,
            "os" => Dimension::Os,
            "device" => Dimension::Device,
            "country" => Dimension::Country,
            "event" => Dimension::Event,
            "outbound" => Dimension::Outbound,
            "download" => Dimension::Download,
            "event_property" => {
                let event = filter("event", &self.event)?
                    .ok_or("event: required with dimension=event_property")?;
                let property = filter("property", &self.property)?
                    .ok_or("property: required with dimension=event_property")?;
                Dimension::EventProperty { event, property }
            }
            o => {
                return Err(format!(
                    "dimension: {:?} is not one of page, entry, exit, source, source_class, \
                     campaign, browser, os, device, country, event, event_property, outbound, \
                     download",
                    short(o)
                ));
            }
        })
    }

    /// Steps of a flow: 2 to 5, default 4.
    pub fn flow_steps(&self) -> Result<usize, String> {
        use super::flows::{MAX_STEPS, MIN_STEPS};
        match self.steps.as_deref().filter(|s| !s.is_empty()) {
            None => Ok(4),
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| (MIN_STEPS..=MAX_STEPS).contains(n))
                .ok_or_else(|| {
                    format!(
                        "steps: {:?} is not a number from {MIN_STEPS} to {MAX_STEPS}",
                        short(s)
                    )
                }),
        }
    }

    /// Funnel window, if given.
    pub fn window_ms(&self) -> Result<Option<i64>, String> {
        match self.window_ms.as_deref().filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => s
                .parse::<i64>()
                .map(Some)
                .map_err(|_| format!("window_ms: {:?} is not a number", short(s))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        let q = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        serde_urlencoded_like(&q)
    }

    /// Builds `Params` the way axum's `Query` does, through serde_json for brevity.
    fn serde_urlencoded_like(q: &str) -> Params {
        let map: serde_json::Map<String, serde_json::Value> = q
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect();
        serde_json::from_value(serde_json::Value::Object(map)).unwrap()
    }

    #[test]
    fn a_full_query_validates() {
        let p = params(&[
            ("site", "demo"),
            ("from", "2026-11-01"),
            ("to", "2026-11-10"),
            ("device", "mobile"),
            ("count", "persons"),
            ("identity", "strict"),
            ("limit", "25"),
        ]);
        let q = p.query(20_418).unwrap();
        assert_eq!(
            (q.range.days(), q.limit, q.count),
            (10, 25, CountBy::Persons)
        );
        assert_eq!(q.mode, Mode::Strict);
        assert_eq!(q.filters.device.as_deref(), Some("mobile"));
        assert!(!q.filters.is_empty());
        assert!(
            params(&[("site", "demo")])
                .query(1)
                .unwrap()
                .filters
                .is_empty()
        );
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let err = |pairs: &[(&str, &str)]| params(pairs).query(20_418).unwrap_err();
        assert!(err(&[]).starts_with("site:"));
        assert!(err(&[("site", "d"), ("device", "phone")]).starts_with("device:"));
        assert!(err(&[("site", "d"), ("count", "x")]).starts_with("count:"));
        assert!(err(&[("site", "d"), ("identity", "x")]).starts_with("identity:"));
        assert!(err(&[("site", "d"), ("limit", "0")]).starts_with("limit:"));
        assert!(err(&[("site", "d"), ("limit", "1001")]).starts_with("limit:"));
        assert!(err(&[("site", "d"), ("from", "2026-13-01")]).starts_with("from:"));
        let p = params(&[("dimension", "event_property"), ("event", "signup")]);
        assert!(p.dimension().unwrap_err().starts_with("property:"));
        assert!(
            params(&[("dimension", "nope")])
                .dimension()
                .unwrap_err()
                .starts_with("dimension:")
        );
        assert!(params(&[("steps", "9")]).flow_steps().is_err());
        let month = Range { from: 0, to: 59 };
        assert!(params(&[("interval", "hour")]).interval(&month).is_err());
        assert!(params(&[("format", "xml")]).csv().is_err());
    }
}
