//! `GET /metrics` after a mixed load through the router: every item `/collect` received
//! ends in exactly one outcome, so
//! `received = accepted + deduplicated + rejected + failed + filtered`, and each outcome
//! is counted where it belongs.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use serde_json::json;

/// The samples of a Prometheus text exposition, by full name with labels.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
        .collect()
}

/// The sum of every sample of metric `name` (over its labels).
fn total(samples: &HashMap<String, f64>, name: &str) -> f64 {
    samples
        .iter()
        .filter(|(k, _)| *k == name || k.starts_with(&format!("{name}{{")))
        .map(|(_, v)| v)
        .sum()
}

const PAGE: &str = "http://127.0.0.1:8080/";

#[tokio::test]
async fn after_a_mixed_load_the_counters_reconcile() {
    let c = TestCollector::start_with(|config| {
        config.trusted_proxies = vec![format!("{CLIENT_IP}/32").parse().unwrap()];
        config.rate_limit.per_second = 0.001;
        config.rate_limit.burst = 3;
    })
    .await;
    let post = |body: String, client: &'static str, extra: Vec<(&'static str, String)>| {
        let c = &c;
        async move {
            let mut headers: Vec<(&str, &str)> = vec![("x-forwarded-for", client)];
            headers.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
            c.collect(&body, &headers).await.status().as_u16()
        }
    };
    let good = |n: u32| event(&event_id(n), "pageview", PAGE, json!({}));
    let bad = |n: u32| event(&event_id(n), "pageview", PAGE, json!({"id": "nope"}));

    // Accepted 2 + 1, deduplicated 1 (and below: 1 in the partly failed batch, 3 from the
    // rate-limited client: 7 accepted in all).
    assert_eq!(
        post(batch(&[good(1), good(2)]), "198.51.100.1", vec![]).await,
        204
    );
    assert_eq!(
        post(batch(&[good(2), good(3)]), "198.51.100.2", vec![]).await,
        204
    );
    // Failed 1 (stored 1), then failed 2 (all failed: 400).
    assert_eq!(
        post(batch(&[good(4), bad(5)]), "198.51.100.3", vec![]).await,
        200
    );
    assert_eq!(
        post(batch(&[bad(6), bad(7)]), "198.51.100.4", vec![]).await,
        400
    );
    // Rejected: invalid JSON 1, unknown site 2 events, foreign origin 1 event, content
    // type 1, body too large 1.
    assert_eq!(post("{".into(), "198.51.100.5", vec![]).await, 400);
    let other_site = json!({"site": "blog", "events": [good(8), good(9)]}).to_string();
    assert_eq!(post(other_site, "198.51.100.5", vec![]).await, 400);
    let origin = vec![("origin", "https://evil.example".to_string())];
    assert_eq!(post(batch(&[good(10)]), "198.51.100.6", origin).await, 403);
    let form = vec![(
        "content-type",
        "application/x-www-form-urlencoded".to_string(),
    )];
    assert_eq!(post(batch(&[good(11)]), "198.51.100.6", form).await, 415);
    let huge = format!(r#"{{"pad":"{}"}}"#, "x".repeat(70_000));
    assert_eq!(post(huge, "198.51.100.7", vec![]).await, 413);
    // Rate limited: the fourth request of one client.
    for n in 0..3 {
        assert_eq!(
            post(batch(&[good(20 + n)]), "198.51.100.8", vec![]).await,
            204
        );
    }
    assert_eq!(post(batch(&[good(23)]), "198.51.100.8", vec![]).await, 429);
    // Filtered: a crawler's two events.
    let crawler = vec![(
        "user-agent",
        "Googlebot/2.1 (+http://www.google.com/bot.html)".to_string(),
    )];
    assert_eq!(
        post(batch(&[good(30), good(31)]), "198.51.100.9", crawler).await,
        204
    );

    let resp = c
        .send(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = String::from_utf8(body_bytes(resp).await).unwrap();
    let s = samples(&text);
    let get = |k: &str| s.get(k).copied().unwrap_or(-1.0);

    let received = get("spoor_events_received_total");
    let accepted = get("spoor_events_accepted_total");
    let deduplicated = get("spoor_events_deduplicated_total");
    let rejected = total(&s, "spoor_events_rejected_total");
    let failed = total(&s, "spoor_events_failed_total");
    let filtered = total(&s, "spoor_events_filtered_total");
    assert_eq!(
        received,
        accepted + deduplicated + rejected + failed + filtered,
        "{text}"
    );
    assert_eq!(
        (accepted, deduplicated, failed, filtered),
        (7.0, 1.0, 3.0, 2.0),
        "{text}"
    );
    // invalid_json 1 + unknown_site 2 + origin 1 + content_type 1 + body_too_large 1 +
    // rate_limited 1.
    assert_eq!(rejected, 7.0, "{text}");
    assert_eq!(received, 20.0, "{text}");
    assert_eq!(
        get("spoor_events_rejected_total{reason=\"unknown_site\"}"),
        2.0
    );
    assert_eq!(get("spoor_rate_limited_total"), 1.0);
    assert_eq!(
        get("spoor_events_failed_total{reason=\"invalid_event\"}"),
        3.0
    );
    assert_eq!(
        get("spoor_http_requests_total{route=\"/collect\",status=\"429\"}"),
        1.0
    );
    assert_eq!(
        get("spoor_http_requests_total{route=\"/collect\",status=\"204\"}"),
        6.0
    );
    assert_eq!(get("spoor_ingest_queue_depth"), 0.0);
    // Six requests were stored (8 events with the duplicate), in at most six commits.
    let commits = get("spoor_ingest_batch_events_count");
    assert!((1.0..=6.0).contains(&commits), "{text}");
    assert_eq!(get("spoor_ingest_batch_events_sum"), 8.0, "{text}");
    assert_eq!(get("spoor_ingest_commit_seconds_count"), commits);
    assert_eq!(
        c.column("SELECT CAST(count(*) AS TEXT) FROM events"),
        ["7"],
        "the store agrees with the counters"
    );
}

#[tokio::test]
async fn a_request_dropped_while_waiting_for_its_commit_is_counted_as_cancelled() {
    // The writer waits up to 1.5 s for company before committing, and the request is
    // dropped after 100 ms (as a request timeout or a client leaving would drop it).
    let c = TestCollector::start_with(|config| {
        config.ingest.batch_max_wait = std::time::Duration::from_millis(1500);
    })
    .await;
    let body = batch(&[
        event(&event_id(1), "pageview", PAGE, json!({})),
        event(&event_id(2), "pageview", PAGE, json!({})),
    ]);
    let dropped =
        tokio::time::timeout(std::time::Duration::from_millis(100), c.collect(&body, &[])).await;
    assert!(
        dropped.is_err(),
        "the request was still waiting for its commit"
    );

    let resp = c
        .send(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    let text = String::from_utf8(body_bytes(resp).await).unwrap();
    let s = samples(&text);
    assert_eq!(s["spoor_events_received_total"], 2.0, "{text}");
    assert_eq!(
        s["spoor_events_rejected_total{reason=\"cancelled\"}"], 2.0,
        "{text}"
    );
    assert_eq!(s["spoor_events_accepted_total"], 0.0, "{text}");
}
