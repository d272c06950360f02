//! Sites and CORS through the router: only configured sites, their hostnames and their
//! origins are accepted, and CORS answers only those origins, never `*` (and `null`
//! without credentials, see `opaque_origin.rs`).

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::{StatusCode, header};
use common::*;
use serde_json::json;

fn page(n: u32, url: &str) -> serde_json::Value {
    event(&event_id(n), "pageview", url, json!({}))
}

fn for_site(site: &str, events: &[serde_json::Value]) -> String {
    json!({"site": site, "events": events}).to_string()
}

async fn shop() -> TestCollector {
    TestCollector::start_with(|config| {
        config.sites = "demo=localhost,127.0.0.1;shop=shop.example,*.shop.example"
            .parse()
            .unwrap();
    })
    .await
}

#[tokio::test]
async fn an_unknown_site_is_refused_with_a_reason() {
    let c = shop().await;
    let resp = c
        .collect(&for_site("blog", &[page(1, "https://shop.example/")]), &[])
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(
        error_reason(resp)
            .await
            .contains("\"blog\" is not a configured site")
    );
    assert!(c.column("SELECT id FROM events").is_empty());
}

#[tokio::test]
async fn a_page_on_another_host_is_refused() {
    let c = shop().await;
    let resp = c
        .collect(&for_site("shop", &[page(1, "https://evil.example/")]), &[])
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let reason = error_reason(resp).await;
    assert!(
        reason.contains("events[0].url: host \"evil.example\""),
        "{reason}"
    );
    let ok = c
        .collect(
            &for_site("shop", &[page(2, "https://www.shop.example/a")]),
            &[],
        )
        .await;
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    assert_eq!(c.column("SELECT site FROM events"), ["shop"]);
}

#[tokio::test]
async fn a_foreign_origin_is_refused_and_gets_no_cors_headers() {
    let c = shop().await;
    let body = for_site("shop", &[page(1, "https://shop.example/")]);
    let resp = c
        .collect(&body, &[("origin", "https://evil.example")])
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(
        resp.headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
    assert!(error_reason(resp).await.contains("origin"));
    // Another configured site's origin is not this site's either.
    let resp = c
        .collect(&body, &[("origin", "http://localhost:8080")])
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    let resp = c
        .collect(&body, &[("origin", "https://shop.example")])
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let h = resp.headers();
    assert_eq!(
        h[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://shop.example"
    );
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    assert!(h.get_all(header::VARY).iter().any(|v| v == "origin"));
}

#[tokio::test]
async fn preflights_are_answered_for_configured_origins_only() {
    let c = shop().await;
    let ok = c.send(preflight("https://www.shop.example")).await;
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    let h = ok.headers();
    assert_eq!(
        h[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://www.shop.example"
    );
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_METHODS], "POST");
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_HEADERS], "content-type");

    // `null` (an opaque origin) is answered without credentials: tests/opaque_origin.rs.
    for origin in ["https://evil.example", "*"] {
        let no = c.send(preflight(origin)).await;
        assert_eq!(no.status(), StatusCode::FORBIDDEN, "{origin}");
        assert!(
            no.headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none(),
            "{origin}"
        );
    }
}
