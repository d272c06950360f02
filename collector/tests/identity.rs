//! Identity through the router: the NAT guard and its withdrawal, logins across devices,
//! strict and inclusive persons, undoing a link, reset, and cookies that are not ours.

// The helpers below panic on broken fixtures, as test functions do.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use common::*;
use serde_json::{Value, json};

const OFFICE: &str = "198.51.100.10";
const HOME: &str = "198.51.100.20";

/// A client: its address and the server cookie it holds (`name=value`), if any.
struct Browser {
    ip: &'static str,
    cookie: Option<String>,
}

impl Browser {
    fn at(ip: &'static str) -> Browser {
        Browser { ip, cookie: None }
    }

    /// Sends one event with `fields` from this browser and keeps the cookie it gets back.
    async fn send(&mut self, c: &TestCollector, n: u32, fields: Value) -> StatusCode {
        let body = batch(&[event(
            &event_id(n),
            "pageview",
            "http://127.0.0.1:8080/",
            fields,
        )]);
        let addr = SocketAddr::new(self.ip.parse().unwrap(), 40000);
        let mut req = Request::post("/collect")
            .header(header::USER_AGENT, UA)
            .header(header::CONTENT_TYPE, "text/plain");
        if let Some(cookie) = &self.cookie {
            req = req.header(header::COOKIE, cookie.as_str());
        }
        let mut req = req.body(Body::from(body)).unwrap();
        req.extensions_mut().insert(ConnectInfo(addr));
        let resp = c.send(req).await;
        if let Some(set) = set_cookie(&resp, "spoor_sid") {
            self.cookie = Some(set.split(';').next().unwrap().to_string());
        }
        resp.status()
    }
}

async fn persons(c: &TestCollector, mode: &str) -> u64 {
    let (status, body) = c
        .get_json(&format!("/api/summary?site=demo&identity={mode}"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["persons"].as_u64().unwrap()
}

fn links(c: &TestCollector) -> Vec<String> {
    c.column("SELECT a || ' ' || b || ' ' || kind || ' ' || active FROM links ORDER BY id")
}

/// `visitor` visits once from `home` (its own address), so it is a known id before it
/// shows up at the office.
async fn known(c: &TestCollector, n: u32, visitor: &str, home: &'static str) -> Browser {
    let mut b = Browser::at(home);
    b.send(c, n, json!({"visitor": visitor})).await;
    b.ip = OFFICE;
    b
}

#[tokio::test]
async fn behind_a_shared_address_a_cookieless_hit_attaches_to_nobody() {
    let c = TestCollector::start().await;
    let mut a = known(&c, 1, "a", "192.0.2.1").await;
    let mut b = known(&c, 2, "b", "192.0.2.2").await;
    a.send(&c, 3, json!({"visitor": "a"})).await;
    b.send(&c, 4, json!({"visitor": "b"})).await;
    let mut bare = Browser::at(OFFICE);
    assert_eq!(
        bare.send(&c, 5, json!({"visitor": null})).await,
        StatusCode::NO_CONTENT
    );
    assert!(links(&c).is_empty(), "{:?}", links(&c));
    assert_eq!(persons(&c, "inclusive").await, 3);
}

#[tokio::test]
async fn one_visitor_behind_an_address_takes_the_hit_until_a_second_appears() {
    let c = TestCollector::start().await;
    let mut a = known(&c, 1, "a", "192.0.2.1").await;
    a.send(&c, 2, json!({"visitor": "a"})).await;
    Browser::at(OFFICE)
        .send(&c, 3, json!({"visitor": null}))
        .await;
    let fp = c.column("SELECT visitor FROM events WHERE evidence = 'fingerprint'");
    assert_eq!(links(&c), [format!("{} a fingerprint 1", fp[0])]);
    assert_eq!(persons(&c, "inclusive").await, 1);
    assert_eq!(persons(&c, "strict").await, 2, "strict ignores the network");

    let mut b = known(&c, 4, "b", "192.0.2.2").await;
    b.send(&c, 5, json!({"visitor": "b"})).await;
    assert_eq!(
        links(&c),
        [format!("{} a fingerprint 0", fp[0])],
        "withdrawn"
    );
    assert_eq!(persons(&c, "inclusive").await, 3);
}

#[tokio::test]
async fn logging_in_on_two_devices_makes_one_person_until_a_link_is_undone() {
    let c = TestCollector::start().await;
    let mut laptop = Browser::at(OFFICE);
    let mut phone = Browser::at(HOME);
    laptop.send(&c, 1, json!({"visitor": "d1"})).await;
    phone.send(&c, 2, json!({"visitor": "d2"})).await;
    assert_eq!(persons(&c, "inclusive").await, 2);
    for (browser, n, id) in [(&mut laptop, 3, "d1"), (&mut phone, 4, "d2")] {
        let status = browser
            .send(
                &c,
                n,
                json!({"type": "identify", "user": "u1", "visitor": id}),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    assert_eq!(persons(&c, "strict").await, 1);
    assert_eq!(persons(&c, "inclusive").await, 1);

    let (status, person) = c.get_json("/api/persons/d2?site=demo").await;
    assert_eq!(status, 200, "{person}");
    assert_eq!(person["visitors"], json!(["d1", "d2"]));
    assert_eq!(person["users"], json!(["u1"]));
    assert_eq!(person["links"].as_array().unwrap().len(), 2);
    assert_eq!(person["links"][0]["kind"], "login");
    assert_eq!(person["timeline"].as_array().unwrap().len(), 4);
    assert_eq!(person["timeline"][0]["evidence"], "client-id");

    let (status, why) = c
        .get_json("/api/persons/d1/explain?site=demo&other=d2")
        .await;
    assert_eq!(status, 200, "{why}");
    assert_eq!(why["same_person"], true);
    let chain: Vec<(&str, &str)> = why["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["kind"].as_str().unwrap(), l["b"].as_str().unwrap()))
        .collect();
    assert_eq!(chain, [("login", "user:u1"), ("login", "user:u1")]);

    let id = person["links"][0]["id"].as_i64().unwrap();
    let undo = |uri: String| Request::delete(uri).body(Body::empty()).unwrap();
    let resp = c.send(undo(format!("/api/links/{id}"))).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(persons(&c, "inclusive").await, 2);
    let (_, person) = c.get_json("/api/persons/d2?site=demo").await;
    assert_eq!(person["links"][0]["active"], false);
    let (_, why) = c
        .get_json("/api/persons/d1/explain?site=demo&other=d2")
        .await;
    assert_eq!(
        (&why["same_person"], &why["chain"]),
        (&json!(false), &json!([]))
    );
    let (status, _) = c.get_json("/api/persons/d1/explain?site=demo").await;
    assert_eq!(status, 400, "other is required");
    let missing = c.send(undo("/api/links/999".into())).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(!error_reason(missing).await.is_empty());
    let (status, _) = c.get_json("/api/persons/nobody?site=demo").await;
    assert_eq!(status, 404);
    let (status, _) = c.get_json("/api/summary?site=demo&identity=loose").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_server_cookie_wins_over_another_client_id_and_is_linked() {
    let c = TestCollector::start().await;
    let mut b = Browser::at(OFFICE);
    b.send(&c, 1, json!({"visitor": "first"})).await;
    b.send(&c, 2, json!({"visitor": "second"})).await;
    assert_eq!(
        c.column("SELECT visitor || ' ' || evidence FROM events ORDER BY ts, id"),
        ["first client-id", "first server-cookie"]
    );
    assert_eq!(links(&c), ["second first client-id 1"]);
    assert_eq!(persons(&c, "strict").await, 1);
}

#[tokio::test]
async fn a_reset_starts_a_visitor_linked_to_nobody() {
    let c = TestCollector::start().await;
    let mut shared = Browser::at(OFFICE);
    shared.send(&c, 1, json!({"visitor": "before"})).await;
    let status = shared
        .send(&c, 2, json!({"visitor": "after", "reset": true}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(shared.cookie.as_deref().unwrap().contains("after"));
    assert!(links(&c).is_empty(), "{:?}", links(&c));
    assert_eq!(persons(&c, "inclusive").await, 2);
    // A batch holding the reset and the next event: the next one is the new visitor too.
    let body = batch(&[
        event(
            &event_id(4),
            "pageview",
            "http://127.0.0.1:8080/",
            json!({"visitor": "third", "reset": true}),
        ),
        event(
            &event_id(5),
            "pageview",
            "http://127.0.0.1:8080/b",
            json!({"visitor": "third"}),
        ),
    ]);
    let cookie = shared.cookie.clone().unwrap();
    let resp = c.collect(&body, &[("cookie", &cookie)]).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        c.column("SELECT visitor || ' ' || evidence FROM events WHERE visitor = 'third'"),
        ["third client-id", "third client-id"]
    );
    assert!(links(&c).is_empty(), "{:?}", links(&c));
    let bad = shared.send(&c, 3, json!({"reset": "yes"})).await;
    assert_eq!(bad, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_forged_cookie_neither_names_the_visitor_nor_links() {
    let c = TestCollector::start().await;
    let mut b = Browser::at(OFFICE);
    b.cookie = Some("spoor_sid=victim".into());
    b.send(&c, 1, json!({"visitor": "me"})).await;
    assert_eq!(
        c.column("SELECT visitor || ' ' || evidence FROM events"),
        ["me client-id"]
    );
    assert!(links(&c).is_empty());
}

#[tokio::test]
async fn strict_identity_turns_recovery_off() {
    for (strict, expected) in [(false, 1), (true, 2)] {
        let c = TestCollector::start_with(|config| config.strict_identity = strict).await;
        Browser::at(OFFICE)
            .send(&c, 1, json!({"visitor": "old"}))
            .await;
        // The same browser after a cookie wipe: a brand-new id behind the same network.
        Browser::at(OFFICE)
            .send(&c, 2, json!({"visitor": "new"}))
            .await;
        assert_eq!(persons(&c, "inclusive").await, expected, "strict={strict}");
    }
}

#[tokio::test]
async fn an_address_shared_yesterday_gives_no_recovery_today() {
    use spoor_collector::clock::Clock;
    use spoor_collector::config::Config;
    use spoor_collector::identity::graph::Mode;
    use spoor_collector::store::Store;
    use spoor_collector::store::sqlite::SqliteStore;
    use spoor_collector::{Collector, app};
    use std::sync::Arc;
    use tower::ServiceExt;

    const DAY: i64 = 86_400_000;
    let day0 = now_ms().div_euclid(DAY) * DAY - 5 * DAY;
    for (crowd_yesterday, expected_persons) in [(false, 1), (true, 3)] {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
        let clock = Clock::manual(day0 + 10 * 3_600_000);
        let collector =
            Collector::with_store_and_clock(Config::default(), Arc::clone(&store), clock.clone())
                .await
                .unwrap();
        let router = app(collector.state());
        let mut n = 0;
        let mut send = |visitor: &str| {
            n += 1;
            let body = batch(&[event(
                &event_id(n),
                "pageview",
                "http://127.0.0.1:8080/",
                json!({"visitor": visitor, "ts": clock.now_ms()}),
            )]);
            let mut req = Request::post("/collect")
                .header(header::USER_AGENT, UA)
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from(body))
                .unwrap();
            req.extensions_mut()
                .insert(ConnectInfo(SocketAddr::new(OFFICE.parse().unwrap(), 40000)));
            router.clone().oneshot(req)
        };
        // Yesterday: one visitor behind the office address, or two (hours apart, so the
        // colleague is not taken for the regular after a cookie wipe).
        send("regular").await.unwrap();
        if crowd_yesterday {
            clock.set(day0 + 13 * 3_600_000);
            send("colleague").await.unwrap();
        }
        // This morning the regular comes first; ten minutes later a new id shows up there.
        clock.set(day0 + DAY + 9 * 3_600_000);
        send("regular").await.unwrap();
        clock.set(day0 + DAY + 9 * 3_600_000 + 600_000);
        let resp = send("newcomer").await.unwrap();
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let persons = store
            .summary("demo", Mode::Inclusive)
            .await
            .unwrap()
            .persons;
        assert_eq!(
            persons, expected_persons,
            "crowd yesterday: {crowd_yesterday} (recovery only for a lone regular)"
        );
    }
}
