//! The reports API through the router (no sockets): shapes, ranges, CSV, funnels saved by
//! name, and a `400` naming every bad parameter, on a small hand-made dataset posted to
//! `/collect` (numbers worked out in the comments; the arithmetic of every report is
//! checked in `store/sqlite/reports/tests.rs`).

mod common;

use axum::body::Body;
use axum::http::{Request, header};
use common::*;
use serde_json::{Value, json};

/// 2026-05-28T20:26:40Z.
const T: i64 = 1_780_000_000_000;
const DAY: &str = "from=2026-05-28&to=2026-05-28";
const SITE: &str = "http://127.0.0.1:8080";

fn at(n: u32, visitor: &str, kind: &str, ts: i64, url: &str, fields: Value) -> Value {
    let mut fields = fields;
    fields["visitor"] = json!(visitor);
    fields["ts"] = json!(ts);
    event(&event_id(n), kind, &format!("{SITE}{url}"), fields)
}

/// a: `/` then `/pricing` a minute later (from google.com); b: `/` alone, direct, from the
/// `spring` campaign (a bounce); c on 2026-05-27: `/`. Day 28: 2 visitors, 2 sessions, 3 page views,
/// bounce rate 0.5, mean duration 30 s; day 27: 1 visitor, 1 session.
async fn dataset() -> TestCollector {
    // The dataset lies in May 2026: let the collector take events that old.
    let c = TestCollector::start_with(|config| {
        config.limits.max_event_age_ms = now_ms() - T + 2 * 86_400_000;
    })
    .await;
    let a = batch(&[
        at(
            1,
            "a",
            "pageview",
            T,
            "/",
            json!({"referrer": "https://www.google.com/"}),
        ),
        at(2, "a", "pageview", T + 60_000, "/pricing", json!({})),
    ]);
    assert_eq!(c.collect(&a, &[]).await.status(), 204);
    let b = batch(&[at(
        3,
        "b",
        "pageview",
        T,
        "/?utm_campaign=spring",
        json!({}),
    )]);
    assert_eq!(c.collect(&b, &[]).await.status(), 204);
    let c_ = batch(&[at(4, "c", "pageview", T - 86_400_000, "/", json!({}))]);
    assert_eq!(c.collect(&c_, &[]).await.status(), 204);
    c
}

#[tokio::test]
async fn summary_has_the_range_the_previous_period_and_the_change() {
    let c = dataset().await;
    let (status, s) = c.get_json(&format!("/api/summary?site=demo&{DAY}")).await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(
        (s["from"].clone(), s["to"].clone()),
        (json!("2026-05-28"), json!("2026-05-28"))
    );
    assert_eq!(s["visitors"], 2);
    assert_eq!(s["pageviews"], 3);
    assert_eq!(s["sessions"], 2);
    assert_eq!(s["bounce_rate"], 0.5);
    assert_eq!(s["mean_duration_ms"], 30_000);
    assert_eq!(s["views_per_session"], 1.5);
    assert_eq!(s["previous"]["visitors"], 1);
    assert_eq!(s["change"]["visitors"], 1.0);
    assert_eq!(
        s["change"]["bounce_rate"],
        0.0 - 0.5,
        "1.0 before, 0.5 now: -50 %"
    );
    // The default range is the last 30 days: this May history is outside it.
    let (_, now) = c.get_json("/api/summary?site=demo").await;
    assert_eq!(now["pageviews"], 0);
    // A filter: b came direct.
    let (_, direct) = c
        .get_json(&format!("/api/summary?site=demo&{DAY}&source=Direct"))
        .await;
    assert_eq!(
        (direct["visitors"].clone(), direct["bounce_rate"].clone()),
        (json!(1), json!(1.0))
    );
    let (_, phone) = c
        .get_json(&format!("/api/summary?site=demo&{DAY}&device=mobile"))
        .await;
    assert_eq!(phone["visitors"], 0);
}

#[tokio::test]
async fn timeseries_breakdowns_and_csv() {
    let c = dataset().await;
    let (status, ts) = c
        .get_json("/api/timeseries?site=demo&from=2026-05-27&to=2026-05-28&interval=day")
        .await;
    assert_eq!(status, 200, "{ts}");
    let points = ts["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    assert_eq!(points[0]["t"], "2026-05-27T00:00:00Z");
    assert_eq!(
        (
            points[0]["visitors"].clone(),
            points[1]["pageviews"].clone()
        ),
        (json!(1), json!(3))
    );
    let (_, hours) = c
        .get_json(&format!("/api/timeseries?site=demo&{DAY}&interval=hour"))
        .await;
    assert_eq!(hours["points"].as_array().unwrap().len(), 24);
    assert_eq!(hours["points"][20]["sessions"], 2);

    let (_, pages) = c
        .get_json(&format!("/api/breakdown?site=demo&{DAY}&dimension=page"))
        .await;
    assert_eq!(pages["dimension"], "page");
    assert_eq!(pages["rows"][0]["key"], "/");
    assert_eq!(pages["rows"][0]["visitors"], 2);
    assert_eq!(pages["rows"][0]["share"], 1.0);
    assert_eq!(pages["rows"][1]["key"], "/pricing");
    let (_, classes) = c
        .get_json(&format!(
            "/api/breakdown?site=demo&{DAY}&dimension=source_class"
        ))
        .await;
    let keys: Vec<&str> = classes["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["search", "direct"]);
    let (_, devices) = c
        .get_json(&format!(
            "/api/breakdown?site=demo&{DAY}&dimension=device&limit=1"
        ))
        .await;
    assert_eq!(devices["rows"].as_array().unwrap().len(), 1);

    let resp = c
        .send(
            Request::get(format!(
                "/api/breakdown?site=demo&{DAY}&dimension=campaign&format=csv"
            ))
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = String::from_utf8(body_bytes(resp).await).unwrap();
    assert_eq!(
        text,
        "key,visitors,pageviews,events,sessions,share\r\nspring,1,1,1,1,0.5\r\n"
    );
}

#[tokio::test]
async fn paths_funnels_visitor_log_realtime_and_sites() {
    let c = dataset().await;
    let (_, t) = c
        .get_json(&format!(
            "/api/paths/transitions?site=demo&{DAY}&page=/pricing"
        ))
        .await;
    assert_eq!(t["views"], 1);
    assert_eq!(t["before"], json!([{"key": "/", "count": 1, "share": 1.0}]));
    assert_eq!(
        t["after"],
        json!([{"key": "(exit)", "count": 1, "share": 1.0}])
    );
    let (_, f) = c
        .get_json(&format!("/api/paths/flows?site=demo&{DAY}&steps=2"))
        .await;
    // Two sequences of one session each, in path order: b's `/`, a's `/` → `/pricing`.
    assert_eq!(f["sequences"][0], json!({"pages": ["/"], "sessions": 1}));
    assert_eq!(
        f["sequences"][1],
        json!({"pages": ["/", "/pricing"], "sessions": 1})
    );
    assert_eq!(
        f["links"],
        json!([{"source": "1 /", "target": "2 /pricing", "value": 1}])
    );

    // Strict: a and b post from the same address and browser, which the inclusive reading
    // takes for one person (a recovery link).
    let uri = format!(
        "/api/funnel?site=demo&{DAY}&identity=strict&steps=page:/,page:/pricing&window_ms=3600000"
    );
    let (status, funnel) = c.get_json(&uri).await;
    assert_eq!(status, 200, "{funnel}");
    assert_eq!(
        funnel["steps"][0],
        json!({"step": "page:/", "persons": 2, "conversion": 1.0, "dropoff": 0})
    );
    assert_eq!(
        funnel["steps"][1],
        json!({"step": "page:/pricing", "persons": 1, "conversion": 0.5, "dropoff": 1})
    );

    let save = json!({"site": "demo", "name": "pricing", "steps": ["page:/", "page:/pricing"], "window_ms": 3600000});
    let resp = c
        .send(
            Request::post("/api/funnels")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(save.to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let (_, list) = c.get_json("/api/funnels?site=demo").await;
    assert_eq!(list["funnels"][0]["name"], "pricing");
    let (_, by_name) = c
        .get_json(&format!(
            "/api/funnel?site=demo&{DAY}&identity=strict&name=pricing"
        ))
        .await;
    assert_eq!(by_name["steps"], funnel["steps"]);
    let (status, _) = c
        .get_json(&format!("/api/funnel?site=demo&{DAY}&name=nope"))
        .await;
    assert_eq!(status, 404);

    let (_, log) = c.get_json(&format!("/api/visitors?site=demo&{DAY}")).await;
    let sessions = log["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let a = sessions.iter().find(|s| s["visitor"] == "a").unwrap();
    assert_eq!(
        (
            a["entry"].clone(),
            a["exit"].clone(),
            a["pageviews"].clone()
        ),
        (json!("/"), json!("/pricing"), json!(2))
    );
    assert_eq!(
        (a["source"].clone(), a["browser"].clone()),
        (json!("google.com"), json!("Other"))
    );
    assert_eq!(a["events"].as_array().unwrap().len(), 2);

    let (_, inclusive) = c
        .get_json(&format!("/api/funnel?site=demo&{DAY}&name=pricing"))
        .await;
    assert_eq!(inclusive["steps"][0]["persons"], 1);

    let (_, rt) = c.get_json("/api/realtime?site=demo").await;
    assert_eq!(rt["visitors"], 0, "nothing in the last 5 minutes");
    let (_, sites) = c.get_json("/api/sites").await;
    assert_eq!(sites["sites"], json!(["demo"]));
}

#[tokio::test]
async fn every_bad_parameter_is_a_400_that_names_it() {
    let c = dataset().await;
    for (uri, name) in [
        ("/api/summary", "site:"),
        ("/api/summary?site=demo&from=2026-02-30", "from:"),
        (
            "/api/summary?site=demo&from=2026-05-02&to=2026-05-01",
            "from:",
        ),
        (
            "/api/summary?site=demo&from=2020-01-01&to=2026-05-01",
            "from, to:",
        ),
        ("/api/summary?site=demo&device=watch", "device:"),
        ("/api/summary?site=demo&count=people", "count:"),
        ("/api/summary?site=demo&identity=loose", "identity:"),
        ("/api/breakdown?site=demo", "dimension:"),
        ("/api/breakdown?site=demo&dimension=colour", "dimension:"),
        (
            "/api/breakdown?site=demo&dimension=page&limit=5000",
            "limit:",
        ),
        (
            "/api/breakdown?site=demo&dimension=page&format=xml",
            "format:",
        ),
        (
            "/api/breakdown?site=demo&dimension=event_property&event=x",
            "property:",
        ),
        ("/api/timeseries?site=demo&interval=minute", "interval:"),
        (
            "/api/timeseries?site=demo&from=2026-01-01&to=2026-05-01&interval=hour",
            "interval:",
        ),
        ("/api/paths/transitions?site=demo", "page:"),
        ("/api/paths/flows?site=demo&steps=12", "steps:"),
        ("/api/funnel?site=demo&steps=page:/", "steps:"),
        ("/api/funnel?site=demo&steps=page:/,click:x", "steps:"),
        (
            "/api/funnel?site=demo&steps=page:/,page:/a&window_ms=-1",
            "window_ms:",
        ),
    ] {
        let (status, body) = c.get_json(uri).await;
        assert_eq!(status, 400, "{uri}: {body}");
        let reason = body["error"].as_str().unwrap();
        assert!(reason.starts_with(name), "{uri}: {reason}");
    }
    let resp = c
        .send(
            Request::post("/api/funnels")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    r#"{"site": "demo", "name": "x", "steps": ["page:/"]}"#,
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), 400);
    let resp = c
        .send(
            Request::post("/api/funnels")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("not json"))
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), 400);
}
