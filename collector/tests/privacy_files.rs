//! What the database files hold, read as raw bytes: stored URLs keep no private query
//! parameters and no fragment; an erased subject leaves none of its strings in the
//! database, its `-wal` or its `-shm` file; the files and their directory are owner-only;
//! and old daily salts are gone at start without any request.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use common::{TestCollector, batch, event, event_id, json_body, now_ms};
use serde_json::json;
use spoor_collector::Collector;
use spoor_collector::clock::Clock;
use spoor_collector::config::Config;
use spoor_collector::identity::salt::DAY_MS;
use spoor_collector::store::Store;
use spoor_collector::store::sqlite::SqliteStore;

/// The database file and its `-wal` and `-shm` files.
fn files(db: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| PathBuf::from(format!("{}{suffix}", db.display())))
        .collect()
}

/// The files of `db` that hold `needle`, as raw bytes.
fn holding(db: &Path, needle: &str) -> Vec<String> {
    files(db)
        .into_iter()
        .filter(|f| {
            std::fs::read(f)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .map(|f| f.display().to_string())
        .collect()
}

const EMAIL: &str = "a@b.c";
const TOKEN: &str = "xyz-5ecret-t0ken";

#[tokio::test]
async fn stored_urls_keep_only_the_allowed_query_parameters_and_no_fragment() {
    let c = TestCollector::start_with(|config| {
        config.keep_query_params = "demo=q".parse().unwrap();
    })
    .await;
    let private = format!("email={EMAIL}&token={TOKEN}");
    let url = format!("http://127.0.0.1:8080/shop?{private}&utm_source=n&q=1#frag-9d1c");
    let referrer = format!("http://127.0.0.1:8080/login?{private}#{TOKEN}");
    let target = format!("https://other.example/out?{private}");
    let events = [
        event(
            &event_id(1),
            "pageview",
            &url,
            json!({"referrer": referrer}),
        ),
        event(&event_id(2), "outbound", &url, json!({"target": target})),
        // A hash-routed app: the route's path stays, its query goes.
        event(
            &event_id(5),
            "pageview",
            &format!("http://127.0.0.1:8080/app#/orders/7?{private}"),
            json!({}),
        ),
        // Fails (not a host of the site), and its URL goes to `failed_events`.
        event(
            &event_id(3),
            "pageview",
            &format!("http://elsewhere.example/?{private}"),
            json!({}),
        ),
        // Fails validation (a time in 1970): its JSON goes to `failed_events`.
        event(&event_id(4), "pageview", &url, json!({"ts": 5})),
    ];
    let resp = c.collect(&batch(&events), &[]).await;
    assert_eq!(resp.status(), 200, "three stored, two failed");

    assert_eq!(
        c.row(
            "SELECT url, referrer, utm_source, path FROM events
             WHERE kind = 'pageview' AND path = '/shop'"
        ),
        [
            Some("http://127.0.0.1:8080/shop?utm_source=n&q=1".into()),
            Some("http://127.0.0.1:8080/login".into()),
            Some("n".into()),
            Some("/shop".into()),
        ]
    );
    assert_eq!(
        c.column("SELECT url FROM events WHERE path = '/app'"),
        ["http://127.0.0.1:8080/app#/orders/7"]
    );
    assert_eq!(
        c.column("SELECT target FROM events WHERE kind = 'outbound'"),
        ["https://other.example/out"]
    );
    assert_eq!(
        c.column("SELECT count(*) || '' FROM failed_events"),
        ["2"],
        "the failures are kept, without the private parameters"
    );
    for needle in [EMAIL, "a%40b.c", TOKEN, "frag-9d1c"] {
        assert_eq!(holding(&c.db, needle), Vec::<String>::new(), "{needle}");
    }
    // The search finds what is there.
    assert_eq!(holding(&c.db, "utm_source=n&q=1").len(), 1);
}

/// A subject's strings that only its own rows hold (report rollups keep paths, sources and
/// event names as aggregate keys, so those are not among them).
const VISITOR: &str = "v-erase-me-5c1e";
const USER: &str = "u-erase-me-4b2d";
const TITLE: &str = "Title only the erased visitor saw 9e7f";

#[tokio::test]
async fn an_erasure_leaves_none_of_the_subjects_strings_in_the_files() {
    // Strict identity: the other visitor behind the same test address is not joined to
    // the subject by a recovery link, so it is not part of the erased person.
    let c = TestCollector::start_with(|c| c.strict_identity = true).await;
    let mine = |n: u32, kind: &str, fields: serde_json::Value| {
        let mut e = event(&event_id(n), kind, "http://localhost/page", fields);
        e["visitor"] = json!(VISITOR);
        e["session"] = json!("s-erase");
        e["title"] = json!(TITLE);
        e
    };
    let sends = [
        mine(1, "pageview", json!({})),
        mine(2, "identify", json!({"user": USER})),
        mine(3, "pageview", json!({})),
        event(&event_id(4), "pageview", "http://localhost/page", json!({})),
    ];
    for e in sends {
        assert_eq!(c.collect(&batch(&[e]), &[]).await.status(), 204);
    }
    for needle in [VISITOR, USER, TITLE] {
        assert!(
            !holding(&c.db, needle).is_empty(),
            "{needle} is stored first"
        );
    }

    let resp = c
        .send(
            Request::delete(format!("/api/erase?site=demo&person={VISITOR}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let erased = json_body(resp).await;
    assert_eq!(erased["events"], 3, "{erased}");

    for needle in [VISITOR, USER, TITLE] {
        assert_eq!(holding(&c.db, needle), Vec::<String>::new(), "{needle}");
    }
    assert_eq!(
        c.column("SELECT visitor FROM events"),
        ["v-1"],
        "the other visitor's event stays"
    );
    let wal = std::fs::metadata(&files(&c.db)[1]).map(|m| m.len());
    assert_eq!(wal.ok(), Some(0), "the WAL is truncated");
}

#[cfg(unix)]
#[tokio::test]
async fn the_database_and_its_directory_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let c = TestCollector::start().await;
    let e = event(&event_id(1), "pageview", "http://localhost/", json!({}));
    assert_eq!(c.collect(&batch(&[e]), &[]).await.status(), 204);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = c.db.parent().unwrap();
    assert_eq!(format!("{:o}", mode(dir)), "700", "{}", dir.display());
    for file in files(&c.db) {
        assert_eq!(format!("{:o}", mode(&file)), "600", "{}", file.display());
    }
}

#[tokio::test]
async fn old_salts_are_deleted_at_start_without_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("spoor.db");
    let today = now_ms().div_euclid(DAY_MS);
    {
        let store = SqliteStore::open(&db).unwrap();
        store.daily_salt(today - 3).unwrap();
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute(
            "INSERT INTO fingerprint_seen (site, day, fingerprint, visitor, last_ms)
             VALUES ('demo', ?1, 'fp_old', 'v-old', 0)",
            [today - 3],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO cookie_ids (site, visitor, day, ids) VALUES ('demo', 'v-old', ?1, 1)",
            [today - 3],
        )
        .unwrap();
    }
    let count = |sql: &str| -> i64 {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    };
    assert_eq!(count("SELECT count(*) FROM daily_salts"), 1);

    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db).unwrap());
    let config = Config {
        db: db.clone(),
        ..Config::default()
    };
    let _collector = Collector::with_store_and_clock(config, store, Clock::wall())
        .await
        .unwrap();
    let mut left = (1, 1, 1);
    for _ in 0..500 {
        left = (
            count("SELECT count(*) FROM daily_salts"),
            count("SELECT count(*) FROM fingerprint_seen"),
            count("SELECT count(*) FROM cookie_ids"),
        );
        if left == (0, 0, 0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        left,
        (0, 0, 0),
        "(salts, fingerprint observations, ids-per-cookie counters) left"
    );
}
