//! The query API and static routes, without sockets.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::*;

#[tokio::test]
async fn summary_counts_pageviews_visitors_and_sessions_per_site() {
    let c = TestCollector::start().await;
    let r = c
        .collect(&pageview(&event_id(1), "/", Some("a")), &[])
        .await;
    assert_eq!(
        r.status(),
        StatusCode::NO_CONTENT,
        "{:?}",
        json_body(r).await
    );
    c.collect(&pageview(&event_id(2), "/pricing", Some("a")), &[])
        .await;
    c.collect(&pageview(&event_id(3), "/", Some("b")), &[])
        .await;
    let (status, json) = c.get_json("/api/summary?site=demo").await;
    assert_eq!(status, 200);
    assert_eq!(json["site"], "demo");
    assert_eq!(json["pageviews"], 3);
    assert_eq!(json["visitors"], 2);
    // Server sessions: visitor a's two page views are one visit, b's one is another.
    assert_eq!(json["sessions"], 2);
    assert_eq!(
        json["bounce_rate"], 0.5,
        "b viewed one page and did nothing else"
    );
    assert!(json["mean_duration_ms"].is_u64());
    let (_, other) = c.get_json("/api/summary?site=other").await;
    assert_eq!(other["pageviews"], 0);
    assert_eq!(other["sessions"], 0);
    assert_eq!(other["bounce_rate"], 0.0);
    assert_eq!(other["mean_duration_ms"], 0);
}

#[tokio::test]
async fn summary_needs_a_site() {
    let c = TestCollector::start().await;
    let (status, json) = c.get_json("/api/summary").await;
    assert_eq!(status, 400);
    assert!(json["error"].as_str().unwrap().contains("site"));
}

#[tokio::test]
async fn the_beacon_is_served_with_its_media_types_and_the_site_from_www() {
    let c = TestCollector::start().await;
    let root = c.dir.path();
    std::fs::write(root.join("beacon/spoor.js"), "export default 1;").unwrap();
    std::fs::write(root.join("beacon/spoor_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(root.join("www/index.html"), "<h1>home</h1>").unwrap();
    for (path, media) in [
        ("/spoor_bg.wasm", "application/wasm"),
        ("/spoor.js", "javascript"),
        ("/", "text/html"),
    ] {
        let resp = c
            .send(Request::get(path).body(Body::empty()).unwrap())
            .await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let ct = resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        assert!(ct.contains(media), "{path}: {ct}");
    }
    let missing = c
        .send(Request::get("/nope.html").body(Body::empty()).unwrap())
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn healthz_answers_ok() {
    let c = TestCollector::start().await;
    let resp = c
        .send(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(body_bytes(resp).await, b"ok\n");
}
