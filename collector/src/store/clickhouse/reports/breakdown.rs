//! Breakdowns: the range's sessions grouped by one of their facts (entry, exit, source,
//! campaign, browser…), or their events grouped by page, event name, property value or
//! link target; visitors (or persons) counted distinct per row, sorted and shared as the
//! SQLite store does.

use serde::Deserialize;

use super::super::ClickHouseStore;
use super::super::client::quote;
use super::counts::by_event_time;
use super::sessions::{Need, events_between, session_events};
use crate::reports::{CountBy, Dimension, ReportQuery, Row};
use crate::store::StoreError;

/// One row as the query answers it.
#[derive(Deserialize)]
struct Grouped {
    k: String,
    visitors: u64,
    pageviews: u64,
    events: u64,
    sessions: u64,
}

/// The value of a custom event's property (`props`, a flat JSON object) as the SQLite
/// store's `json_each` gives it: a string unquoted, `true`/`false`, a number as text;
/// `''` (no row) where absent or `null`.
fn property_value(property: &str) -> String {
    let p = quote(property);
    format!(
        "if(startsWith(visitParamExtractRaw(props, {p}), '\"'), \
             visitParamExtractString(props, {p}), \
         if(visitParamExtractRaw(props, {p}) IN ('true', 'false', 'null'), \
             replaceOne(visitParamExtractRaw(props, {p}), 'null', ''), \
             if(visitParamExtractRaw(props, {p}) = '', '', \
                toString(toFloat64OrZero(visitParamExtractRaw(props, {p}))))))"
    )
}

impl ClickHouseStore {
    /// What shares are over: the period's visitors (or persons), as
    /// [`ReportSource::counts`](crate::store::ReportSource::counts) counts them; without a
    /// filter, the distinct visitors of the range's events alone (no session grouping).
    async fn share_total(&self, q: &ReportQuery) -> Result<u64, StoreError> {
        #[derive(Deserialize)]
        struct Total {
            n: u64,
        }
        if !by_event_time(q) {
            let totals = self.range_counts(q).await?;
            return Ok(match q.count {
                CountBy::Visitors => totals.visitors,
                CountBy::Persons => totals.persons,
            });
        }
        let (start, end) = (q.range.start_ms(), q.range.end_ms());
        let rows: Vec<Total> = self
            .client()
            .rows(
                format!(
                    "SELECT uniqExact(visitor) AS n FROM {} WHERE {}",
                    self.table("events"),
                    events_between(&q.site, start, end)
                ),
                &[],
            )
            .await?;
        Ok(rows.first().map_or(0, |t| t.n))
    }

    /// [`ReportSource::breakdown`](crate::store::ReportSource::breakdown).
    pub(super) async fn range_breakdown(
        &self,
        q: &ReportQuery,
        dimension: &Dimension,
    ) -> Result<Vec<Row>, StoreError> {
        if self.uses_rollups(q) {
            let rows = match dimension {
                Dimension::EventProperty { event, property } => {
                    let prefix = format!("{event}\n{property}\n");
                    self.fast_keys(q, dimension.as_str(), Some(&prefix)).await?
                }
                _ => self.fast_keys(q, dimension.as_str(), None).await?,
            };
            let total = self.fast_visitors(q).await?;
            return Ok(Row::finish(rows, total, q.limit));
        }
        let total = self.share_total(q).await?;
        let persons = q.count == CountBy::Persons;
        let who = if persons { "person" } else { "visitor" };
        let session_column = match dimension {
            Dimension::Entry => Some("entry_path"),
            Dimension::Exit => Some("exit_path"),
            Dimension::Source => Some("source"),
            Dimension::SourceClass => Some("source_class"),
            Dimension::Campaign => Some("campaign"),
            Dimension::Browser => Some("browser"),
            Dimension::Os => Some("os"),
            Dimension::Device => Some("device"),
            Dimension::Country => Some("country"),
            _ => None,
        };
        let need = Need {
            facts: session_column.is_some(),
            context: matches!(
                dimension,
                Dimension::Campaign
                    | Dimension::Browser
                    | Dimension::Os
                    | Dimension::Device
                    | Dimension::Country
            ),
            source: matches!(dimension, Dimension::Source | Dimension::SourceClass),
            persons,
            ..Need::default()
        };
        let sql = if let Some(col) = session_column {
            let sessions = self.sessions(q, need).await?;
            format!(
                "SELECT {col} AS k, uniqExact({who}) AS visitors, sum(pageviews) AS pageviews, \
                     sum(events) AS events, count() AS sessions \
                 FROM ({}) WHERE k != '' GROUP BY k",
                sessions.sql()
            )
        } else {
            let (key, condition) = match dimension {
                Dimension::Page => ("path".to_string(), "1".to_string()),
                Dimension::Event => ("name".into(), "kind = 'custom'".into()),
                Dimension::Outbound => ("target".into(), "kind = 'outbound'".into()),
                Dimension::Download => ("target".into(), "kind = 'download'".into()),
                Dimension::EventProperty { event, property } => (
                    property_value(property),
                    format!("kind = 'custom' AND name = {}", quote(event)),
                ),
                _ => ("''".into(), "0".into()),
            };
            let (start, end) = (q.range.start_ms(), q.range.end_ms());
            let window = session_events(&q.site, start, end);
            let events = self.table("events");
            let from = if by_event_time(q) {
                // As SQLite's rollups: the range's events, whatever session they are in.
                format!(
                    "{events} WHERE {} AND {condition}",
                    events_between(&q.site, start, end)
                )
            } else if persons {
                let sessions = self.sessions(q, need).await?;
                format!(
                    "(SELECT * FROM {events} WHERE {window} AND {condition}) \
                     ANY INNER JOIN (SELECT session, person FROM ({})) USING session",
                    sessions.sql()
                )
            } else {
                let sessions = self.sessions(q, need).await?;
                format!(
                    "{events} WHERE {window} AND {condition} \
                     AND session IN (SELECT session FROM ({}))",
                    sessions.sql()
                )
            };
            format!(
                "SELECT k, uniqExact({who}) AS visitors, countIf(kind = 'pageview') AS pageviews, \
                     count() AS events, toUInt64(0) AS sessions \
                 FROM (SELECT {key} AS k, {who}, kind FROM {from}) WHERE k != '' GROUP BY k"
            )
        };
        let rows: Vec<Grouped> = self.client().rows(sql, &[]).await?;
        let rows = rows
            .into_iter()
            .map(|g| Row {
                key: g.k,
                visitors: g.visitors,
                pageviews: g.pageviews,
                events: g.events,
                sessions: g.sessions,
                share: 0.0,
            })
            .collect();
        Ok(Row::finish(rows, total, q.limit))
    }
}
