//! `POST /collect` through the whole router, without sockets.

mod common;

use axum::http::StatusCode;
use common::*;

#[tokio::test]
async fn a_pageview_is_stored_and_acknowledged_with_a_signed_cookie() {
    let c = TestCollector::start().await;
    let resp = c
        .collect(&pageview(NOW_ID, "/pricing", Some("visitor-a")), &[])
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let cookie = set_cookie(&resp, "spoor_sid").expect("server cookie set");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http gets no Secure cookie"
    );
    // Acknowledged means committed: the row is in the file now.
    assert_eq!(c.column("SELECT visitor FROM events"), ["visitor-a"]);
    assert_eq!(c.column("SELECT evidence FROM events"), ["client-id"]);
    assert_eq!(c.column("SELECT path FROM events"), ["/pricing"]);
}

#[tokio::test]
async fn the_same_event_id_is_stored_once() {
    let c = TestCollector::start().await;
    for _ in 0..3 {
        let resp = c.collect(&pageview(NOW_ID, "/", Some("v")), &[]).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(c.column("SELECT count(*) || '' FROM events"), ["1"]);
}

#[tokio::test]
async fn the_server_cookie_carries_the_visitor_without_a_client_id() {
    let c = TestCollector::start().await;
    let first = c
        .collect(&pageview(&event_id(1), "/", Some("visitor-a")), &[])
        .await;
    let cookie = set_cookie(&first, "spoor_sid").unwrap();
    let pair = cookie.split(';').next().unwrap().to_string();
    let second = c
        .collect(&pageview(&event_id(2), "/next", None), &[("cookie", &pair)])
        .await;
    assert_eq!(second.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        c.column("SELECT visitor || ' ' || evidence FROM events ORDER BY path"),
        ["visitor-a client-id", "visitor-a server-cookie"]
    );
}

#[tokio::test]
async fn a_forged_cookie_is_ignored() {
    let c = TestCollector::start().await;
    let resp = c
        .collect(
            &pageview(&event_id(1), "/", None),
            &[("cookie", "spoor_sid=someone-else")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let evidence = c.column("SELECT visitor || ' ' || evidence FROM events");
    assert!(
        evidence[0].starts_with("fp_") && evidence[0].ends_with(" fingerprint"),
        "{evidence:?}"
    );
}

#[tokio::test]
async fn without_any_id_the_fingerprint_is_stable_and_no_ip_is_written() {
    let c = TestCollector::start().await;
    c.collect(&pageview(&event_id(1), "/", None), &[]).await;
    c.collect(&pageview(&event_id(2), "/", None), &[]).await;
    let visitors = c.column("SELECT DISTINCT visitor FROM events");
    assert_eq!(visitors.len(), 1);
    assert!(visitors[0].starts_with("fp_"));
    // The address must appear in no file of the database: main file, WAL or shared memory.
    for entry in std::fs::read_dir(c.db.parent().unwrap()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(CLIENT_IP), "raw IP found on disk");
    }
}

#[tokio::test]
async fn https_through_a_trusted_proxy_makes_the_cookie_secure() {
    let c = TestCollector::start_with(|cfg| {
        cfg.trusted_proxies = vec!["203.0.113.0/24".parse().unwrap()];
    })
    .await;
    let resp = c
        .collect(
            &pageview(&event_id(1), "/", Some("v")),
            &[("x-forwarded-proto", "https")],
        )
        .await;
    let cookie = set_cookie(&resp, "__Host-spoor_sid").expect("the __Host- cookie over https");
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(
        set_cookie(&resp, "spoor_sid").is_none(),
        "not the plain name as well"
    );

    // A later request carrying the __Host- cookie is recognised.
    let pair = cookie.split(';').next().unwrap().to_string();
    let next = c
        .collect(
            &pageview(&event_id(2), "/b", None),
            &[("x-forwarded-proto", "https"), ("cookie", &pair)],
        )
        .await;
    assert_eq!(next.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        c.column("SELECT visitor || ' ' || evidence FROM events WHERE path = '/b'"),
        ["v server-cookie"]
    );
}

#[tokio::test]
async fn bad_batches_get_a_400_with_a_reason_and_store_nothing() {
    let c = TestCollector::start().await;
    let cases = [
        ("{\"site\":", "invalid JSON"),
        (
            r#"{"site":"demo","events":[{"type":"pageview","screen":"1x1"}]}"#,
            "missing field",
        ),
        (&pageview("not-a-uuid", "/", None), "is not a UUID"),
    ];
    for (body, reason) in cases {
        let resp = c.collect(body, &[]).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
        let error = error_reason(resp).await;
        assert!(error.contains(reason), "{body}: {error}");
    }
    assert!(c.column("SELECT id FROM events").is_empty());
}

#[tokio::test]
async fn application_json_is_accepted_and_forms_are_not() {
    let c = TestCollector::start().await;
    let body = pageview(&event_id(1), "/", Some("v"));
    let json = c
        .collect(&body, &[("content-type", "application/json")])
        .await;
    assert_eq!(json.status(), StatusCode::NO_CONTENT);
    let form = c
        .collect(
            &body,
            &[("content-type", "application/x-www-form-urlencoded")],
        )
        .await;
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(error_reason(form).await.contains("text/plain"));
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413() {
    let c = TestCollector::start().await;
    let big = format!(
        r#"{{"site":"demo","events":[],"pad":"{}"}}"#,
        "x".repeat(70 * 1024)
    );
    let resp = c.collect(&big, &[]).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(error_reason(resp).await.contains("larger than"));
}
