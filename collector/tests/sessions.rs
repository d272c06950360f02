//! Server sessions through `POST /collect` and `GET /api/summary`, on small hand-made
//! datasets whose answers are worked out in the comments.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

/// 2026-05-28T20:26:40Z.
const T: i64 = 1_780_000_000_000;
const MIN: i64 = 60_000;
/// The summary over the days of these datasets (T is 2026-05-28; the default range is the
/// last 30 days).
const SUMMARY: &str = "/api/summary?site=demo&from=2026-05-01&to=2026-05-31";
const SITE: &str = "http://127.0.0.1:8080";

/// An event of `visitor` at `ts` on `path`, with extra `fields`.
fn at(n: u32, visitor: &str, kind: &str, ts: i64, path: &str, fields: Value) -> Value {
    let mut fields = fields;
    fields["visitor"] = json!(visitor);
    fields["ts"] = json!(ts);
    event(&event_id(n), kind, &format!("{SITE}{path}"), fields)
}

fn engagement(n: u32, visitor: &str, ts: i64, path: &str, visible_ms: u32) -> Value {
    let fields = json!({"pageview": event_id(1), "visible_ms": visible_ms, "scroll": 50});
    at(n, visitor, "engagement", ts, path, fields)
}

/// A collector that accepts the fixed dataset time `T`, however long ago it now is.
async fn start_for_dataset(
    adjust: impl FnOnce(&mut spoor_collector::config::Config),
) -> TestCollector {
    TestCollector::start_with(|config| {
        config.limits.max_event_age_ms = now_ms() - T + 86_400_000;
        adjust(config);
    })
    .await
}

async fn post(c: &TestCollector, events: &[Value]) {
    let resp = c.collect(&batch(events), &[]).await;
    let status = resp.status();
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "{}",
        error_reason(resp).await
    );
}

#[tokio::test]
async fn summary_reports_server_sessions_bounce_rate_and_mean_duration() {
    let c = start_for_dataset(|_| {}).await;
    let none = || json!({});
    // a: two page views and a short engagement in 90 s: one session, 90 000 ms, no bounce.
    post(
        &c,
        &[
            at(1, "a", "pageview", T, "/", none()),
            at(2, "a", "pageview", T + MIN, "/pricing", none()),
            engagement(3, "a", T + 90_000, "/pricing", 5_000),
        ],
    )
    .await;
    // b: one page view (a bounce, 0 ms); 31 minutes later, in another request, a page view
    // and 12 s of engagement 20 s later: a second session, 20 000 ms, no bounce.
    post(&c, &[at(4, "b", "pageview", T, "/", none())]).await;
    post(
        &c,
        &[
            at(5, "b", "pageview", T + 31 * MIN, "/blog", none()),
            engagement(6, "b", T + 31 * MIN + 20_000, "/blog", 12_000),
        ],
    )
    .await;
    // c: a page view from the newsletter (a bounce, 0 ms), then one from an ad 10 s later,
    // which starts a new session, continued 5 s later by a custom event without tags:
    // 5 000 ms, no bounce.
    post(
        &c,
        &[
            at(7, "c", "pageview", T, "/?utm_source=news", none()),
            at(8, "c", "pageview", T + 10_000, "/?utm_source=ads", none()),
            at(9, "c", "custom", T + 15_000, "/", json!({"name": "signup"})),
        ],
    )
    .await;
    // a's first page view again: a duplicate, which changes nothing.
    post(&c, &[at(1, "a", "pageview", T, "/", none())]).await;

    let (status, json) = c.get_json(SUMMARY).await;
    assert_eq!(status, 200);
    assert_eq!(json["pageviews"], 6);
    assert_eq!(json["visitors"], 3);
    assert_eq!(json["events"], 9);
    // Five sessions, two bounced; durations 90 000 + 0 + 20 000 + 0 + 5 000 = 115 000.
    assert_eq!(json["sessions"], 5);
    assert_eq!(json["bounce_rate"], 0.4);
    assert_eq!(json["mean_duration_ms"], 23_000);

    let a = c.row(
        "SELECT entry_path, exit_path, pageviews, events, duration_ms, bounce
         FROM sessions WHERE visitor = 'a'",
    );
    let expected = ["/", "/pricing", "2", "3", "90000", "0"];
    assert_eq!(a, expected.map(|v| Some(v.to_string())));
    let per_session =
        c.column("SELECT count(*) || '' FROM events GROUP BY session_id ORDER BY min(ts), 1");
    assert_eq!(per_session, ["1", "1", "3", "2", "2"]);
    let utm = c.column("SELECT utm_source FROM sessions WHERE visitor = 'c' ORDER BY start_ts");
    assert_eq!(utm, ["news", "ads"]);
}

#[tokio::test]
async fn sessions_end_at_midnight_in_the_configured_time_zone() {
    // 19:55Z and 20:05Z on 2026-05-28: the same day in UTC, but in UTC+04:00 the second
    // is 00:05 on the next day.
    let day = 20_601 * 86_400_000;
    let before = day + (19 * 60 + 55) * MIN;
    let after = day + (20 * 60 + 5) * MIN;
    let events = [
        at(1, "a", "pageview", before, "/", json!({})),
        at(2, "a", "pageview", after, "/next", json!({})),
    ];
    let utc = start_for_dataset(|_| {}).await;
    post(&utc, &events).await;
    assert_eq!(utc.get_json(SUMMARY).await.1["sessions"], 1);

    let dubai = start_for_dataset(|config| {
        config.site_timezone = "+04:00".parse().unwrap();
    })
    .await;
    post(&dubai, &events).await;
    let (_, json) = dubai.get_json(SUMMARY).await;
    assert_eq!(json["sessions"], 2);
    assert_eq!(json["bounce_rate"], 1.0);
}
