//! Access and erasure: `GET /api/export` and `DELETE /api/erase` for a visitor, a person
//! and a site user id, and the binary's `export` and `erase` subcommands on the same file.

#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::Request;
use common::{TestCollector, batch, event, event_id, json_body};
use serde_json::json;
use spoor_collector::identity::verify;
use spoor_collector::site_secrets::SiteSecrets;

const PAGE: &str = "http://localhost/";

/// The identity secret of site `demo` in these tests.
const SECRET: &str = "erasure-test-secret-0123";

/// Visitors `v-a` and `v-b` both log in as `alice` (one person), each in its first batch
/// and signed by the site, so the logins are verified; `v-c` is someone else. Strict
/// identity keeps the three from being joined by their shared test fingerprint.
async fn three_visitors() -> TestCollector {
    let c = TestCollector::start_with(|c| {
        c.strict_identity = true;
        c.identify_secrets = SiteSecrets::parse(&format!("demo={SECRET}")).unwrap();
    })
    .await;
    let sig = verify::sign(SECRET.as_bytes(), "alice");
    let sends = [
        vec![
            event(&event_id(1), "pageview", PAGE, json!({"visitor": "v-a"})),
            event(
                &event_id(2),
                "identify",
                PAGE,
                json!({"visitor": "v-a", "user": "alice", "sig": sig}),
            ),
        ],
        vec![
            event(
                &event_id(3),
                "pageview",
                PAGE,
                json!({"visitor": "v-b", "session": "s-b"}),
            ),
            event(
                &event_id(4),
                "identify",
                PAGE,
                json!({"visitor": "v-b", "session": "s-b", "user": "alice", "sig": sig}),
            ),
        ],
        vec![event(
            &event_id(5),
            "pageview",
            PAGE,
            json!({"visitor": "v-c", "session": "s-c"}),
        )],
    ];
    for events in sends {
        let resp = c.collect(&batch(&events), &[]).await;
        assert_eq!(resp.status(), 204);
    }
    c
}

async fn erase(c: &TestCollector, query: &str) -> (u16, serde_json::Value) {
    let resp = c
        .send(
            Request::delete(format!("/api/erase?{query}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    (resp.status().as_u16(), json_body(resp).await)
}

fn ids(export: &serde_json::Value, table: &str) -> Vec<String> {
    export[table]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["id"].to_string())
        .collect()
}

#[tokio::test]
async fn export_covers_a_visitor_alone_or_its_whole_person() {
    let c = three_visitors().await;
    let (status, alone) = c.get_json("/api/export?site=demo&visitor=v-a").await;
    assert_eq!(status, 200);
    assert_eq!(alone["visitors"], json!(["v-a"]));
    assert_eq!(ids(&alone, "events").len(), 2);
    assert_eq!(alone["events"][1]["user_id"], "alice");
    assert_eq!(alone["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(alone["links"][0]["b"], "user:alice", "its login link");

    let (status, person) = c.get_json("/api/export?site=demo&person=v-a").await;
    assert_eq!(status, 200);
    assert_eq!(person["visitors"], json!(["v-a", "v-b"]));
    assert_eq!(person["users"], json!(["alice"]));
    assert_eq!(ids(&person, "events").len(), 4);
    assert_eq!(ids(&person, "links").len(), 2);

    assert_eq!(person["evidence"], json!(["login"]));

    let (_, by_user) = c.get_json("/api/export?site=demo&user=alice").await;
    assert_eq!(by_user["evidence"], json!(["verified-login"]));
    for key in ["visitors", "users", "events", "sessions", "links"] {
        assert_eq!(
            by_user[key], person[key],
            "the user's person is the same person"
        );
    }
}

#[tokio::test]
async fn export_and_erase_refuse_unclear_requests() {
    let c = three_visitors().await;
    let (status, body) = c
        .get_json("/api/export?site=demo&visitor=v-a&user=alice")
        .await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("exactly one"));
    assert_eq!(c.get_json("/api/export?visitor=v-a").await.0, 400);
    assert_eq!(
        c.get_json("/api/export?site=demo&visitor=nobody").await.0,
        404
    );
    assert_eq!(
        c.get_json("/api/export?site=other&visitor=v-a").await.0,
        404
    );
    assert_eq!(erase(&c, "site=demo").await.0, 400);
}

#[tokio::test]
async fn erasing_a_user_deletes_its_person_and_nothing_else() {
    let c = three_visitors().await;
    let (status, erased) = erase(&c, "site=demo&user=alice").await;
    assert_eq!(status, 200);
    assert_eq!(erased["events"], 4);
    assert_eq!(erased["sessions"], 2);
    assert_eq!(erased["links"], 2);
    assert_eq!(c.column("SELECT DISTINCT visitor FROM events"), ["v-c"]);
    assert_eq!(c.column("SELECT DISTINCT visitor FROM sessions"), ["v-c"]);
    assert!(c.column("SELECT a FROM links").is_empty());
    assert_eq!(c.get_json("/api/export?site=demo&person=v-a").await.0, 404);
    let (status, again) = erase(&c, "site=demo&user=alice").await;
    assert_eq!((status, again["events"].clone()), (200, json!(0)));
    assert_eq!(c.get_json("/api/export?site=demo&visitor=v-c").await.0, 200);
}

#[tokio::test]
async fn erasing_a_visitor_keeps_the_rest_of_its_person() {
    let c = three_visitors().await;
    // A batch with one good event and one that fails (an unknown type): the failed one is
    // kept in failed_events, with v-b's id in its raw JSON.
    let mixed = batch(&[
        event(&event_id(6), "pageview", PAGE, json!({"visitor": "v-c"})),
        event(&event_id(7), "bogus", PAGE, json!({"visitor": "v-b"})),
    ]);
    assert_eq!(c.collect(&mixed, &[]).await.status(), 200);
    let (_, before) = c.get_json("/api/export?site=demo&visitor=v-b").await;
    assert_eq!(before["failed_events"].as_array().map(Vec::len), Some(1));
    let mapped = "SELECT visitor || ' ' || mode FROM visitor_persons ORDER BY 1";
    assert_eq!(
        c.column(mapped),
        ["v-a inclusive", "v-a strict", "v-b inclusive", "v-b strict"]
    );

    let (status, erased) = erase(&c, "site=demo&visitor=v-b").await;
    assert_eq!(status, 200);
    assert_eq!(
        (erased["events"].clone(), erased["links"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(
        (
            erased["failed_events"].clone(),
            erased["person_mappings"].clone()
        ),
        (json!(1), json!(2))
    );
    assert!(c.column("SELECT raw FROM failed_events").is_empty());
    // v-a is now the only visitor of its person: its own person, so no mapping row.
    assert!(c.column(mapped).is_empty());
    let (_, person) = c.get_json("/api/export?site=demo&person=v-a").await;
    assert_eq!(person["visitors"], json!(["v-a"]));
}

fn cli(args: &[&str]) -> (bool, serde_json::Value, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spoor-collector"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.success(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_binary_exports_and_erases_from_the_command_line() {
    let c = three_visitors().await;
    let db = c.db.to_str().unwrap().to_string();
    let (ok, export, err) = cli(&["export", "--db", &db, "--site", "demo", "--user", "alice"]);
    assert!(ok, "{err}");
    assert_eq!(export["visitors"], json!(["v-a", "v-b"]));
    assert_eq!(export["events"].as_array().unwrap().len(), 4);

    let (ok, erased, err) = cli(&["erase", "--db", &db, "--site", "demo", "--person", "v-b"]);
    assert!(ok, "{err}");
    assert_eq!(erased["events"], 4);
    assert_eq!(c.column("SELECT DISTINCT visitor FROM events"), ["v-c"]);

    let (ok, _, err) = cli(&["erase", "--db", &db, "--site", "demo"]);
    assert!(!ok && err.contains("exactly one"), "{err}");
    let (ok, _, err) = cli(&[
        "export",
        "--db",
        "/nonexistent/x.db",
        "--site",
        "d",
        "--visitor",
        "v",
    ]);
    assert!(!ok && err.contains("no such database"), "{err}");
}
