//! Fault test 5, hostile input: a corpus of malformed bodies through the whole router, each
//! answered with its documented 4xx and a JSON reason, nothing stored, and the collector
//! still serving afterwards. (The parsers' property tests live next to them: `payload`,
//! `payload::limits`, `extract::forwarded`, `identity::server_cookie`.)

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::*;
use serde_json::json;

fn good_event(n: u32) -> serde_json::Value {
    event(
        &event_id(n),
        "pageview",
        "http://127.0.0.1:8080/",
        json!({}),
    )
}

#[tokio::test]
async fn every_malformed_body_gets_its_documented_4xx() {
    let c = TestCollector::start().await;
    let good = serde_json::to_string(&good_event(1)).unwrap();
    let truncated = batch(&[good_event(2)]);
    let truncated = &truncated[..truncated.len() / 2];
    let mut invalid_utf8 = br#"{"site":"demo","events":["#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0x80]);
    invalid_utf8.extend_from_slice(b"]}");
    let deep = format!(
        r#"{{"site":"demo","events":[{}{}]}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let ten_thousand = batch(&(0..10_000).map(good_event).collect::<Vec<_>>());
    let ten_mb = format!(
        r#"{{"site":"demo","events":[],"pad":"{}"}}"#,
        "x".repeat(10 << 20)
    );
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "empty body",
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid JSON",
        ),
        (
            "truncated JSON",
            truncated.as_bytes().to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid JSON",
        ),
        (
            "wrong type for events",
            br#"{"site":"demo","events":{"a":1}}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid JSON",
        ),
        (
            "wrong type for site",
            br#"{"site":42,"events":[]}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid JSON",
        ),
        (
            "a top-level array",
            format!("[{good}]").into_bytes(),
            StatusCode::BAD_REQUEST,
            "invalid JSON",
        ),
        (
            "huge number",
            format!(
                r#"{{"site":"demo","events":[{}]}}"#,
                good.replace(r#""ts":"#, r#""ts":1e999999,"x":"#)
            )
            .into_bytes(),
            StatusCode::BAD_REQUEST,
            "invalid JSON",
        ),
        (
            "ts beyond i64",
            batch(&[event(
                &event_id(3),
                "pageview",
                "http://127.0.0.1:8080/",
                json!({"ts": u64::MAX}),
            )])
            .into_bytes(),
            StatusCode::BAD_REQUEST,
            "events[0]",
        ),
        (
            "invalid UTF-8",
            invalid_utf8,
            StatusCode::BAD_REQUEST,
            "invalid JSON",
        ),
        (
            "deeply nested arrays",
            deep.into_bytes(),
            StatusCode::BAD_REQUEST,
            "nested deeper than 8",
        ),
        (
            "ten thousand events",
            ten_thousand.into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than 65536",
        ),
        (
            "a 10 MB body",
            ten_mb.into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than 65536",
        ),
        (
            "101 events",
            batch(&(0..101).map(good_event).collect::<Vec<_>>()).into_bytes(),
            StatusCode::BAD_REQUEST,
            "at most 100 allowed",
        ),
        (
            "null events",
            br#"{"site":"demo","events":null}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid JSON",
        ),
    ];
    for (name, body, status, reason) in cases {
        let req = Request::post("/collect")
            .header(header::USER_AGENT, UA)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from(body))
            .unwrap();
        let resp = c.send(req).await;
        assert_eq!(resp.status(), status, "{name}");
        let got = error_reason(resp).await;
        assert!(got.contains(reason), "{name}: got {got:?}, want {reason:?}");
    }
    assert!(c.column("SELECT id FROM events").is_empty());
    let ok = c.collect(&batch(&[good_event(9)]), &[]).await;
    assert_eq!(ok.status(), StatusCode::NO_CONTENT, "still serving");
}

#[tokio::test]
async fn configured_limits_apply() {
    let c = TestCollector::start_with(|config| {
        config.limits.max_body_bytes = 2048;
        config.limits.max_events = 2;
        config.limits.max_url_bytes = 40;
        config.limits.max_props = 1;
    })
    .await;
    let three = batch(&(0..3).map(good_event).collect::<Vec<_>>());
    let resp = c.collect(&three, &[]).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(error_reason(resp).await.contains("at most 2 allowed"));

    let long_url = format!("http://127.0.0.1:8080/{}", "a".repeat(40));
    let resp = c
        .collect(
            &batch(&[event(&event_id(5), "pageview", &long_url, json!({}))]),
            &[],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(
        error_reason(resp)
            .await
            .contains("url: longer than 40 bytes")
    );

    let props = json!({"name": "n", "props": {"a": 1, "b": 2}});
    let resp = c
        .collect(
            &batch(&[event(
                &event_id(6),
                "custom",
                "http://127.0.0.1:8080/",
                props,
            )]),
            &[],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(error_reason(resp).await.contains("at most 1 allowed"));

    let big = format!(
        r#"{{"site":"demo","events":[],"pad":"{}"}}"#,
        "x".repeat(3000)
    );
    let resp = c.collect(&big, &[]).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(error_reason(resp).await.contains("larger than 2048"));
}

#[tokio::test]
async fn timestamps_far_in_the_past_or_future_are_refused() {
    let c = TestCollector::start_with(|config| {
        config.limits.max_event_age_ms = 3_600_000;
        config.limits.max_clock_ahead_ms = 60_000;
    })
    .await;
    for (n, ts) in [(1, now_ms() - 2 * 3_600_000), (2, now_ms() + 120_000)] {
        let e = event(
            &event_id(n),
            "pageview",
            "http://127.0.0.1:8080/",
            json!({"ts": ts}),
        );
        let resp = c.collect(&batch(&[e]), &[]).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{ts}");
        assert!(error_reason(resp).await.contains("events[0].ts"));
    }
    let e = event(
        &event_id(3),
        "pageview",
        "http://127.0.0.1:8080/",
        json!({"ts": now_ms() - 1_800_000}),
    );
    assert_eq!(
        c.collect(&batch(&[e]), &[]).await.status(),
        StatusCode::NO_CONTENT
    );
}
