//! A browser shared by two users who both log in without `spoor.reset()` (a family laptop,
//! a shop tablet): through the router, the two stay two persons, neither sees the other's
//! devices, the browser's events go to whoever was logged in, and explain says why.

// The helpers below panic on broken fixtures, as test functions do.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use common::*;
use serde_json::{Value, json};

const LAPTOP_IP: &str = "198.51.100.30";
const PHONE_A_IP: &str = "198.51.100.31";
const PHONE_B_IP: &str = "198.51.100.32";

/// A browser: its address, its beacon id and the server cookie it holds.
struct Browser {
    ip: &'static str,
    visitor: &'static str,
    cookie: Option<String>,
}

impl Browser {
    fn new(ip: &'static str, visitor: &'static str) -> Browser {
        Browser {
            ip,
            visitor,
            cookie: None,
        }
    }

    /// Sends event `n` (`kind`, with `extra` fields) and keeps the cookie it gets back.
    /// Waits a few ms first, so the collector's receive times are in order.
    async fn send(&mut self, c: &TestCollector, n: u32, kind: &str, extra: Value) {
        tokio::time::sleep(Duration::from_millis(3)).await;
        let mut fields = json!({"visitor": self.visitor});
        if let (Some(f), Some(e)) = (fields.as_object_mut(), extra.as_object()) {
            f.extend(e.clone());
        }
        let body = batch(&[event(&event_id(n), kind, "http://127.0.0.1:8080/", fields)]);
        let mut req = Request::post("/collect")
            .header(header::USER_AGENT, UA)
            .header(header::CONTENT_TYPE, "text/plain");
        if let Some(cookie) = &self.cookie {
            req = req.header(header::COOKIE, cookie.as_str());
        }
        let mut req = req.body(Body::from(body)).unwrap();
        let addr = SocketAddr::new(self.ip.parse().unwrap(), 40000);
        req.extensions_mut().insert(ConnectInfo(addr));
        let resp = c.send(req).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        if let Some(set) = set_cookie(&resp, "spoor_sid") {
            self.cookie = Some(set.split(';').next().unwrap().to_string());
        }
    }

    async fn login(&mut self, c: &TestCollector, n: u32, user: &str) {
        self.send(c, n, "identify", json!({"user": user})).await;
    }
}

async fn persons(c: &TestCollector, mode: &str) -> u64 {
    let (status, body) = c
        .get_json(&format!("/api/summary?site=demo&identity={mode}"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["persons"].as_u64().unwrap()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

/// The event ids in a person's timeline.
fn timeline(person: &Value) -> Vec<&str> {
    person["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn two_users_on_one_browser_without_reset_are_two_persons() {
    let c = TestCollector::start().await;
    // One browser (same cookie, same client id): Alice, then Bob, no logout in between.
    let mut laptop = Browser::new(LAPTOP_IP, "laptop");
    laptop.send(&c, 1, "pageview", json!({})).await;
    laptop.login(&c, 2, "alice").await;
    laptop.send(&c, 3, "pageview", json!({})).await;
    laptop.login(&c, 4, "bob").await;
    laptop.send(&c, 5, "pageview", json!({})).await;

    for mode in ["strict", "inclusive"] {
        assert_eq!(
            persons(&c, mode).await,
            2,
            "{mode} {:?} {:?}",
            c.column("SELECT a || ' ' || b || ' ' || kind FROM links"),
            c.column("SELECT visitor || ' ' || mode || ' ' || from_ms || ' ' || person FROM person_stretches")
        );
    }
    let (status, alice) = c.get_json("/api/persons/laptop?site=demo").await;
    assert_eq!(status, 200, "{alice}");
    assert_eq!(strings(&alice["users"]), ["alice"], "{alice}");
    assert_eq!(strings(&alice["visitors"]), ["laptop"]);
    // Alice's stretch: everything before Bob logged in.
    assert_eq!(
        timeline(&alice),
        [event_id(1), event_id(2), event_id(3)].map(|s| s.leak() as &str)
    );
    let refused: Vec<bool> = alice["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["refused"].as_bool().unwrap())
        .collect();
    assert_eq!(refused, [false, true], "{alice}");
    let shared = alice["shared"].as_array().unwrap();
    assert_eq!(shared.len(), 2, "{alice}");
    assert_eq!(shared[1]["visitor"], "laptop");
    assert!(shared[1]["from_ms"].as_i64().is_some());

    let (status, bob) = c.get_json("/api/persons/user:bob?site=demo").await;
    assert_eq!(status, 200, "{bob}");
    assert_eq!(strings(&bob["users"]), ["bob"], "{bob}");
    assert_eq!(
        timeline(&bob),
        [event_id(4), event_id(5)].map(|s| s.leak() as &str)
    );

    let (status, why) = c
        .get_json("/api/persons/laptop/explain?site=demo&other=user:bob")
        .await;
    assert_eq!(status, 200, "{why}");
    assert_eq!(why["same_person"], false);
    assert_eq!(why["refused"].as_array().unwrap().len(), 1, "{why}");
    assert_eq!(why["refused"][0]["kind"], "login");
    let reason = why["reason"].as_str().unwrap();
    assert!(
        reason.contains("user:bob") && reason.contains("two users"),
        "{reason}"
    );

    // Erasing the shared browser leaves none of its stretches behind.
    let erase = Request::delete("/api/erase?site=demo&visitor=laptop")
        .body(Body::empty())
        .unwrap();
    assert_eq!(c.send(erase).await.status(), StatusCode::OK);
    let left = c.column(
        "SELECT visitor FROM person_stretches UNION ALL SELECT visitor FROM visitor_persons",
    );
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn the_shared_browser_does_not_join_each_users_other_devices() {
    let c = TestCollector::start().await;
    let mut laptop = Browser::new(LAPTOP_IP, "laptop");
    let mut phone_a = Browser::new(PHONE_A_IP, "phone-a");
    let mut phone_b = Browser::new(PHONE_B_IP, "phone-b");
    phone_a.login(&c, 1, "alice").await;
    phone_b.login(&c, 2, "bob").await;
    laptop.login(&c, 3, "alice").await;
    laptop.send(&c, 4, "pageview", json!({})).await;
    laptop.login(&c, 5, "bob").await;
    laptop.send(&c, 6, "pageview", json!({})).await;
    phone_a.send(&c, 7, "pageview", json!({})).await;

    for mode in ["strict", "inclusive"] {
        assert_eq!(persons(&c, mode).await, 2, "{mode}");
    }
    let (_, alice) = c.get_json("/api/persons/phone-a?site=demo").await;
    assert_eq!(
        strings(&alice["visitors"]),
        ["laptop", "phone-a"],
        "{alice}"
    );
    assert_eq!(strings(&alice["users"]), ["alice"]);
    let (_, bob) = c.get_json("/api/persons/phone-b?site=demo").await;
    assert_eq!(strings(&bob["visitors"]), ["phone-b"], "{bob}");
    assert_eq!(strings(&bob["users"]), ["bob"]);
    // Bob's person holds his phone and the laptop's events from his login on.
    assert_eq!(
        timeline(&bob),
        [event_id(2), event_id(5), event_id(6)].map(|s| s.leak() as &str)
    );
    assert!(!timeline(&alice).contains(&event_id(6).as_str()));

    let (_, why) = c
        .get_json("/api/persons/phone-a/explain?site=demo&other=phone-b")
        .await;
    assert_eq!(why["same_person"], false, "{why}");
    assert_eq!(why["chain"], json!([]));
    assert_eq!(why["refused"][0]["a"], "laptop", "{why}");
    assert_eq!(why["refused"][0]["b"], "user:bob");

    // Undoing Alice's login on the laptop gives the laptop to Bob, as one person with him.
    let (_, laptop_person) = c.get_json("/api/persons/laptop?site=demo").await;
    let alice_login = laptop_person["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["a"] == "laptop" && l["b"] == "user:alice")
        .and_then(|l| l["id"].as_i64())
        .unwrap();
    let undo = Request::delete(format!("/api/links/{alice_login}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(c.send(undo).await.status(), StatusCode::NO_CONTENT);
    let (_, bob) = c.get_json("/api/persons/phone-b?site=demo").await;
    assert_eq!(strings(&bob["visitors"]), ["laptop", "phone-b"], "{bob}");
    assert_eq!(persons(&c, "strict").await, 2);
}

#[tokio::test]
async fn logging_back_in_gives_the_browser_back_to_the_first_user() {
    let c = TestCollector::start().await;
    let mut laptop = Browser::new(LAPTOP_IP, "laptop");
    laptop.login(&c, 1, "alice").await;
    laptop.send(&c, 2, "pageview", json!({})).await;
    laptop.login(&c, 3, "bob").await;
    laptop.send(&c, 4, "pageview", json!({})).await;
    laptop.login(&c, 5, "alice").await;
    laptop.send(&c, 6, "pageview", json!({})).await;
    // Logged in as Alice again: no new link (nothing switched).
    laptop.login(&c, 7, "alice").await;

    assert_eq!(persons(&c, "strict").await, 2);
    let (_, alice) = c.get_json("/api/persons/user:alice?site=demo").await;
    let ids = |ns: &[u32]| ns.iter().map(|n| event_id(*n)).collect::<Vec<_>>();
    assert_eq!(timeline(&alice), ids(&[1, 2, 5, 6, 7]), "{alice}");
    let (_, bob) = c.get_json("/api/persons/user:bob?site=demo").await;
    assert_eq!(timeline(&bob), ids(&[3, 4]), "{bob}");
    let logins = c.column("SELECT b FROM links WHERE kind = 'login' ORDER BY id");
    assert_eq!(logins, ["user:alice", "user:bob", "user:alice"]);
}
