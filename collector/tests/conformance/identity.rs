//! Identity: who is one person and why, through `/api/persons`, the explain endpoint and
//! `DELETE /api/links/{id}`.
//!
//! | links (oldest first) | kind | readings | from |
//! |---|---|---|---|
//! | a1 – user:alice | login (signed) | both | #5 |
//! | d2 – d1 | recovery, 0.5 | inclusive | #31: new id, no cookie, d1 behind the fingerprint 10 min before |
//! | c1 – user:carol | login (unsigned) | both | #22 |
//! | k1 – user:gina | login | both | #91 |
//! | k1 – user:hank | login, refused (k1 is gina's) | none | #93 |
//! | a2 – user:alice | login (signed) | both | #71 |
//! | h1 – user:hank | login | both | #101 |
//! | srv-7 – user:ivan | login (the site's key) | both | #120 |
//!
//! No link touches c2 (a reset), e1, f1 or the cookieless visitor (the NAT: two id
//! visitors behind one fingerprint), b1, m1 or j1.

use axum::body::Body;
use serde_json::{Value, json};

use super::Backend;
use super::dataset::{BOTH, at, load};
use super::harness::Live;

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

/// The `(a, b, kind, refused)` of a person's links, in order.
fn links(person: &Value) -> Vec<(String, String, String, bool)> {
    person["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let s = |k: &str| l[k].as_str().unwrap().to_string();
            (s("a"), s("b"), s("kind"), l["refused"].as_bool().unwrap())
        })
        .collect()
}

fn link(a: &str, b: &str, kind: &str, refused: bool) -> (String, String, String, bool) {
    (a.to_string(), b.to_string(), kind.to_string(), refused)
}

/// `/api/persons/{visitor}`: alice is a1 and a2 (9 events: a1's 5, a2's 4); dave is d1 and
/// d2 inclusive, d2 alone strict; c2, e1 and f1 are alone; k1 is gina's (its timeline holds
/// gina's stretch, #90–#92, and it shows hank's refused login); hank is h1, with the
/// laptop's events from his login at 09:20 on (#93, #94); ivan is srv-7.
pub async fn persons<B: Backend>(backend: &B) {
    let live = load(backend).await;
    let alice = live.get("/api/persons/a2?site=demo").await;
    assert_eq!(alice["person"], "a1", "{alice}");
    assert_eq!(strings(&alice["visitors"]), ["a1", "a2"]);
    assert_eq!(strings(&alice["users"]), ["alice"]);
    assert_eq!(
        links(&alice),
        [
            link("a1", "user:alice", "login", false),
            link("a2", "user:alice", "login", false)
        ]
    );
    let timeline = alice["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 9, "{alice}");
    let ids: Vec<&str> = timeline
        .iter()
        .map(|e| e["visitor"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a1", "a1", "a1", "a1", "a1", "a2", "a2", "a2", "a2"]);

    let dave = live.get("/api/persons/d2?site=demo").await;
    assert_eq!(strings(&dave["visitors"]), ["d1", "d2"], "{dave}");
    assert_eq!(links(&dave), [link("d2", "d1", "recovery", false)]);
    assert_eq!(dave["links"][0]["confidence"], 0.5);
    let strict = live.get("/api/persons/d2?site=demo&identity=strict").await;
    assert_eq!(strings(&strict["visitors"]), ["d2"], "{strict}");

    for alone in ["c2", "e1", "f1", "b1", "m1", "j1"] {
        let p = live.get(&format!("/api/persons/{alone}?site=demo")).await;
        assert_eq!(strings(&p["visitors"]), [alone], "{p}");
        assert_eq!(p["links"], json!([]), "{alone}: {p}");
    }
    let carol = live.get("/api/persons/c1?site=demo").await;
    assert_eq!(strings(&carol["users"]), ["carol"], "{carol}");

    let laptop = live.get("/api/persons/k1?site=demo").await;
    assert_eq!(strings(&laptop["visitors"]), ["k1"], "{laptop}");
    assert_eq!(strings(&laptop["users"]), ["gina"], "{laptop}");
    assert_eq!(
        links(&laptop),
        [
            link("k1", "user:gina", "login", false),
            link("k1", "user:hank", "login", true)
        ]
    );
    let gina_events: Vec<&str> = laptop["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    let id = crate::common::event_id;
    assert_eq!(gina_events, [id(90), id(91), id(92)], "{laptop}");
    let hank = live.get("/api/persons/h1?site=demo").await;

    assert_eq!(strings(&hank["visitors"]), ["h1"], "{hank}");
    assert_eq!(strings(&hank["users"]), ["hank"], "{hank}");
    // Hank's person holds the laptop's stretch from his login on (#93, #94) and his tablet.
    let hank_events: Vec<&str> = hank["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(hank_events, [id(93), id(94), id(100), id(101)], "{hank}");
    assert_eq!(
        links(&hank),
        [
            link("k1", "user:hank", "login", true),
            link("h1", "user:hank", "login", false)
        ]
    );
    // Both see the laptop's two stretches: gina's from the start, hank's from 09:20.
    let stretches = |this_is_gina: bool| {
        json!([
            {"visitor": "k1", "from_ms": null, "person": "k1", "this_person": this_is_gina},
            {"visitor": "k1", "from_ms": at(2, 9, 20, 0), "person": "h1", "this_person": !this_is_gina},
        ])
    };
    assert_eq!(laptop["shared"], stretches(true), "{laptop}");
    assert_eq!(hank["shared"], stretches(false), "{hank}");
    let ivan = live.get("/api/persons/srv-7?site=demo").await;
    assert_eq!(strings(&ivan["users"]), ["ivan"], "{ivan}");

    let (status, _) = live.get_status("/api/persons/nobody?site=demo").await;
    assert_eq!(status, 404);
    let (status, _) = live.get_status("/api/persons/a1").await;
    assert_eq!(status, 400);
}

/// Explain: a1 and a2 are one through alice's two logins; d1 and d2 through the recovery
/// link, inclusive only; e1 and f1 (the NAT) and c1 and c2 (the reset) are not; k1 is not
/// hank's, and the answer names the refused login.
pub async fn explain<B: Backend>(backend: &B) {
    let live = load(backend).await;
    let ask = |v: &str, other: &str, mode: &str| {
        format!("/api/persons/{v}/explain?site=demo&other={other}&identity={mode}")
    };
    let kinds = |e: &Value| -> Vec<String> {
        e["chain"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["kind"].as_str().unwrap().to_string())
            .collect()
    };

    let alice = live.get(&ask("a1", "a2", "inclusive")).await;
    assert_eq!(
        (alice["same_person"].clone(), kinds(&alice)),
        (json!(true), vec!["login".to_string(), "login".into()]),
        "{alice}"
    );
    assert_eq!(
        (alice["refused"].clone(), alice["reason"].clone()),
        (json!([]), Value::Null)
    );
    let dave = live.get(&ask("d1", "d2", "inclusive")).await;
    assert_eq!(
        (dave["same_person"].clone(), kinds(&dave)),
        (json!(true), vec!["recovery".to_string()]),
        "{dave}"
    );
    let dave = live.get(&ask("d1", "d2", "strict")).await;
    assert_eq!(
        (dave["same_person"].clone(), dave["chain"].clone()),
        (json!(false), json!([])),
        "{dave}"
    );
    for (a, b) in [("e1", "f1"), ("c1", "c2")] {
        let e = live.get(&ask(a, b, "inclusive")).await;
        assert_eq!(
            (e["same_person"].clone(), e["chain"].clone()),
            (json!(false), json!([])),
            "{a} {b}: {e}"
        );
    }
    let shared = live.get(&ask("k1", "user:hank", "inclusive")).await;
    assert_eq!(shared["same_person"], false, "{shared}");
    let refused = shared["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{shared}");
    assert_eq!(
        (
            refused[0]["a"].clone(),
            refused[0]["b"].clone(),
            refused[0]["refused"].clone()
        ),
        (json!("k1"), json!("user:hank"), json!(true))
    );
    assert!(
        shared["reason"].as_str().unwrap().contains("user:hank"),
        "{shared}"
    );
    let (status, _) = live.get_status("/api/persons/a1/explain?site=demo").await;
    assert_eq!(status, 400, "other is required");
}

/// Undoing d2–d1 (the recovery link) splits dave: persons over both days 13 → 14, d2
/// alone, explain finds no chain, and the funnel's `page:/pricing` loses dave (4 → 3).
/// Undoing it twice is still `204`; an unknown id is `404`, a non-integer `400`.
pub async fn links_undo<B: Backend>(backend: &B) {
    let live = load(backend).await;
    let dave = live.get("/api/persons/d1?site=demo").await;
    let id = dave["links"][0]["id"].as_i64().unwrap();
    let undo = |id: String| {
        let live: &Live<'_, B> = &live;
        async move {
            live.admin("DELETE", &format!("/api/links/{id}"), Body::empty())
                .await
                .status()
                .as_u16()
        }
    };
    assert_eq!(undo(id.to_string()).await, 204);
    let s = live.get(&format!("/api/summary?{BOTH}")).await;
    assert_eq!(s["persons"], 14, "{s}");
    let d2 = live.get("/api/persons/d2?site=demo").await;
    assert_eq!(strings(&d2["visitors"]), ["d2"], "{d2}");
    assert_eq!(d2["links"][0]["active"], false, "{d2}");
    let e = live.get("/api/persons/d1/explain?site=demo&other=d2").await;
    assert_eq!(e["same_person"], false, "{e}");
    let f = live
        .get(&format!("/api/funnel?{BOTH}&steps=page:/,page:/pricing"))
        .await;
    assert_eq!(f["steps"][1]["persons"], 3, "{f}");
    let log = live.get(&format!("/api/visitors?{BOTH}&limit=100")).await;
    let d2_session = log["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["visitor"] == "d2")
        .unwrap();
    assert_eq!(d2_session["person"], "d2");

    assert_eq!(undo(id.to_string()).await, 204, "already inactive");
    assert_eq!(undo("999999".into()).await, 404);
    assert_eq!(undo("abc".into()).await, 400);
}

/// The NAT guard looks a day back. On day 2 erin comes back to the NAT's address (17:00,
/// with her cookie), then a new id `e2` appears there without a cookie 10 minutes later.
/// Today only e1 was seen behind the fingerprint, which alone would make a `recovery`
/// link e2–e1 (as for dave on day 1); but yesterday e1 and f1 were both seen behind it
/// (under yesterday's salt, which the day-2 collectors read from the store), so the
/// address is shared and nothing is linked: e2 is alone: 16 visitors, 14 persons.
pub async fn nat_guard_looks_back_a_day<B: Backend>(backend: &B) {
    use super::dataset::FIREFOX_LINUX;
    use super::harness::{Browser, ev};

    let live = load(backend).await;
    let mut erin = Browser::new("203.0.113.50", FIREFOX_LINUX, Some("e1"));
    erin.send(
        &live,
        &[ev(150, "pageview", at(2, 17, 0, 0), "/", json!({}))],
    )
    .await;
    erin.wipe("e2");
    erin.send(
        &live,
        &[ev(151, "pageview", at(2, 17, 10, 0), "/docs", json!({}))],
    )
    .await;
    let e2 = live.get("/api/persons/e2?site=demo").await;
    assert_eq!(strings(&e2["visitors"]), ["e2"], "{e2}");
    assert_eq!(e2["links"], json!([]), "{e2}");
    let why = live.get("/api/persons/e1/explain?site=demo&other=e2").await;
    assert_eq!(why["same_person"], false, "{why}");
    let s = live.get(&format!("/api/summary?{BOTH}")).await;
    assert_eq!(
        (s["visitors"].clone(), s["persons"].clone()),
        (json!(16), json!(14)),
        "{s}"
    );
}
