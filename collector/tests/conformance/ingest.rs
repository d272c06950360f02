//! Ingest: what was acknowledged is there once, what was refused or filtered is not, and
//! a resent event id changes no answer.

use axum::body::Body;
use serde_json::{Value, json};

use super::Backend;
use super::dataset::{BOTH, alice_resent, at, load};
use super::harness::{Browser, INGEST_KEY, Live, ev};
use crate::common::body_bytes;

/// Every answer the reports give, to compare before and after a change that must change
/// nothing.
const ANSWERS: &[&str] = &[
    "/api/summary?{BOTH}",
    "/api/summary?{BOTH}&identity=strict",
    "/api/timeseries?{BOTH}&interval=hour",
    "/api/breakdown?{BOTH}&dimension=page",
    "/api/breakdown?{BOTH}&dimension=entry",
    "/api/breakdown?{BOTH}&dimension=exit",
    "/api/breakdown?{BOTH}&dimension=source",
    "/api/breakdown?{BOTH}&dimension=browser",
    "/api/breakdown?{BOTH}&dimension=country",
    "/api/breakdown?{BOTH}&dimension=event",
    "/api/breakdown?{BOTH}&dimension=event_property&event=signup&property=plan",
    "/api/breakdown?{BOTH}&dimension=outbound",
    "/api/breakdown?{BOTH}&dimension=download",
    "/api/breakdown?{BOTH}&dimension=page&count=persons",
    "/api/summary?{BOTH}&source=Direct",
    "/api/paths/transitions?{BOTH}&page=/pricing",
    "/api/paths/flows?{BOTH}",
    "/api/funnel?{BOTH}&steps=page:/,page:/pricing,event:signup",
    "/api/visitors?{BOTH}&limit=100",
    "/api/persons/a1?site=demo",
];

/// All of [`ANSWERS`], in order.
async fn answers<B: Backend>(live: &Live<'_, B>) -> Vec<Value> {
    let mut out = Vec::new();
    for uri in ANSWERS {
        out.push(live.get(&uri.replace("{BOTH}", BOTH)).await);
    }
    out
}

/// The dataset's posts are all acknowledged (checked as it loads: `204` each, the bot's
/// with `X-Spoor-Dropped: crawler`, the wrong ingest key `401`), and what is stored is what
/// was acknowledged: 39 events (the bot's #60, the resent #2 and #3 and the refused #122
/// not among them) of one site. Then a batch refused whole (`400`) stores nothing, and a
/// batch with one bad event of two stores the other (`200`): 40 events, 16 visitors.
pub async fn acknowledgements<B: Backend>(backend: &B) {
    let live = load(backend).await;
    assert_eq!(live.get("/api/sites").await, json!({"sites": ["demo"]}));
    let s = live.get(&format!("/api/summary?{BOTH}")).await;
    assert_eq!(s["events"], 39, "{s}");
    assert_eq!(s["pageviews"], 24, "{s}");
    // The refused server-side event (#122, 15:02 on /pricing) would be srv-7's second page
    // view; the visitor log shows srv-7's session with one.
    let log = live.get(&format!("/api/visitors?{BOTH}&limit=100")).await;
    let srv = log["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["visitor"] == "srv-7")
        .unwrap();
    assert_eq!(srv["pageviews"], 1, "{srv}");
    assert_eq!(srv["events"].as_array().unwrap().len(), 2, "{srv}");
    // A bad batch is refused whole and stores nothing.
    let mut stranger = Browser::new(
        "198.51.100.20",
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
        Some("z1"),
    );
    let bad = ev(
        200,
        "pageview",
        at(2, 17, 0, 0),
        "/",
        json!({"ts": "yesterday"}),
    );
    assert_eq!(stranger.post(&live, &[bad]).await.status(), 400);
    let after = live.get(&format!("/api/summary?{BOTH}")).await;
    assert_eq!(after["events"], 39, "{after}");
    // A batch with one bad event: the good one is stored (`200` naming the other).
    let good = ev(201, "pageview", at(2, 17, 0, 0), "/", json!({}));
    let of_201 =
        json!({"pageview": crate::common::event_id(201), "visible_ms": 1_000, "scroll": 101});
    let bad = ev(202, "engagement", at(2, 17, 0, 1), "/", of_201);
    let resp = stranger.post(&live, &[good, bad]).await;
    assert_eq!(resp.status(), 200);
    let answer = crate::common::json_body(resp).await;
    assert_eq!(
        (answer["stored"].clone(), answer["duplicates"].clone()),
        (json!(1), json!(0)),
        "{answer}"
    );
    let failed = &answer["failed"][0];
    assert_eq!(
        (failed["index"].clone(), failed["code"].clone()),
        (json!(1), json!("invalid_event")),
        "{answer}"
    );
    let after = live.get(&format!("/api/summary?{BOTH}")).await;
    assert_eq!(
        (after["events"].clone(), after["visitors"].clone()),
        (json!(40), json!(16)),
        "{after}"
    );
}

/// Dedupe: event ids already stored, resent — byte for byte by their own browser, or with
/// other content by another browser, or through `/ingest` — are acknowledged (`204`),
/// counted as deduplicated, and change no report, person or log.
pub async fn dedupe<B: Backend>(backend: &B) {
    let live = load(backend).await;
    let before = answers(&live).await;
    let dedup = "spoor_events_deduplicated_total";
    let counted_before = metric(&live, dedup).await;

    // Alice's laptop retries #2 and #3 once more, with a fresh cookie jar (as a new
    // visitor would: the id alone decides).
    let mut laptop = Browser::new("198.51.100.1", super::dataset::CHROME_WINDOWS, Some("a1"));
    laptop.send(&live, &alice_resent()).await;
    // Another browser reuses ids #10 and #115 with other types, pages and times.
    let mut other = Browser::new("198.51.100.21", super::dataset::FIREFOX_LINUX, Some("z2"));
    let reuse = [
        ev(
            10,
            "custom",
            at(2, 17, 0, 0),
            "/blog",
            json!({"name": "signup"}),
        ),
        ev(115, "pageview", at(2, 17, 0, 1), "/elsewhere", json!({})),
    ];
    other.send(&live, &reuse).await;
    // The site's server retries its batch.
    let retry = [json!({
        "id": crate::common::event_id(120), "type": "pageview",
        "url": "http://localhost/pricing", "ts": at(2, 15, 0, 0), "visitor": "srv-7",
        "ip": "198.51.100.140", "user_id": "ivan",
    })];
    assert_eq!(live.ingest(INGEST_KEY, &retry).await.status(), 204);

    assert_eq!(metric(&live, dedup).await - counted_before, 5.0);
    let after = answers(&live).await;
    for ((uri, a), b) in ANSWERS.iter().zip(&after).zip(&before) {
        assert_eq!(a, b, "{uri} changed by resent event ids");
    }
}

/// `/healthz` answers `200 ok` over the store, without credentials.
pub async fn health<B: Backend>(backend: &B) {
    let live = load(backend).await;
    let request = axum::http::Request::get("/healthz")
        .body(Body::empty())
        .unwrap();
    let resp = live.send_from("192.0.2.9", request).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(body_bytes(resp).await, b"ok\n");
}

/// One series of `/metrics`, 0 when absent.
async fn metric<B: Backend>(live: &Live<'_, B>, series: &str) -> f64 {
    let resp = live.admin("GET", "/metrics", Body::empty()).await;
    let text = String::from_utf8(body_bytes(resp).await).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}
