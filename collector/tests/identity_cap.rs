//! The identity guard through the router: a client that keeps its server cookie but sends a
//! fresh beacon id with every event (or a batch full of them) gets at most
//! `max_ids_per_cookie` ids linked to the cookie's visitor a day. Its events are all still
//! counted, for the cookie's visitor; the ids beyond the cap are counted in `/metrics`
//! (`spoor_identity_links_capped_total`), and the cost of a request stays flat however
//! long the client keeps going.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, header};
use common::*;
use serde_json::{Value, json};

const CAP: u32 = 10;

async fn start() -> TestCollector {
    TestCollector::start_with(|c| {
        c.max_ids_per_cookie = CAP;
        // The flood below is one client; the rate limit is not what is under test.
        c.rate_limit.per_second = 0.0;
    })
    .await
}

/// Sends `events` with `cookie` (if any); returns the `spoor_sid` cookie set, as
/// `name=value`.
async fn send(c: &TestCollector, cookie: Option<&str>, events: &[Value]) -> Option<String> {
    let mut req = Request::post("/collect")
        .header(header::USER_AGENT, UA)
        .header(header::CONTENT_TYPE, "text/plain");
    if let Some(cookie) = cookie {
        req = req.header(header::COOKIE, cookie);
    }
    let resp = c.send(req.body(Body::from(batch(events))).unwrap()).await;
    assert_eq!(resp.status(), 204);
    set_cookie(&resp, "spoor_sid").map(|s| s.split(';').next().unwrap().to_string())
}

fn pageview_by(n: u32, visitor: &str) -> Value {
    event(
        &event_id(n),
        "pageview",
        "http://127.0.0.1:8080/",
        json!({ "visitor": visitor }),
    )
}

/// The value of metric `name` in `GET /metrics` (0 when absent).
fn client_id_links(c: &TestCollector, to: &str) -> usize {
    c.column(&format!(
        "SELECT a FROM links WHERE kind = 'client-id' AND b = '{to}'"
    ))
    .len()
}

/// A browser that has been seen as `home`: returns its cookie.
async fn home(c: &TestCollector) -> String {
    send(c, None, &[pageview_by(1, "home")]).await.unwrap()
}

#[tokio::test]
async fn a_fresh_id_per_event_links_only_the_cap_and_the_rest_is_counted() {
    let c = start().await;
    let cookie = home(&c).await;
    let extra = 50;
    for i in 0..CAP + extra {
        let kept = send(
            &c,
            Some(&cookie),
            &[pageview_by(100 + i, &format!("fresh-{i}"))],
        )
        .await;
        assert_eq!(
            kept.as_deref(),
            Some(cookie.as_str()),
            "the cookie keeps naming home"
        );
    }
    assert_eq!(client_id_links(&c, "home"), CAP as usize);
    assert_eq!(
        c.metric("spoor_identity_links_capped_total").await,
        f64::from(extra)
    );
    // Every event was stored, each for the cookie's visitor.
    assert_eq!(
        c.column("SELECT DISTINCT visitor FROM events"),
        ["home"],
        "counted for the cookie's visitor, not for a visitor per id"
    );
    assert_eq!(
        c.column("SELECT count(*) || '' FROM events"),
        [(1 + CAP + extra).to_string()]
    );
    let (status, person) = c.get_json("/api/persons/home?site=demo").await;
    assert_eq!(status, 200, "{person}");
    assert_eq!(
        person["visitors"].as_array().map(Vec::len),
        Some(1 + CAP as usize),
        "the person is home and the ids linked before the cap"
    );
}

#[tokio::test]
async fn a_batch_of_fresh_ids_does_not_pass_the_cap_either() {
    let c = start().await;
    let cookie = home(&c).await;
    let events: Vec<Value> = (0..30)
        .map(|i| pageview_by(100 + i, &format!("fresh-{i}")))
        .collect();
    send(&c, Some(&cookie), &events).await;
    assert_eq!(client_id_links(&c, "home"), CAP as usize);
    assert_eq!(c.metric("spoor_identity_links_capped_total").await, 20.0);
    // The next request reads the stored counter: still nothing more.
    send(&c, Some(&cookie), &[pageview_by(999, "one-more")]).await;
    assert_eq!(client_id_links(&c, "home"), CAP as usize);
    assert_eq!(c.metric("spoor_identity_links_capped_total").await, 21.0);
}

#[tokio::test]
async fn an_honest_browser_with_a_second_id_is_linked_once_and_never_capped() {
    let c = start().await;
    let cookie = home(&c).await;
    for i in 0..3 * CAP {
        send(&c, Some(&cookie), &[pageview_by(100 + i, "second-id")]).await;
    }
    assert_eq!(client_id_links(&c, "home"), 1);
    assert_eq!(c.metric("spoor_identity_links_capped_total").await, 0.0);
}

#[tokio::test]
async fn the_cost_of_a_request_stays_flat_as_the_flood_goes_on() {
    let c = start().await;
    let cookie = home(&c).await;
    let rounds = 400u32;
    let window = 50usize;
    let mut took = Vec::with_capacity(rounds as usize);
    for i in 0..rounds {
        let started = Instant::now();
        send(
            &c,
            Some(&cookie),
            &[pageview_by(100 + i, &format!("fresh-{i}"))],
        )
        .await;
        took.push(started.elapsed());
    }
    let mean = |d: &[Duration]| d.iter().sum::<Duration>() / d.len() as u32;
    // The first window after the cap against the last one.
    let first = mean(&took[CAP as usize..CAP as usize + window]);
    let last = mean(&took[took.len() - window..]);
    println!(
        "mean /collect after the cap: first {window} {first:?}, last {window} {last:?}, ratio {:.2}",
        last.as_secs_f64() / first.as_secs_f64()
    );
    // Structurally flat: the person did not grow, and the guard's memory is one row.
    assert_eq!(client_id_links(&c, "home"), CAP as usize);
    assert_eq!(
        c.column("SELECT visitor || ' ' || ids FROM cookie_ids"),
        [format!("home {CAP}")]
    );
    assert_eq!(
        c.metric("spoor_identity_links_capped_total").await,
        f64::from(rounds - CAP)
    );
}
