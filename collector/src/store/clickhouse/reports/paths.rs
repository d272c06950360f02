//! Paths through the site: the transitions around one page (from the page views'
//! `prev_path`, and the sessions that exit there) and the flows (each session's first
//! page views), over the range's sessions.

use std::collections::HashMap;

use serde::Deserialize;

use super::super::ClickHouseStore;
use super::super::client::quote;
use super::counts::by_event_time;
use super::sessions::{Need, events_between, session_events};
use crate::reports::ReportQuery;
use crate::reports::flows::first_pages;
use crate::store::{RawTransitions, StoreError};

/// A key and a count.
#[derive(Deserialize)]
struct Keyed {
    k: String,
    n: u64,
}

impl ClickHouseStore {
    /// [`ReportSource::transitions`](crate::store::ReportSource::transitions).
    pub(super) async fn range_transitions(
        &self,
        q: &ReportQuery,
        page: &str,
    ) -> Result<RawTransitions, StoreError> {
        if self.uses_rollups(q) {
            return self.fast_transitions(q, page).await;
        }
        let need = Need {
            facts: true,
            ..Need::default()
        };
        let sessions = self.sessions(q, need).await?;
        let events = self.table("events");
        let (start, end) = (q.range.start_ms(), q.range.end_ms());
        let page_q = quote(page);
        // As SQLite's rollups without a filter: the range's page views; with one, the
        // page views of the sessions that pass it.
        let (window, of_sessions) = if by_event_time(q) {
            (events_between(&q.site, start, end), "1".to_string())
        } else {
            (
                session_events(&q.site, start, end),
                format!("session IN (SELECT session FROM ({}))", sessions.sql()),
            )
        };
        let grouped = |sql: String| async move {
            let rows: Vec<Keyed> = self.client().rows(sql, &[]).await?;
            Ok::<_, StoreError>(rows.into_iter().map(|r| (r.k, r.n)).collect::<Vec<_>>())
        };
        let before = grouped(format!(
            "SELECT if(prev_path = '', '(entrance)', prev_path) AS k, count() AS n \
             FROM {events} WHERE {window} AND kind = 'pageview' AND path = {page_q} \
                 AND {of_sessions} GROUP BY k"
        ))
        .await?;
        let mut after = grouped(format!(
            "SELECT path AS k, count() AS n FROM {events} \
             WHERE {window} AND kind = 'pageview' AND prev_path = {page_q} \
                 AND {of_sessions} GROUP BY k"
        ))
        .await?;
        after.extend(
            grouped(format!(
                "SELECT '(exit)' AS k, count() AS n FROM ({}) \
                 WHERE pageviews > 0 AND exit_path = {page_q} HAVING n > 0",
                sessions.sql()
            ))
            .await?,
        );
        let views = before.iter().map(|(_, n)| n).sum();
        Ok((views, before, after))
    }

    /// [`ReportSource::flows`](crate::store::ReportSource::flows): sessions counted per
    /// sequence of their first `steps` page views.
    pub(super) async fn range_flows(
        &self,
        q: &ReportQuery,
        steps: usize,
    ) -> Result<Vec<(Vec<String>, u64)>, StoreError> {
        if self.uses_rollups(q) {
            return self.fast_flows(q, steps).await;
        }
        let need = Need {
            flow: true,
            ..Need::default()
        };
        let sessions = self.sessions(q, need).await?;
        let rows: Vec<Keyed> = self
            .client()
            .rows(
                format!(
                    "SELECT flow AS k, count() AS n FROM ({}) WHERE flow != '' GROUP BY flow",
                    sessions.sql()
                ),
                &[],
            )
            .await?;
        let mut cut: HashMap<&str, u64> = HashMap::new();
        for r in &rows {
            *cut.entry(first_pages(&r.k, steps)).or_default() += r.n;
        }
        Ok(cut
            .into_iter()
            .map(|(flow, n)| (flow.split('\n').map(str::to_string).collect(), n))
            .collect())
    }
}
