//! Who may read reports and the dashboard: the admin token, or loopback when none is set.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode, header};
use common::*;

const LOOPBACK: &str = "127.0.0.1:50000";
const REMOTE: &str = "198.51.100.23:50000";

/// A collector without an admin token, with a dashboard page in its `www/`.
async fn open_collector() -> TestCollector {
    collector(false).await
}

/// A collector with the test admin token or (`token` false) without, with a dashboard page
/// in its `www/`.
async fn collector(token: bool) -> TestCollector {
    let c = TestCollector::start_with(|config| {
        if !token {
            config.admin_token = None;
        }
    })
    .await;
    with_dashboard(&c);
    c
}

fn with_dashboard(c: &TestCollector) {
    let dir = c.dir.path().join("www/dashboard");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<title>Spoor dashboard</title>").unwrap();
    std::fs::write(c.dir.path().join("www/index.html"), "<h1>demo</h1>").unwrap();
}

/// `GET uri` from `peer`, with `headers`, and nothing added.
async fn get_from(
    c: &TestCollector,
    uri: &str,
    peer: &str,
    headers: &[(&str, &str)],
) -> Response<Body> {
    let mut req = Request::get(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    c.send_as_is(req).await
}

#[tokio::test]
async fn without_a_token_loopback_reads_the_api_and_the_dashboard() {
    let c = open_collector().await;
    let r = get_from(&c, "/api/summary?site=demo", LOOPBACK, &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_body(r).await["site"], "demo");
    let r = get_from(&c, "/dashboard/", LOOPBACK, &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        String::from_utf8(body_bytes(r).await)
            .unwrap()
            .contains("Spoor dashboard")
    );
    let r = get_from(&c, "/dashboard", LOOPBACK, &[]).await;
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(r.headers()[header::LOCATION], "/dashboard/");
    let r = get_from(&c, "/api/summary?site=demo", "[::1]:40000", &[]).await;
    assert_eq!(r.status(), StatusCode::OK, "IPv6 loopback is local too");
}

#[tokio::test]
async fn without_a_token_other_clients_are_refused_with_a_reason() {
    let c = open_collector().await;
    for uri in [
        "/api/summary?site=demo",
        "/api/persons/v-1?site=demo",
        "/dashboard/",
        "/dashboard",
        "/%64ashboard/index.html",
        "//dashboard/index.html",
    ] {
        let r = get_from(&c, uri, REMOTE, &[]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{uri}");
        assert!(error_reason(r).await.contains("127.0.0.1"), "{uri}");
    }
}

/// Every report the query API answers (`docs/API.md`), as `(method, uri)`.
const REPORTS: &[(&str, &str)] = &[
    ("GET", "/api/sites"),
    ("GET", "/api/summary?site=demo"),
    ("GET", "/api/timeseries?site=demo"),
    ("GET", "/api/breakdown?site=demo&dimension=page"),
    ("GET", "/api/breakdown?site=demo&dimension=page&format=csv"),
    ("GET", "/api/realtime?site=demo"),
    ("GET", "/api/paths/transitions?site=demo&page=/"),
    ("GET", "/api/paths/flows?site=demo"),
    ("GET", "/api/funnel?site=demo&steps=page:/,page:/pricing"),
    ("GET", "/api/funnels?site=demo"),
    ("POST", "/api/funnels"),
    ("GET", "/api/visitors?site=demo"),
    ("GET", "/api/persons/v-1?site=demo"),
    ("DELETE", "/api/links/1"),
];

async fn call(
    c: &TestCollector,
    method: &str,
    uri: &str,
    peer: &str,
    auth: Option<&str>,
) -> StatusCode {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(auth) = auth {
        req = req.header(header::AUTHORIZATION, auth);
    }
    let body = if method == "POST" {
        req = req.header(header::CONTENT_TYPE, "application/json");
        Body::from(r#"{"site":"demo","name":"f","steps":["page:/","page:/pricing"]}"#)
    } else {
        Body::empty()
    };
    let mut req = req.body(body).unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    c.send_as_is(req).await.status()
}

#[tokio::test]
async fn every_report_is_behind_the_gate() {
    let open = open_collector().await;
    let gated = TestCollector::start().await;
    let right = format!("Bearer {ADMIN_TOKEN}");
    for (method, uri) in REPORTS {
        let s = call(&open, method, uri, REMOTE, None).await;
        assert_eq!(
            s,
            StatusCode::FORBIDDEN,
            "{method} {uri} from afar, no token set"
        );
        let s = call(&open, method, uri, LOOPBACK, None).await;
        assert!(
            s != StatusCode::FORBIDDEN && s != StatusCode::UNAUTHORIZED,
            "{method} {uri} from loopback: {s}"
        );
        let s = call(&gated, method, uri, LOOPBACK, None).await;
        assert_eq!(
            s,
            StatusCode::UNAUTHORIZED,
            "{method} {uri} without the token"
        );
        let s = call(&gated, method, uri, REMOTE, Some(&right)).await;
        assert!(
            s != StatusCode::FORBIDDEN && s != StatusCode::UNAUTHORIZED,
            "{method} {uri} with the token: {s}"
        );
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_decides() {
    let c = TestCollector::start_with(|config| {
        config.admin_token = None;
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let via_proxy = [("x-forwarded-for", "198.51.100.23")];
    let r = get_from(&c, "/api/summary?site=demo", LOOPBACK, &via_proxy).await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "a local proxy does not make its client local"
    );
    let r = get_from(&c, "/api/summary?site=demo", LOOPBACK, &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let forged = [("x-forwarded-for", "127.0.0.1")];
    let r = get_from(&c, "/api/summary?site=demo", REMOTE, &forged).await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "an untrusted peer cannot claim to be local"
    );
}

#[tokio::test]
async fn with_a_token_only_the_right_bearer_reads() {
    let c = TestCollector::start().await;
    with_dashboard(&c);
    let right = format!("Bearer {ADMIN_TOKEN}");
    for uri in ["/api/summary?site=demo", "/api/persons/v-1?site=demo"] {
        for peer in [LOOPBACK, REMOTE] {
            let r = get_from(&c, uri, peer, &[]).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{uri} from {peer}");
            assert!(
                r.headers()[header::WWW_AUTHENTICATE]
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer")
            );
            assert!(error_reason(r).await.contains("Authorization: Bearer"));

            let wrong = [("authorization", "Bearer test-admin-token-0123456788")];
            let r = get_from(&c, uri, peer, &wrong).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{uri} from {peer}");
            assert!(error_reason(r).await.contains("wrong"));

            let basic = [("authorization", "Basic dGVzdDp0ZXN0")];
            let r = get_from(&c, uri, peer, &basic).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{uri} from {peer}");

            let r = get_from(&c, uri, peer, &[("authorization", right.as_str())]).await;
            assert_ne!(r.status(), StatusCode::UNAUTHORIZED, "{uri} from {peer}");
            assert_ne!(r.status(), StatusCode::FORBIDDEN, "{uri} from {peer}");
        }
    }
    let lower = format!("bearer {ADMIN_TOKEN}");
    let r = get_from(
        &c,
        "/api/summary?site=demo",
        REMOTE,
        &[("authorization", &lower)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK, "the scheme is case-insensitive");
}

#[tokio::test]
async fn with_a_token_the_dashboard_files_load_anywhere_and_ask_for_it() {
    let c = TestCollector::start().await;
    with_dashboard(&c);
    for peer in [LOOPBACK, REMOTE] {
        let r = get_from(&c, "/dashboard/", peer, &[]).await;
        assert_eq!(r.status(), StatusCode::OK, "from {peer}");
        assert!(
            String::from_utf8(body_bytes(r).await)
                .unwrap()
                .contains("Spoor dashboard")
        );
    }
}

#[tokio::test]
async fn dashboard_pages_cannot_be_framed_or_load_foreign_code() {
    for token in [true, false] {
        let c = collector(token).await;
        let r = get_from(&c, "/dashboard/", LOOPBACK, &[]).await;
        assert_eq!(r.status(), StatusCode::OK, "token: {token}");
        let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert_eq!(r.headers()[header::X_FRAME_OPTIONS], "DENY");
        let home = get_from(&c, "/", REMOTE, &[]).await;
        assert!(
            home.headers()
                .get(header::CONTENT_SECURITY_POLICY)
                .is_none(),
            "the demo site is the site owner's business"
        );
    }
}

#[tokio::test]
async fn the_token_guards_deleting_links_too() {
    let c = TestCollector::start().await;
    let mut req = Request::delete("/api/links/1").body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(REMOTE.parse::<SocketAddr>().unwrap()));
    let r = c.send_as_is(req).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn collection_health_and_the_demo_site_stay_public() {
    for token in [true, false] {
        let c = collector(token).await;
        for uri in ["/healthz", "/"] {
            let r = get_from(&c, uri, REMOTE, &[]).await;
            assert_eq!(r.status(), StatusCode::OK, "{uri}, token: {token}");
        }
        let mut req = Request::post("/collect")
            .header(header::CONTENT_TYPE, "text/plain")
            .header(header::USER_AGENT, UA)
            .body(Body::from(pageview(&event_id(1), "/", Some("a"))))
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(REMOTE.parse::<SocketAddr>().unwrap()));
        let r = c.send_as_is(req).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "token: {token}");
    }
}
