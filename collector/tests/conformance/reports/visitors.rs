//! Who was on the site: the visitor log (JSON and CSV) and realtime.

use serde_json::{Value, json};

use crate::conformance::Backend;
use crate::conformance::dataset::{BOTH, at, load};

/// The visitor log: the 17 sessions, newest first, each with its events oldest first.
/// Persons inclusive: a2's is `a1` (the id `{a1, a2, user:alice}` keeps by the merge rule:
/// equal sizes keep a visitor id, then the smaller), d2's `d1`;
/// strict: d2's is `d2`. k1's session holds all five of its events (09:00–09:21).
pub async fn visitor_log<B: Backend>(backend: &B) {
    let live = load(backend).await;
    let log = live.get(&format!("/api/visitors?{BOTH}&limit=100")).await;
    let sessions = log["sessions"].as_array().unwrap();
    let visitors: Vec<&str> = sessions
        .iter()
        .map(|s| s["visitor"].as_str().unwrap())
        .collect();
    let fp = visitors[8];
    assert!(fp.starts_with("fp_"), "{fp}");
    assert_eq!(
        visitors,
        [
            "j1", "srv-7", "b1", "h1", "a2", "k1", "m1", "m1", fp, "f1", "e1", "d2", "d1", "c2",
            "c1", "b1", "a1"
        ]
    );
    let find = |v: &str| sessions.iter().find(|s| s["visitor"] == v).unwrap();
    let k1 = find("k1");
    assert_eq!(
        (
            k1["start"].clone(),
            k1["end"].clone(),
            k1["entry"].clone(),
            k1["exit"].clone()
        ),
        (
            json!(at(2, 9, 0, 0)),
            json!(at(2, 9, 21, 0)),
            json!("/"),
            json!("/docs")
        )
    );
    assert_eq!(
        (
            k1["pageviews"].clone(),
            k1["duration_ms"].clone(),
            k1["bounce"].clone()
        ),
        (json!(3), json!(1_260_000), json!(false))
    );
    assert_eq!(
        (
            k1["device"].clone(),
            k1["browser"].clone(),
            k1["os"].clone(),
            k1["source"].clone()
        ),
        (
            json!("desktop"),
            json!("Safari"),
            json!("macOS"),
            json!("Direct")
        )
    );
    let kinds: Vec<&str> = k1["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["pageview", "identify", "pageview", "identify", "pageview"]
    );
    let a1 = find("a1");
    let names: Vec<Value> = a1["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].clone())
        .collect();
    assert_eq!(
        names,
        [
            Value::Null,
            Value::Null,
            Value::Null,
            json!("signup"),
            Value::Null
        ],
        "{a1}"
    );
    assert_eq!(
        find("a2")["events"][3]["name"],
        "http://localhost/files/guide.pdf"
    );
    assert_eq!(find("a2")["person"], "a1");
    assert_eq!(find("d2")["person"], "d1");
    let strict = live
        .get(&format!("/api/visitors?{BOTH}&limit=100&identity=strict"))
        .await;
    let d2 = strict["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["visitor"] == "d2")
        .unwrap();
    assert_eq!(d2["person"], "d2");

    let default = live.get(&format!("/api/visitors?{BOTH}")).await;
    assert_eq!(
        default["sessions"].as_array().unwrap().len(),
        10,
        "default limit"
    );
    let pricing = live
        .get(&format!("/api/visitors?{BOTH}&page=/pricing"))
        .await;
    let who: Vec<&str> = pricing["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["visitor"].as_str().unwrap())
        .collect();
    assert_eq!(who, ["j1", "srv-7", "k1", fp, "d2", "a1"]);
    let csv = live
        .get_text(&format!("/api/visitors?{BOTH}&limit=100&format=csv"))
        .await;
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 18, "header and 17 sessions");
    assert_eq!(
        lines[0],
        "session,visitor,person,start,end,entry,exit,pageviews,duration_ms,bounce,device,browser,os,source,events"
    );
    assert!(
        lines[1].ends_with(&format!(
            ",j1,j1,{},{},/,/pricing,4,240000,false,desktop,Chrome,Windows,duckduckgo.com,6",
            at(2, 16, 0, 0),
            at(2, 16, 4, 0)
        )),
        "{}",
        lines[1]
    );
}

/// Realtime: distinct visitors and their pages over the 5 minutes before the collector's
/// now. At 16:04 on day 2 that is jane alone (16:00–16:04: `/`, `/pricing`, `/docs`); at
/// 17:00, nobody. (At 15:04 see [`realtime_ignores_later_events`].)
pub async fn realtime<B: Backend>(backend: &B) {
    let live = load(backend).await;
    let pages = |r: &Value| -> Vec<(String, u64)> {
        let mut p: Vec<(String, u64)> = r["pages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["key"].as_str().unwrap().to_string(),
                    p["visitors"].as_u64().unwrap(),
                )
            })
            .collect();
        p.sort();
        p
    };
    live.clock.set(at(2, 16, 4, 0));
    let r = live.get("/api/realtime?site=demo").await;
    assert_eq!(r["visitors"], 1, "{r}");
    assert_eq!(
        pages(&r),
        [
            ("/".to_string(), 1),
            ("/docs".into(), 1),
            ("/pricing".into(), 1)
        ]
    );
    live.clock.set(at(2, 17, 0, 0));
    let r = live.get("/api/realtime?site=demo").await;
    assert_eq!(r["visitors"], 0, "{r}");
}

/// Realtime at 15:04 on day 2: the 5 minutes before are srv-7 alone (15:00, 15:01 on
/// `/pricing`); jane's events at 16:00–16:04 are after now, not in the window.
///
/// The window has an upper bound too (a minute past now): jane's 16:00 events, sent by a
/// clock an hour ahead, are not "on the site now" at 15:04.
pub async fn realtime_ignores_later_events<B: Backend>(backend: &B) {
    let live = load(backend).await;
    live.clock.set(at(2, 15, 4, 0));
    let r = live.get("/api/realtime?site=demo").await;
    assert_eq!(r["visitors"], 1, "{r}");
    assert_eq!(
        r["pages"],
        json!([{"key": "/pricing", "visitors": 1}]),
        "{r}"
    );
}
