//! Bot traffic through the router: crawlers, announced headless browsers and batches the
//! beacon did not send are answered `204`, stored nowhere, and get no cookie; with
//! `keep_bots` they are stored like any other.

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;

const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
const HEADLESS: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36";

fn without_screen(n: u32) -> String {
    let mut e = event(
        &event_id(n),
        "pageview",
        "http://127.0.0.1:8080/",
        json!({}),
    );
    e.as_object_mut().unwrap().remove("screen");
    batch(&[e])
}

#[tokio::test]
async fn bots_are_answered_204_and_neither_stored_nor_given_a_cookie() {
    let c = TestCollector::start().await;
    let cases = [
        (pageview(&event_id(1), "/", None), GOOGLEBOT),
        (pageview(&event_id(2), "/", None), HEADLESS),
        (pageview(&event_id(3), "/", None), ""),
        (without_screen(4), UA),
    ];
    for (body, ua) in cases {
        let resp = c.collect(&body, &[("user-agent", ua)]).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT, "{ua}");
        assert!(set_cookie(&resp, "spoor_sid").is_none(), "{ua}");
    }
    assert!(c.column("SELECT id FROM events").is_empty());
    let text = String::from_utf8(
        body_bytes(
            c.send(
                axum::http::Request::get("/metrics")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await,
        )
        .await,
    )
    .unwrap();
    for line in [
        "spoor_events_filtered_total{reason=\"crawler\"} 1",
        "spoor_events_filtered_total{reason=\"headless\"} 1",
        "spoor_events_filtered_total{reason=\"no_user_agent\"} 1",
        "spoor_events_filtered_total{reason=\"no_beacon\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
}

#[tokio::test]
async fn keep_bots_stores_them() {
    let c = TestCollector::start_with(|config| config.keep_bots = true).await;
    let resp = c
        .collect(
            &pageview(&event_id(1), "/", None),
            &[("user-agent", HEADLESS)],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = c.collect(&without_screen(2), &[]).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(c.column("SELECT id FROM events").len(), 2);
}
