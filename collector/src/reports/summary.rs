//! The summary's numbers from raw [`Counts`]: rates, views per session, and the change
//! against the previous period.

use serde::Serialize;

use super::Counts;

/// The headline numbers of a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Totals {
    /// Distinct visitors.
    pub visitors: u64,
    /// Distinct persons.
    pub persons: u64,
    /// Page views.
    pub pageviews: u64,
    /// Sessions.
    pub sessions: u64,
    /// Events of every kind.
    pub events: u64,
    /// Bounced sessions over sessions (0 without sessions).
    pub bounce_rate: f64,
    /// Mean session duration, ms, rounded (0 without sessions).
    pub mean_duration_ms: u64,
    /// Page views over sessions (0 without sessions).
    pub views_per_session: f64,
}

impl From<Counts> for Totals {
    fn from(c: Counts) -> Totals {
        let per_session = |x: u64| {
            if c.sessions == 0 {
                0.0
            } else {
                x as f64 / c.sessions as f64
            }
        };
        Totals {
            visitors: c.visitors,
            persons: c.persons,
            pageviews: c.pageviews,
            sessions: c.sessions,
            events: c.events,
            bounce_rate: per_session(c.bounces),
            mean_duration_ms: per_session(c.duration_ms).round() as u64,
            views_per_session: per_session(c.pageviews),
        }
    }
}

/// Relative change of each number, `None` when the previous one is 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Change {
    /// Of visitors.
    pub visitors: Option<f64>,
    /// Of persons.
    pub persons: Option<f64>,
    /// Of page views.
    pub pageviews: Option<f64>,
    /// Of sessions.
    pub sessions: Option<f64>,
    /// Of events.
    pub events: Option<f64>,
    /// Of the bounce rate.
    pub bounce_rate: Option<f64>,
    /// Of the mean duration.
    pub mean_duration_ms: Option<f64>,
    /// Of views per session.
    pub views_per_session: Option<f64>,
}

/// `(now - before) / before`, or `None` when `before` is 0.
pub fn relative(now: f64, before: f64) -> Option<f64> {
    (before != 0.0).then(|| (now - before) / before)
}

impl Change {
    /// The change from `before` to `now`.
    pub fn between(now: &Totals, before: &Totals) -> Change {
        let n = |x: u64| x as f64;
        Change {
            visitors: relative(n(now.visitors), n(before.visitors)),
            persons: relative(n(now.persons), n(before.persons)),
            pageviews: relative(n(now.pageviews), n(before.pageviews)),
            sessions: relative(n(now.sessions), n(before.sessions)),
            events: relative(n(now.events), n(before.events)),
            bounce_rate: relative(now.bounce_rate, before.bounce_rate),
            mean_duration_ms: relative(n(now.mean_duration_ms), n(before.mean_duration_ms)),
            views_per_session: relative(now.views_per_session, before.views_per_session),
        }
    }
}

/// `GET /api/summary`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryReport {
    /// The site.
    pub site: String,
    /// First day, `YYYY-MM-DD`.
    pub from: String,
    /// Last day.
    pub to: String,
    /// This period's numbers.
    #[serde(flatten)]
    pub totals: Totals,
    /// The previous period's.
    pub previous: Totals,
    /// The change between them.
    pub change: Change,
    /// This period's page views from browsers where the wasm beacon could not run (sent
    /// by the loader's fallback), per reason, most first; empty when there were none.
    pub fallback: Vec<Fallback>,
}

/// Fallback page views of one reason, in a [`SummaryReport`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fallback {
    /// Why the beacon could not run: one of
    /// [`REASONS`](crate::payload::fallback::REASONS).
    pub reason: String,
    /// Page views.
    pub pageviews: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_changes() {
        let now = Totals::from(Counts {
            visitors: 2,
            persons: 1,
            pageviews: 4,
            sessions: 3,
            events: 5,
            bounces: 2,
            duration_ms: 60_000,
        });
        assert_eq!((now.bounce_rate, now.mean_duration_ms), (2.0 / 3.0, 20_000));
        assert_eq!(now.views_per_session, 4.0 / 3.0);
        let before = Totals::from(Counts {
            visitors: 1,
            pageviews: 2,
            sessions: 1,
            ..Counts::default()
        });
        let c = Change::between(&now, &before);
        assert_eq!(c.visitors, Some(1.0));
        assert_eq!(c.persons, None);
        assert_eq!(c.sessions, Some(2.0));
        assert_eq!(c.bounce_rate, None);
        assert_eq!(Totals::from(Counts::default()).bounce_rate, 0.0);
    }
}
