//! Every event type of the v2 wire contract through `POST /collect`, checked in the columns
//! of the SQLite file: each type fills its own, the context and campaign tags fill theirs,
//! and the rest stay NULL.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

/// The columns added for v2 events (migration 0002), in table order.
const DETAIL_COLUMNS: [&str; 15] = [
    "screen",
    "lang",
    "tz",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "name",
    "props",
    "target",
    "pageview_id",
    "visible_ms",
    "scroll",
    "user_id",
];

const PAGE: &str = "http://127.0.0.1:8080/pricing";

/// The detail columns of event `id` that are not NULL, as `(column, value)`.
fn stored_details(c: &TestCollector, id: &str) -> Vec<(&'static str, String)> {
    let sql = format!(
        "SELECT {} FROM events WHERE id = '{id}'",
        DETAIL_COLUMNS.join(", ")
    );
    DETAIL_COLUMNS
        .iter()
        .zip(c.row(&sql))
        .filter_map(|(column, value)| value.map(|v| (*column, v)))
        .collect()
}

fn pairs(expected: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    expected.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

/// Posts one event and asserts that it is acknowledged.
async fn post_ok(c: &TestCollector, event: Value) {
    let resp = c.collect(&batch(std::slice::from_ref(&event)), &[]).await;
    let status = resp.status();
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "{event}: {}",
        error_reason(resp).await
    );
}

#[tokio::test]
async fn a_pageview_stores_its_context_and_campaign_tags() {
    let c = TestCollector::start().await;
    let id = event_id(1);
    let url = "http://127.0.0.1:8080/?utm_source=news%20letter&utm_medium=email\
               &utm_campaign=spring+sale&utm_term=caf%C3%A9&utm_content=hero&utm_source=again";
    let fields = json!({"screen": "1920x1080", "lang": "fr-CA", "tz": "America/Toronto"});
    post_ok(&c, event(&id, "pageview", url, fields)).await;
    assert_eq!(
        stored_details(&c, &id),
        pairs(&[
            ("screen", "1920x1080"),
            ("lang", "fr-CA"),
            ("tz", "America/Toronto"),
            ("utm_source", "news letter"),
            ("utm_medium", "email"),
            ("utm_campaign", "spring sale"),
            ("utm_term", "café"),
            ("utm_content", "hero"),
        ])
    );
    assert_eq!(c.column("SELECT kind FROM events"), ["pageview"]);
}

#[tokio::test]
async fn invalid_context_is_stored_as_null_and_the_event_kept() {
    let c = TestCollector::start().await;
    let id = event_id(1);
    let fields = json!({"screen": "huge", "lang": "en GB", "tz": 7});
    post_ok(&c, event(&id, "pageview", PAGE, fields)).await;
    assert_eq!(stored_details(&c, &id), pairs(&[]));
    assert_eq!(c.column("SELECT path FROM events"), ["/pricing"]);
}

#[tokio::test]
async fn an_engagement_stores_its_pageview_visible_time_and_scroll() {
    let c = TestCollector::start().await;
    let (pageview, engagement, long) = (event_id(1), event_id(2), event_id(3));
    post_ok(&c, event(&pageview, "pageview", PAGE, json!({}))).await;
    let fields = json!({"pageview": pageview, "visible_ms": 42_000, "scroll": 75});
    post_ok(&c, event(&engagement, "engagement", PAGE, fields)).await;
    assert_eq!(
        stored_details(&c, &engagement),
        pairs(&[
            ("screen", SCREEN),
            ("pageview_id", &pageview),
            ("visible_ms", "42000"),
            ("scroll", "75")
        ])
    );
    let fields = json!({"pageview": pageview, "visible_ms": 90_000_000_000_u64, "scroll": 0});
    post_ok(&c, event(&long, "engagement", PAGE, fields)).await;
    assert_eq!(
        c.row(&format!(
            "SELECT visible_ms, scroll FROM events WHERE id = '{long}'"
        )),
        [Some("86400000".into()), Some("0".into())],
        "visible time is capped at a day"
    );
}

#[tokio::test]
async fn a_custom_event_stores_its_name_and_props_as_json() {
    let c = TestCollector::start().await;
    let (with_props, without) = (event_id(1), event_id(2));
    let fields = json!({
        "name": "signup",
        "props": {"plan": "pro", "seats": 3, "price": 9.5, "trial": true},
    });
    post_ok(&c, event(&with_props, "custom", PAGE, fields)).await;
    assert_eq!(
        stored_details(&c, &with_props),
        pairs(&[
            ("screen", SCREEN),
            ("name", "signup"),
            (
                "props",
                r#"{"plan":"pro","price":9.5,"seats":3,"trial":true}"#
            ),
        ])
    );
    post_ok(
        &c,
        event(&without, "custom", PAGE, json!({"name": "Play video"})),
    )
    .await;
    assert_eq!(
        stored_details(&c, &without),
        pairs(&[("screen", SCREEN), ("name", "Play video")])
    );
}

#[tokio::test]
async fn outbound_and_download_store_their_target() {
    let c = TestCollector::start().await;
    let (outbound, download) = (event_id(1), event_id(2));
    let target = "https://docs.example.org/guide?x=1";
    post_ok(
        &c,
        event(&outbound, "outbound", PAGE, json!({"target": target})),
    )
    .await;
    let file = "https://cdn.example.com/spoor-1.0.tar.gz";
    post_ok(
        &c,
        event(&download, "download", PAGE, json!({"target": file})),
    )
    .await;
    assert_eq!(
        stored_details(&c, &outbound),
        pairs(&[
            ("screen", SCREEN),
            ("target", "https://docs.example.org/guide")
        ]),
        "stored without its query (see stored_url)"
    );
    assert_eq!(
        stored_details(&c, &download),
        pairs(&[("screen", SCREEN), ("target", file)])
    );
    assert_eq!(
        c.column("SELECT kind FROM events ORDER BY id"),
        ["outbound", "download"]
    );
}

#[tokio::test]
async fn identify_stores_the_user_id() {
    let c = TestCollector::start().await;
    let id = event_id(1);
    post_ok(&c, event(&id, "identify", PAGE, json!({"user": "user-42"}))).await;
    assert_eq!(
        stored_details(&c, &id),
        pairs(&[("screen", SCREEN), ("user_id", "user-42")])
    );
    assert_eq!(c.column("SELECT visitor FROM events"), ["v-1"]);
}

#[tokio::test]
async fn summary_counts_only_pageviews_as_pageviews_and_every_event_as_an_event() {
    let c = TestCollector::start().await;
    let pageview = event_id(1);
    let events = [
        event(&pageview, "pageview", PAGE, json!({})),
        event(
            &event_id(2),
            "engagement",
            PAGE,
            json!({"pageview": pageview, "visible_ms": 1, "scroll": 1}),
        ),
        event(&event_id(3), "custom", PAGE, json!({"name": "n"})),
        event(&event_id(4), "outbound", PAGE, json!({"target": PAGE})),
        event(&event_id(5), "download", PAGE, json!({"target": PAGE})),
        event(&event_id(6), "identify", PAGE, json!({"user": "u"})),
    ];
    let resp = c.collect(&batch(&events), &[]).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (_, summary) = c.get_json("/api/summary?site=demo").await;
    assert_eq!(summary["pageviews"], 1);
    assert_eq!(summary["events"], 6);
}

#[tokio::test]
async fn a_bad_event_of_any_type_fails_alone_naming_the_field() {
    let c = TestCollector::start().await;
    let pageview = event_id(1);
    let cases = [
        (
            "engagement",
            json!({"pageview": pageview, "visible_ms": 1, "scroll": 101}),
            "events[1].scroll: must be a whole number from 0 to 100",
        ),
        (
            "engagement",
            json!({"visible_ms": 1, "scroll": 1}),
            "events[1].pageview: required for engagement events",
        ),
        (
            "custom",
            json!({"name": "n", "props": {"color": {"r": 1}}}),
            "events[1].props.color: nested objects are not allowed",
        ),
        (
            "custom",
            json!({"name": "n", "props": {"plan": null}}),
            "events[1].props.plan: null is not allowed",
        ),
        (
            "outbound",
            json!({"target": "javascript:alert(1)"}),
            "events[1].target: scheme \"javascript\" is not http or https",
        ),
        (
            "download",
            json!({}),
            "events[1].target: required for download events",
        ),
        (
            "identify",
            json!({"user": "a\u{1b}b"}),
            "events[1].user: must not contain control characters",
        ),
        (
            "heartbeat",
            json!({}),
            "events[1].type: unknown event type \"heartbeat\"",
        ),
    ];
    for (n, (kind, fields, want)) in (0u32..).zip(cases) {
        let good = event_id(100 + n);
        let events = [
            event(&good, "pageview", PAGE, json!({})),
            event(&event_id(200 + n), kind, PAGE, fields.clone()),
        ];
        let resp = c.collect(&batch(&events), &[]).await;
        assert_eq!(resp.status(), StatusCode::OK, "{kind} {fields}");
        let answer = json_body(resp).await;
        assert_eq!(answer["stored"], 1, "{kind} {fields}: {answer}");
        assert_eq!(answer["failed"][0]["index"], 1, "{answer}");
        let reason = answer["failed"][0]["error"].as_str().unwrap_or_default();
        assert!(reason.starts_with(want), "{kind} {fields}: {reason}");
        assert_eq!(
            c.column(&format!("SELECT id FROM events WHERE id = '{good}'"))
                .len(),
            1
        );

        // Alone, the bad event refuses the batch with the same reason.
        let alone = [event(&event_id(300 + n), kind, PAGE, fields.clone())];
        let resp = c.collect(&batch(&alone), &[]).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{kind} {fields}");
        let reason = error_reason(resp).await;
        assert!(
            reason.starts_with(&want.replace("events[1]", "events[0]")),
            "{reason}"
        );
    }
    assert_eq!(
        c.column("SELECT CAST(count(*) AS TEXT) FROM events WHERE id >= '00000000-0000-4000-8000-0000000000c8'"),
        ["0"],
        "no bad event is stored"
    );
    assert_eq!(
        c.column("SELECT CAST(count(*) AS TEXT) FROM failed_events"),
        [(2 * 8).to_string()],
        "each bad event is kept in failed_events"
    );
}
