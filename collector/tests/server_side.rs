//! Server-side clients: a batch without the beacon's `screen` sent to `/collect` is still
//! dropped as not the beacon's, but the answer now says so; `POST /ingest` with the site's
//! key stores it, with the browser's address and user agent used (the address never
//! stored) and the site's user linked as a verified login; without the key, or with a
//! wrong one, `401` with the reason.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, header};
use common::{CLIENT_IP, TestCollector, error_reason, event_id, json_body, now_ms};
use serde_json::{Value, json};
use spoor_collector::enrich::geo::GeoIp;
use spoor_collector::site_secrets::SiteSecrets;

const KEY: &str = "server-side-key-0123456789";
/// The browser a server acts for: not the test client's address (203.0.113.77), in the
/// AU range of the GeoIP table.
const BROWSER_IP: &str = "198.51.100.23";
const BROWSER_UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

async fn collector() -> TestCollector {
    TestCollector::start_with(|c| {
        c.ingest_keys = SiteSecrets::parse(&format!("demo={KEY}")).unwrap();
        c.geoip = Some(Arc::new(
            GeoIp::parse("198.51.100.0,198.51.100.255,AU\n203.0.113.0,203.0.113.255,NZ\n").unwrap(),
        ));
    })
    .await
}

/// A server-side event: no `screen`, with `fields` added.
fn server_event(n: u32, fields: Value) -> Value {
    let mut e = json!({
        "id": event_id(n), "type": "pageview", "url": "http://localhost/pricing",
        "title": "Pricing", "ts": now_ms(),
    });
    for (k, v) in fields.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

fn body(events: &[Value]) -> String {
    json!({"site": "demo", "events": events}).to_string()
}

async fn ingest(
    c: &TestCollector,
    body: &str,
    auth: Option<(&str, &str)>,
) -> axum::http::Response<Body> {
    let mut req = Request::post("/ingest")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, "site-backend/1.0");
    if let Some((name, value)) = auth {
        req = req.header(name, value);
    }
    // `send_as_is`: the admin token must not stand in for the ingest key.
    c.send_as_is(req.body(Body::from(body.to_string())).unwrap())
        .await
}

#[tokio::test]
async fn a_server_batch_sent_to_collect_is_dropped_with_the_reason_in_the_answer() {
    let c = collector().await;
    let batch = body(&[server_event(1, json!({"visitor": "v-1"}))]);
    let resp = c
        .collect(&batch, &[("user-agent", "site-backend/1.0")])
        .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(resp.headers()["x-spoor-dropped"], "no_beacon");
    assert!(c.column("SELECT id FROM events").is_empty());
    let dropped = c
        .metric("spoor_events_filtered_total{reason=\"no_beacon\"}")
        .await;
    assert_eq!(dropped, 1.0);
    // A crawler's batch names its reason too.
    let resp = c
        .collect(
            &batch,
            &[(
                "user-agent",
                "Googlebot/2.1 (+http://www.google.com/bot.html)",
            )],
        )
        .await;
    assert_eq!(resp.headers()["x-spoor-dropped"], "crawler");
}

#[tokio::test]
async fn without_the_right_key_ingest_is_401_with_the_reason() {
    let c = collector().await;
    let batch = body(&[server_event(1, json!({"visitor": "v-1"}))]);
    let resp = ingest(&c, &batch, None).await;
    assert_eq!(resp.status(), 401);
    assert!(error_reason(resp).await.contains("ingest key"));
    for auth in [
        ("authorization", "Bearer wrong-key-0123456789ab"),
        ("x-spoor-key", "server-side-key-012345678"),
        ("authorization", "Bearer "),
    ] {
        let resp = ingest(&c, &batch, Some(auth)).await;
        assert_eq!(resp.status(), 401, "{auth:?}");
    }
    // A site without a key of its own cannot be written with another site's.
    let other = TestCollector::start().await;
    let resp = ingest(&other, &batch, Some(("x-spoor-key", KEY))).await;
    assert_eq!(resp.status(), 401);
    assert!(error_reason(resp).await.contains("has no ingest key"));
    assert!(c.column("SELECT id FROM events").is_empty());
    assert_eq!(
        c.metric("spoor_events_rejected_total{reason=\"ingest_key\"}")
            .await,
        4.0
    );
}

#[tokio::test]
async fn with_the_key_events_are_stored_with_the_browsers_address_and_agent() {
    let c = collector().await;
    let events = [
        // The site's own visitor id and logged-in user.
        server_event(
            1,
            json!({"visitor": "site-v-1", "ip": BROWSER_IP, "user_agent": BROWSER_UA, "user_id": "alice"}),
        ),
        // Only the site's login session: a stable visitor derived from it.
        server_event(
            2,
            json!({"session": "sess-42", "ip": BROWSER_IP, "user_agent": BROWSER_UA}),
        ),
        server_event(
            3,
            json!({"session": "sess-42", "ip": BROWSER_IP, "user_agent": BROWSER_UA}),
        ),
        // Only the address: the daily network fingerprint.
        server_event(4, json!({"ip": BROWSER_IP, "user_agent": BROWSER_UA})),
    ];
    let resp = ingest(
        &c,
        &body(&events),
        Some(("authorization", &format!("Bearer {KEY}"))),
    )
    .await;
    assert_eq!(resp.status(), 204);
    let visitors = c.column("SELECT visitor FROM events ORDER BY ts, id");
    assert_eq!(visitors[0], "site-v-1");
    assert!(
        visitors[1].starts_with("ss_") && visitors[1] == visitors[2],
        "{visitors:?}"
    );
    assert!(!visitors[1].contains("sess-42"));
    assert!(visitors[3].starts_with("fp_"), "{visitors:?}");
    // The browser's agent and country, not the backend's or the test client's.
    let sessions = c
        .column("SELECT browser || ' ' || device || ' ' || country FROM sessions ORDER BY visitor");
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    assert!(
        sessions.iter().all(|s| s == "Chrome desktop AU"),
        "{sessions:?}"
    );
    // The site's user, linked as verified: the key proves the site said so.
    assert_eq!(
        c.column("SELECT a || ' ' || b || ' ' || verified FROM links WHERE kind = 'login'"),
        ["site-v-1 user:alice 1"]
    );
    let (status, export) = c.get_json("/api/export?site=demo&user=alice").await;
    assert_eq!(status, 200);
    assert_eq!(export["visitors"], json!(["site-v-1"]));
    assert_eq!(export["evidence"], json!(["verified-login"]));
    // The address was used, never stored.
    let wal = c.db.with_extension("db-wal");
    let mut file = std::fs::read(&c.db).unwrap();
    file.extend(std::fs::read(&wal).unwrap_or_default());
    assert!(
        file.windows(8).any(|w| w == b"site-v-1"),
        "the files read are the store"
    );
    // Nor was the site's login session id, which may be a live credential.
    for secret in [BROWSER_IP, CLIENT_IP, "sess-42"] {
        assert!(
            !file.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} stored"
        );
    }

    // The other header works too; an event without any visitor evidence fails alone.
    let events = [
        server_event(5, json!({"visitor": "site-v-2"})),
        server_event(6, json!({"user_agent": BROWSER_UA})),
    ];
    let resp = ingest(&c, &body(&events), Some(("x-spoor-key", KEY))).await;
    assert_eq!(resp.status(), 200);
    let answer = json_body(resp).await;
    assert_eq!(answer["stored"], 1);
    let reason = answer["failed"][0]["error"].as_str().unwrap();
    assert!(reason.contains("needs visitor, session or ip"), "{reason}");
    let resp = ingest(
        &c,
        &body(&[server_event(7, json!({"visitor": "v", "ip": "not-an-ip"}))]),
        Some(("x-spoor-key", KEY)),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(
        error_reason(resp)
            .await
            .starts_with("events[0].ip: not an IPv4")
    );
}

#[tokio::test]
async fn server_side_urls_are_cut_like_the_beacons() {
    let c = collector().await;
    let mut event = server_event(
        1,
        json!({"visitor": "site-v-2", "ip": BROWSER_IP, "user_agent": BROWSER_UA}),
    );
    event["url"] = json!("http://localhost/account?email=a@b.c&token=xyz&utm_source=news#frag");
    let resp = ingest(
        &c,
        &body(&[event]),
        Some(("authorization", &format!("Bearer {KEY}"))),
    )
    .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(
        c.column("SELECT url FROM events"),
        ["http://localhost/account?utm_source=news"]
    );
}
