//! Privacy: export and erasure by visitor and by user, and the retention purge.
//!
//! | subject | visitors | events | sessions | links | why |
//! |---|---|---:|---:|---:|---|
//! | `visitor=b1` | b1 | 3 (#10 #80 #81) | 2 (SB1 SB2) | 0 | |
//! | `user=alice` | a1 a2 | 9 | 2 (SA1 SP1) | 2 | both logins signed |
//! | `person=a2` | a1 a2 | 9 | 2 | 2 | the inclusive person |
//! | `user=ivan` | srv-7 | 2 | 1 | 1 | `/ingest` logins are verified |
//! | `user=carol` | none | — | — | — | an unsigned login is a claim: not followed |
//!
//! The report rollups keep counts, not visitors (OPERATIONS.md, "Erasure"): after an
//! erasure the unfiltered totals of days already rolled up may still count the subject,
//! while everything read from sessions and events (filtered reports, the visitor log,
//! persons, export) no longer does.

use axum::body::Body;
use serde_json::{Value, json};

use super::Backend;
use super::dataset::{BOTH, SECOND, at, load};
use super::harness::{Live, config};
use crate::common::json_body;

fn count(export: &Value, table: &str) -> usize {
    export[table]
        .as_array()
        .unwrap_or_else(|| panic!("{table}: {export}"))
        .len()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

/// Export by visitor, person and user (see the table above); unknown subjects are `404`,
/// a request without exactly one subject `400`.
pub async fn export<B: Backend>(backend: &B) {
    let live = load(backend).await;
    let b1 = live.get("/api/export?site=demo&visitor=b1").await;
    assert_eq!(strings(&b1["visitors"]), ["b1"], "{b1}");
    assert_eq!(
        (
            count(&b1, "events"),
            count(&b1, "sessions"),
            count(&b1, "links")
        ),
        (3, 2, 0),
        "{b1}"
    );
    let ids: Vec<&str> = b1["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    let id = crate::common::event_id;
    assert_eq!(ids, [id(10), id(80), id(81)]);
    // Stored URLs keep scheme, host and path (and `utm_*`): the referrer's query is cut.
    assert_eq!(
        b1["events"][0]["referrer"],
        "https://news.ycombinator.com/item"
    );
    // b1 was seen behind its network on both days; its address itself is nowhere.
    assert_eq!(count(&b1, "fingerprint_observations"), 2, "{b1}");
    assert!(
        !b1.to_string().contains("198.51.100.2\""),
        "a raw IP in an export: {b1}"
    );

    for subject in ["user=alice", "person=a2"] {
        let alice = live.get(&format!("/api/export?site=demo&{subject}")).await;
        assert_eq!(
            strings(&alice["visitors"]),
            ["a1", "a2"],
            "{subject}: {alice}"
        );
        assert_eq!(
            (
                count(&alice, "events"),
                count(&alice, "sessions"),
                count(&alice, "links")
            ),
            (9, 2, 2),
            "{subject}: {alice}"
        );
    }
    let alice = live.get("/api/export?site=demo&user=alice").await;
    assert!(
        strings(&alice["evidence"]).contains(&"verified-login"),
        "{alice}"
    );
    let ivan = live.get("/api/export?site=demo&user=ivan").await;
    assert_eq!(strings(&ivan["visitors"]), ["srv-7"], "{ivan}");
    assert_eq!(
        (
            count(&ivan, "events"),
            count(&ivan, "sessions"),
            count(&ivan, "links")
        ),
        (2, 1, 1),
        "{ivan}"
    );
    let carol = live.get_status("/api/export?site=demo&user=carol").await;
    assert_eq!(carol.0, 404, "an unsigned login is not followed: {carol:?}");

    let (status, _) = live
        .get_status("/api/export?site=demo&visitor=nobody")
        .await;
    assert_eq!(status, 404);
    let (status, _) = live.get_status("/api/export?site=demo").await;
    assert_eq!(status, 400);
    let (status, _) = live
        .get_status("/api/export?site=demo&visitor=b1&user=alice")
        .await;
    assert_eq!(status, 400);
}

/// `DELETE /api/erase` with its answer.
async fn erase<B: Backend>(live: &Live<'_, B>, subject: &str) -> Value {
    let resp = live
        .admin(
            "DELETE",
            &format!("/api/erase?site=demo&{subject}"),
            Body::empty(),
        )
        .await;
    let status = resp.status();
    let body = json_body(resp).await;
    assert_eq!(status, 200, "{subject}: {body}");
    body
}

/// Erasing b1 deletes 3 events, 2 sessions, no link; then b1 is gone from export, persons
/// and the visitor log, and from every report read from sessions: the `source=Direct`
/// summary loses SB2 (11 → 10 sessions and visitors, 13 → 12 page views), the
/// `news.ycombinator.com` source and `/blog` page are gone from filtered breakdowns, and
/// the outbound target keeps j1 alone under a filter that reads events.
pub async fn erase_visitor<B: Backend>(backend: &B) {
    let live = load(backend).await;
    let erased = erase(&live, "visitor=b1").await;
    assert_eq!(
        (
            erased["events"].clone(),
            erased["sessions"].clone(),
            erased["links"].clone()
        ),
        (json!(3), json!(2), json!(0)),
        "{erased}"
    );
    let fingerprints = &erased["fingerprint_observations"];
    assert_eq!(
        (fingerprints, &erased["person_mappings"]),
        (&json!(2), &json!(0)),
        "{erased}"
    );
    assert_eq!(
        live.get_status("/api/export?site=demo&visitor=b1").await.0,
        404
    );
    assert_eq!(live.get_status("/api/persons/b1?site=demo").await.0, 404);
    let log = live.get(&format!("/api/visitors?{BOTH}&limit=100")).await;
    let sessions = log["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 15);
    assert!(sessions.iter().all(|s| s["visitor"] != "b1"));
    let direct = live
        .get(&format!("/api/summary?{BOTH}&source=Direct"))
        .await;
    assert_eq!(
        (
            direct["visitors"].clone(),
            direct["sessions"].clone(),
            direct["pageviews"].clone(),
            direct["events"].clone()
        ),
        (json!(10), json!(10), json!(12), json!(18)),
        "{direct}"
    );
    // The unfiltered totals are rollups: b1 may still be counted there (see the module doc).
    let all = live.get(&format!("/api/summary?{BOTH}")).await;
    assert!(all["visitors"] == 14 || all["visitors"] == 15, "{all}");
    // Filtered by desktop (every session of b1 was one), read from sessions and events.
    let desktop = live
        .get(&format!(
            "/api/breakdown?{BOTH}&device=desktop&dimension=outbound"
        ))
        .await;
    assert_eq!(
        desktop["rows"],
        json!([{"key": "https://github.com/spoor", "visitors": 1, "pageviews": 0, "events": 1, "sessions": 0, "share": 1.0 / 12.0}])
    );
    // Erasing again finds nothing.
    let again = erase(&live, "visitor=b1").await;
    assert_eq!(again["events"], 0, "{again}");
}

/// Erasing user alice deletes a1's and a2's 9 events, 2 sessions and 2 links; alice's
/// verified logins no longer join anyone; the summary filtered by `campaign=launch` keeps
/// mia alone; ivan (another user) keeps everything. Erasing user carol, whose login was
/// unsigned, deletes the identify event and the link that name her, not c1's other events.
pub async fn erase_user<B: Backend>(backend: &B) {
    let live = load(backend).await;
    let erased = erase(&live, "user=alice").await;
    assert_eq!(
        (
            erased["events"].clone(),
            erased["sessions"].clone(),
            erased["links"].clone()
        ),
        (json!(9), json!(2), json!(2)),
        "{erased}"
    );
    assert_eq!(
        live.get_status("/api/export?site=demo&user=alice").await.0,
        404
    );
    assert_eq!(live.get_status("/api/persons/a2?site=demo").await.0, 404);
    let launch = live
        .get(&format!("/api/summary?{BOTH}&campaign=launch"))
        .await;
    assert_eq!(
        (
            launch["visitors"].clone(),
            launch["sessions"].clone(),
            launch["pageviews"].clone()
        ),
        (json!(1), json!(1), json!(1)),
        "{launch}"
    );
    let log = live.get(&format!("/api/visitors?{BOTH}&limit=100")).await;
    assert_eq!(log["sessions"].as_array().unwrap().len(), 15, "{log}");
    let ivan = live.get("/api/export?site=demo&user=ivan").await;
    assert_eq!(count(&ivan, "events"), 2);
    // Carol's login was unsigned: user=carol covers no visitor, but her name goes: the
    // identify event #22 that named it and the link c1–user:carol. c1's own page view and
    // engagement (#20, #21) stay.
    let carol = erase(&live, "user=carol").await;
    assert_eq!(
        (
            carol["events"].clone(),
            carol["sessions"].clone(),
            carol["links"].clone()
        ),
        (json!(1), json!(0), json!(1)),
        "{carol}"
    );
    let c1 = live.get("/api/persons/c1?site=demo").await;
    assert_eq!(c1["users"], json!([]), "{c1}");
    let ids: Vec<&str> = c1["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    let id = crate::common::event_id;
    assert_eq!(ids, [id(20), id(21)], "{c1}");
}

/// Retention: a collector started on 2026-11-04 at 00:00 with 1 day of retention purges,
/// at start, everything before 2026-11-03 00:00: all of day 1 (16 events, 10 sessions;
/// SM1 ended 23:50), the links recorded on day 1 (a1's login, d2–d1, c1's login), and
/// day 1's rollups. Day 2 stays whole: both days now read as day 2 alone (7 visitors, 13
/// page views, 22 events, 7 sessions; a2 is alone in alice's person now: 7 persons).
pub async fn retention<B: Backend>(backend: &B) {
    let mut live = load(backend).await;
    live.clock.set(at(2, 0, 0, 0) + super::dataset::DAY_MS);
    let mut short = config();
    short.retention = std::time::Duration::from_secs(86_400);
    live.restart(short).await;
    // The purge runs at start, a table after another (OPERATIONS.md, "Retention"): wait
    // for its last steps, the daily rollups of pages and flows (day 2's flows are 1 each).
    live.wait_for(&format!("/api/summary?{BOTH}"), "/pageviews", &json!(13))
        .await;
    let pages = format!("/api/breakdown?{BOTH}&dimension=page");
    live.wait_for(&pages, "/rows/0/visitors", &json!(4)).await;
    let flows = format!("/api/paths/flows?{BOTH}");
    live.wait_for(&flows, "/sequences/0/sessions", &json!(1))
        .await;
    let both = live.get(&format!("/api/summary?{BOTH}")).await;
    let day2 = live.get(&format!("/api/summary?{SECOND}")).await;
    for k in [
        "visitors",
        "persons",
        "pageviews",
        "sessions",
        "events",
        "bounce_rate",
        "mean_duration_ms",
    ] {
        assert_eq!(both[k], day2[k], "{k}: {both} against {day2}");
    }
    assert_eq!(
        (
            both["visitors"].clone(),
            both["persons"].clone(),
            both["pageviews"].clone(),
            both["events"].clone(),
            both["sessions"].clone()
        ),
        (json!(7), json!(7), json!(13), json!(22), json!(7)),
        "{both}"
    );
    let pages = live
        .get(&format!("/api/breakdown?{BOTH}&dimension=page"))
        .await;
    let keys: Vec<(&str, u64)> = pages["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap(), r["visitors"].as_u64().unwrap()))
        .collect();
    // Day 2 alone: `/` a2 k1 h1 j1 (4 pv, 7 events), `/docs` m1 a2 k1 j1 (4 pv, 5 events),
    // `/pricing` k1 j1 srv-7, `/blog` b1.
    assert_eq!(
        keys,
        [("/", 4), ("/docs", 4), ("/pricing", 3), ("/blog", 1)],
        "{pages}"
    );
    assert_eq!(
        live.get_status("/api/export?site=demo&visitor=a1").await.0,
        404
    );
    let alice = live.get("/api/persons/a2?site=demo").await;
    assert_eq!(strings(&alice["visitors"]), ["a2"], "{alice}");
    let d2 = live.get_status("/api/persons/d2?site=demo").await;
    assert_eq!(d2.0, 404, "{d2:?}");
    let log = live.get(&format!("/api/visitors?{BOTH}&limit=100")).await;
    assert_eq!(log["sessions"].as_array().unwrap().len(), 7);
}
