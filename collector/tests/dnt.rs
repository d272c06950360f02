//! The server-side privacy switch through the router: with `honor_dnt` on (the default), a
//! request carrying `DNT: 1` or `Sec-GPC: 1` gets no cookie and is counted for today's
//! cookieless visitor, with no client id stored, no login kept and no link made; with it
//! off, the same request is tracked like any other.

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;

const PAGE: &str = "http://127.0.0.1:8080/";

#[tokio::test]
async fn dnt_and_gpc_get_no_cookie_and_no_persistent_id() {
    let c = TestCollector::start().await;
    // A tracked visit first, so there is a cookie and a visitor to be linked to.
    let first = c
        .collect(&pageview(&event_id(1), "/", Some("v-1")), &[])
        .await;
    assert_eq!(first.status(), StatusCode::NO_CONTENT);
    let cookie = set_cookie(&first, "spoor_sid").unwrap();
    let pair = cookie.split(';').next().unwrap().to_string();
    let links_before = c.column("SELECT CAST(count(*) AS TEXT) FROM links");

    for (n, header) in [(2, "dnt"), (3, "sec-gpc")] {
        let events = [
            event(&event_id(n), "pageview", PAGE, json!({"visitor": "v-1"})),
            event(
                &event_id(10 + n),
                "identify",
                PAGE,
                json!({"visitor": "v-1", "user": "alice"}),
            ),
        ];
        let resp = c
            .collect(&batch(&events), &[(header, "1"), ("cookie", &pair)])
            .await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT, "{header}");
        assert!(
            resp.headers().get("set-cookie").is_none(),
            "{header}: no cookie at all"
        );
        let row = c.row(&format!(
            "SELECT visitor, evidence, client_id FROM events WHERE id = '{}'",
            event_id(n)
        ));
        assert!(
            row[0].as_deref().unwrap().starts_with("fp_"),
            "{header}: {row:?}"
        );
        assert_eq!(row[1].as_deref(), Some("fingerprint"), "{header}");
        assert_eq!(row[2], None, "{header}: the beacon's id is not stored");
        let login = format!("SELECT id FROM events WHERE id = '{}'", event_id(10 + n));
        assert!(
            c.column(&login).is_empty(),
            "{header}: the login is not kept"
        );
    }
    assert!(
        c.column("SELECT user_id FROM events WHERE user_id IS NOT NULL")
            .is_empty()
    );
    assert_eq!(
        c.column("SELECT CAST(count(*) AS TEXT) FROM links"),
        links_before,
        "no link to the tracked visitor, not even by login"
    );
}

#[tokio::test]
async fn with_the_switch_off_dnt_is_tracked_like_any_request() {
    let c = TestCollector::start_with(|config| config.honor_dnt = false).await;
    let resp = c
        .collect(&pageview(&event_id(1), "/", Some("v-1")), &[("dnt", "1")])
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(set_cookie(&resp, "spoor_sid").is_some());
    assert_eq!(
        c.column("SELECT visitor || ' ' || client_id FROM events"),
        ["v-1 v-1"]
    );
}

#[tokio::test]
async fn dnt_0_is_no_signal() {
    let c = TestCollector::start().await;
    let resp = c
        .collect(
            &pageview(&event_id(1), "/", Some("v-1")),
            &[("dnt", "0"), ("sec-gpc", "0")],
        )
        .await;
    assert!(set_cookie(&resp, "spoor_sid").is_some());
}
