//! Pages with an opaque origin (`Origin: null`: a sandboxed frame) through the router:
//! `/collect` and the beacon's files answer CORS for `null` without credentials, the batch
//! is stored only for pages on the site's hosts, never reads or sets the server cookie and
//! is counted in `/metrics`; `--refuse-opaque-origin` refuses all of it.

#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::*;
use serde_json::json;

/// A user agent of its own, so the opaque page's fingerprint is not the cookie owner's.
const FRAME_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) SpoorFrame/1.0";

fn page(n: u32, visitor: &str, url: &str) -> String {
    batch(&[event(
        &event_id(n),
        "pageview",
        url,
        json!({ "visitor": visitor }),
    )])
}

async fn metrics(c: &TestCollector) -> String {
    let resp = c
        .send(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    String::from_utf8(body_bytes(resp).await).unwrap()
}

async fn refusing() -> TestCollector {
    TestCollector::start_with(|c| c.refuse_opaque_origin = true).await
}

#[tokio::test]
async fn a_preflight_from_null_is_answered_without_credentials() {
    let c = TestCollector::start().await;
    let resp = c.send(preflight("null")).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let h = resp.headers();
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "null");
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_METHODS], "POST");
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_HEADERS], "content-type");
    assert!(
        h.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none(),
        "credentials are never allowed for null"
    );
    // A site's own origin still gets credentials.
    let own = c.send(preflight("http://localhost:8080")).await;
    assert_eq!(
        own.headers()[header::ACCESS_CONTROL_ALLOW_CREDENTIALS],
        "true"
    );
}

#[tokio::test]
async fn a_preflight_from_null_is_refused_when_opaque_origins_are() {
    let c = refusing().await;
    let resp = c.send(preflight("null")).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(
        resp.headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
    let own = c.send(preflight("http://localhost:8080")).await;
    assert_eq!(own.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_batch_from_null_is_stored_cookieless_and_counted() {
    let c = TestCollector::start().await;
    // A visitor with the collector's cookie, from a page of the site.
    let first = c
        .collect(&page(1, "v-1", "http://localhost:8080/a"), &[])
        .await;
    assert_eq!(first.status(), StatusCode::NO_CONTENT);
    let cookie = set_cookie(&first, "spoor_sid").expect("a cookie for a site's page");

    // The same browser's sandboxed frame: even if a cookie came along, it is not read.
    let resp = c
        .collect(
            &page(2, "v-2", "http://localhost:8080/framed"),
            &[
                ("origin", "null"),
                ("cookie", &cookie),
                ("user-agent", FRAME_UA),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let h = resp.headers();
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "null");
    assert!(
        h.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none(),
        "credentials are never allowed for null"
    );
    assert!(h.get_all(header::VARY).iter().any(|v| v == "origin"));
    assert!(
        h.get(header::SET_COOKIE).is_none(),
        "no cookie is set: {:?}",
        h.get_all(header::SET_COOKIE)
    );
    assert_eq!(
        c.row("SELECT path, visitor, evidence FROM events WHERE id LIKE '%2'"),
        [
            Some("/framed".to_string()),
            Some("v-2".into()),
            Some("client-id".into())
        ]
    );
    let linked =
        "SELECT kind FROM links WHERE (a = 'v-1' AND b = '{v}') OR (a = '{v}' AND b = 'v-1')";
    assert!(
        c.column(&linked.replace("{v}", "v-2")).is_empty(),
        "the cookie joined the frame's visitor to its owner"
    );

    // The control: the same request from the site's own page reads the cookie and links.
    let own = c
        .collect(
            &page(3, "v-3", "http://localhost:8080/own"),
            &[
                ("origin", "http://localhost:8080"),
                ("cookie", &cookie),
                ("user-agent", FRAME_UA),
            ],
        )
        .await;
    assert_eq!(own.status(), StatusCode::NO_CONTENT);
    assert!(
        !c.column(&linked.replace("{v}", "v-3")).is_empty(),
        "the control request was not linked through the cookie"
    );

    let text = metrics(&c).await;
    assert!(
        text.lines()
            .any(|l| l == "spoor_opaque_origin_batches_total 1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_batch_from_null_for_a_page_off_the_site_is_refused() {
    let c = TestCollector::start().await;
    let resp = c
        .collect(
            &page(1, "v-1", "https://evil.example/"),
            &[("origin", "null")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let reason = error_reason(resp).await;
    assert!(reason.contains("host \"evil.example\""), "{reason}");
    assert!(c.column("SELECT id FROM events").is_empty());
}

#[tokio::test]
async fn a_batch_from_null_is_refused_when_opaque_origins_are() {
    let c = refusing().await;
    let resp = c
        .collect(
            &page(1, "v-1", "http://localhost:8080/framed"),
            &[("origin", "null")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(
        resp.headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
    let reason = error_reason(resp).await;
    assert!(reason.contains("--refuse-opaque-origin"), "{reason}");
    assert!(c.column("SELECT id FROM events").is_empty());
    let text = metrics(&c).await;
    assert!(
        text.lines()
            .any(|l| l == "spoor_events_rejected_total{reason=\"opaque_origin\"} 1"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == "spoor_opaque_origin_batches_total 0"),
        "{text}"
    );
}

#[tokio::test]
async fn the_beacon_answers_cors_for_null_without_credentials_unless_refused() {
    for refuse in [false, true] {
        let c = TestCollector::start_with(|c| {
            c.beacon = None;
            c.refuse_opaque_origin = refuse;
        })
        .await;
        for uri in ["/spoor.js", "/spoor_bg.wasm"] {
            let resp = c
                .send(
                    Request::get(uri)
                        .header(header::ORIGIN, "null")
                        .body(Body::empty())
                        .unwrap(),
                )
                .await;
            assert_eq!(resp.status(), StatusCode::OK, "{uri}");
            let h = resp.headers();
            let allowed = h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN);
            if refuse {
                assert!(allowed.is_none(), "{uri}");
            } else {
                assert_eq!(allowed.unwrap(), "null", "{uri}");
            }
            assert!(h.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
            assert_eq!(h[header::VARY], "origin");
        }
    }
}
