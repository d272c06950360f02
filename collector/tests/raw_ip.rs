//! No raw client address on disk or in the logs: a collector behind a trusted proxy takes
//! traffic from distinct test addresses (IPv4 and IPv6; stored, duplicated, refused,
//! rate-limited, filtered and failed), logging at `trace` into a buffer, then the database
//! file, its WAL and the logs are searched for every address, as text and in packed binary
//! form.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use common::*;
use serde_json::json;

/// A log sink the test reads back.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const CLIENTS: [&str; 4] = [
    "198.51.100.231",
    "203.0.113.197",
    "2001:db8:5eed:42::7",
    "2001:db8:bad:c0de::1",
];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every form an address could be written in: text (and the expanded IPv6 form) and the
/// packed bytes.
fn forms(ip: &str) -> Vec<Vec<u8>> {
    let addr: IpAddr = ip.parse().unwrap();
    let mut forms = vec![ip.as_bytes().to_vec()];
    match addr {
        IpAddr::V4(v4) => forms.push(v4.octets().to_vec()),
        IpAddr::V6(v6) => {
            forms.push(v6.octets().to_vec());
            let expanded = v6
                .segments()
                .iter()
                .map(|s| format!("{s:04x}"))
                .collect::<Vec<_>>()
                .join(":");
            forms.push(expanded.into_bytes());
        }
    }
    forms
}

#[tokio::test]
async fn no_test_address_reaches_the_database_the_wal_or_the_logs() {
    let logs = Buffer::default();
    let sink = logs.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish(),
    )
    .unwrap();

    let c = TestCollector::start_with(|config| {
        config.trusted_proxies = vec![format!("{CLIENT_IP}/32").parse().unwrap()];
        config.rate_limit.per_second = 0.001;
        config.rate_limit.burst = 5;
    })
    .await;
    let page = "http://127.0.0.1:8080/";
    for (n, client) in (1u32..).zip(CLIENTS) {
        let xff = [("x-forwarded-for", client)];
        let send = |events: Vec<serde_json::Value>| {
            let body = batch(&events);
            let c = &c;
            async move { c.collect(&body, &xff).await.status() }
        };
        let good = event(
            &event_id(n * 10),
            "pageview",
            page,
            json!({"visitor": null}),
        );
        assert_eq!(send(vec![good.clone()]).await, StatusCode::NO_CONTENT);
        assert_eq!(send(vec![good]).await, StatusCode::NO_CONTENT, "duplicate");
        let bad = event(&event_id(n * 10 + 1), "pageview", page, json!({"id": "x"}));
        let ok = event(&event_id(n * 10 + 2), "pageview", page, json!({}));
        assert_eq!(send(vec![ok, bad]).await, StatusCode::OK, "partly failed");
        assert_eq!(send(vec![]).await, StatusCode::BAD_REQUEST, "refused");
        let bot = c
            .collect(
                &pageview(&event_id(n * 10 + 3), "/", None),
                &[("x-forwarded-for", client), ("user-agent", "curl/8.5.0")],
            )
            .await;
        assert_eq!(bot.status(), StatusCode::NO_CONTENT, "filtered");
        assert_eq!(send(vec![]).await, StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(
        c.column("SELECT CAST(count(*) AS TEXT) FROM events"),
        ["8"],
        "the load was stored"
    );
    assert_eq!(
        c.column("SELECT CAST(count(*) AS TEXT) FROM failed_events"),
        ["4"]
    );

    let log_text = logs.0.lock().unwrap().clone();
    assert!(
        contains(&log_text, b"batch committed"),
        "the logs were captured"
    );
    let dir = c.db.parent().unwrap().to_path_buf();
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            (path.display().to_string(), std::fs::read(&path).unwrap())
        })
        .collect();
    assert!(
        files
            .iter()
            .any(|(name, bytes)| name.ends_with("-wal") && !bytes.is_empty()),
        "the WAL is searched while it holds the writes"
    );
    files.push(("logs".into(), log_text));
    for client in CLIENTS {
        for form in forms(client) {
            for (name, bytes) in &files {
                assert!(
                    !contains(bytes, &form),
                    "{client} found in {name} as {form:?}"
                );
            }
        }
    }
}
