//! Page views from the loader's no-wasm fallback (`nowasm`) through the router: stored
//! for the cookieless visitor with their reason, counted in `/metrics` by reason, and
//! summed per reason in `/api/summary` for the dashboard's notice.

#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::Request;
use common::*;
use serde_json::json;

const PAGE: &str = "http://127.0.0.1:8080/pricing";

/// A page view as `beacon/js/loader.js` sends it when the wasm could not run: no visitor,
/// no session, the screen, and why.
fn fallback(n: u32, nowasm: serde_json::Value) -> serde_json::Value {
    event(
        &event_id(n),
        "pageview",
        PAGE,
        json!({"visitor": null, "session": null, "nowasm": nowasm}),
    )
}

#[tokio::test]
async fn fallback_page_views_are_stored_counted_and_summed_by_reason() {
    let c = TestCollector::start().await;
    let events = [
        fallback(1, json!("csp")),
        fallback(2, json!("csp")),
        fallback(3, json!("CompileError")),
        fallback(4, json!("x".repeat(500))),
        // The beacon's own page view, and a custom event that claims the mark.
        event(&event_id(5), "pageview", PAGE, json!({})),
        event(
            &event_id(6),
            "custom",
            PAGE,
            json!({"name": "signup", "nowasm": "csp"}),
        ),
    ];
    // One request each, as the loader sends them, without a cookie.
    for e in &events {
        let resp = c.collect(&batch(std::slice::from_ref(e)), &[]).await;
        assert_eq!(resp.status().as_u16(), 204);
    }

    let stored = c.column(
        "SELECT substr(id, -1) || ':' || coalesce(fallback, '-') || ':' || evidence
         FROM events ORDER BY id",
    );
    assert_eq!(
        stored,
        [
            "1:csp:fingerprint",
            "2:csp:fingerprint",
            "3:compile:fingerprint",
            "4:error:fingerprint",
            "5:-:client-id",
            "6:-:client-id",
        ]
    );

    let resp = c
        .send(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    let metrics = String::from_utf8(body_bytes(resp).await).unwrap();
    for line in [
        "spoor_fallback_pageviews_total{reason=\"csp\"} 2",
        "spoor_fallback_pageviews_total{reason=\"compile\"} 1",
        "spoor_fallback_pageviews_total{reason=\"error\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }
    assert!(
        metrics.contains("spoor_events_accepted_total 6"),
        "{metrics}"
    );

    let (status, summary) = c.get_json("/api/summary?site=demo").await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(
        summary["fallback"],
        json!([
            {"reason": "csp", "pageviews": 2},
            {"reason": "compile", "pageviews": 1},
            {"reason": "error", "pageviews": 1},
        ])
    );
    assert_eq!(
        summary["pageviews"], 5,
        "fallback page views count as page views"
    );
}

#[tokio::test]
async fn a_summary_without_fallbacks_has_an_empty_list() {
    let c = TestCollector::start().await;
    let resp = c
        .collect(&pageview(&event_id(1), "/", Some("v-1")), &[])
        .await;
    assert_eq!(resp.status().as_u16(), 204);
    let (status, summary) = c.get_json("/api/summary?site=demo").await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["fallback"], json!([]));
}
