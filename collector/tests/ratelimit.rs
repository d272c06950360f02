//! The per-client rate limit through the router: `429` with `Retry-After` once a client's
//! burst is spent, keyed by the resolved client address, so a spoofed `X-Forwarded-For`
//! from an untrusted peer changes nothing while a trusted proxy's clients count apart.

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::{StatusCode, header};
use common::*;

async fn limited(trusted: bool) -> TestCollector {
    TestCollector::start_with(|config| {
        config.rate_limit.per_second = 0.001;
        config.rate_limit.burst = 2;
        if trusted {
            config.trusted_proxies = vec![format!("{CLIENT_IP}/32").parse().unwrap()];
        }
    })
    .await
}

#[tokio::test]
async fn a_spent_burst_gets_429_and_a_spoofed_forwarded_for_does_not_reset_it() {
    let c = limited(false).await;
    for n in 0..2 {
        let spoof = format!("198.51.100.{n}");
        let resp = c
            .collect(
                &pageview(&event_id(n), "/", None),
                &[("x-forwarded-for", &spoof)],
            )
            .await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    }
    let resp = c
        .collect(
            &pageview(&event_id(3), "/", None),
            &[("x-forwarded-for", "198.51.100.99")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u32 = resp.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1, "{retry}");
    assert!(error_reason(resp).await.contains("too many requests"));
    assert_eq!(c.column("SELECT id FROM events").len(), 2);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket() {
    let c = limited(true).await;
    let c = &c;
    let send = |n: u32, client: &'static str| async move {
        let body = pageview(&event_id(n), "/", None);
        c.collect(&body, &[("x-forwarded-for", client)])
            .await
            .status()
    };
    assert_eq!(send(1, "198.51.100.1").await, StatusCode::NO_CONTENT);
    assert_eq!(send(2, "198.51.100.1").await, StatusCode::NO_CONTENT);
    assert_eq!(send(3, "198.51.100.1").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(send(4, "198.51.100.2").await, StatusCode::NO_CONTENT);
    // Same /64: the same client.
    assert_eq!(send(5, "2001:db8::1").await, StatusCode::NO_CONTENT);
    assert_eq!(send(6, "2001:db8::2").await, StatusCode::NO_CONTENT);
    assert_eq!(send(7, "2001:db8::3").await, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_limited_client_is_refused_before_its_body_is_read() {
    let c = limited(false).await;
    for n in 0..2 {
        let resp = c.collect(&pageview(&event_id(n), "/", None), &[]).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    }
    // Over the body limit as well: the rate limit answers first, so the body is not read.
    let huge = format!(r#"{{"pad":"{}"}}"#, "x".repeat(1 << 20));
    let resp = c.collect(&huge, &[]).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
}
