//! Shared helpers for handler tests: a collector over a real SQLite store in a temporary
//! directory, driven through `tower::ServiceExt::oneshot` with a mock peer address.

#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, Response, header};
use http_body_util::BodyExt;
use spoor_collector::config::Config;
use spoor_collector::{Collector, app};
use tower::ServiceExt;

pub mod clickhouse;
pub mod clickhouse_rows;

/// A ClickHouse store over a new database of the test server (default session rules,
/// one server), and a client on that database for checks; `None` where ClickHouse is not
/// installed (the test is then skipped).
pub async fn clickhouse_store() -> Option<(
    spoor_collector::store::clickhouse::ClickHouseStore,
    spoor_collector::store::clickhouse::client::Client,
)> {
    use spoor_collector::store::clickhouse::{ClickHouseOptions, ClickHouseStore};
    let endpoint = clickhouse_endpoint(&clickhouse::new_database()?);
    let options = ClickHouseOptions {
        endpoint: endpoint.clone(),
        cluster: None,
        insert_quorum: 2,
    };
    let store = ClickHouseStore::open(options, spoor_collector::session::SessionRules::default())
        .await
        .unwrap();
    Some((
        store,
        spoor_collector::store::clickhouse::client::Client::new(endpoint),
    ))
}

/// The ClickHouse store's endpoint for a database of the test server
/// ([`clickhouse::new_database`]), with its user and password.
pub fn clickhouse_endpoint(url: &str) -> spoor_collector::store::clickhouse::client::Endpoint {
    spoor_collector::store::clickhouse::client::Endpoint::parse(
        url,
        Some(clickhouse::USER.into()),
        Some(clickhouse::PASSWORD.into()),
    )
    .unwrap()
}

pub const NOW_ID: &str = "6f1c2d8e-3b7a-4c1e-9f00-0123456789ab";
pub const CLIENT_IP: &str = "203.0.113.77";
/// The screen size every fixture event carries, as the running beacon always sends one
/// (a batch without it is filtered as not sent by the beacon).
pub const SCREEN: &str = "1280x720";
pub const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) SpoorTest/1.0";
/// The admin token test collectors start with; [`TestCollector::send`] presents it (the
/// mock client is not on loopback, so reading reports needs it).
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

pub struct TestCollector {
    pub router: Router,
    pub db: PathBuf,
    pub dir: tempfile::TempDir,
    collector: Collector,
}

impl TestCollector {
    /// A collector with its database, `www/` and `beacon/` directories in a temp dir.
    pub async fn start() -> TestCollector {
        TestCollector::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestCollector {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            db: dir.path().join("data/spoor.db"),
            www: Some(dir.path().join("www")),
            beacon: Some(dir.path().join("beacon")),
            admin_token: Some(ADMIN_TOKEN.parse().unwrap()),
            ..Config::default()
        };
        std::fs::create_dir_all(dir.path().join("www")).unwrap();
        std::fs::create_dir_all(dir.path().join("beacon")).unwrap();
        adjust(&mut config);
        let db = config.db.clone();
        let collector = Collector::open(config).await.unwrap();
        let router = app(collector.state()).layer(MockConnectInfo(SocketAddr::new(
            CLIENT_IP.parse().unwrap(),
            40000,
        )));
        TestCollector {
            router,
            db,
            dir,
            collector,
        }
    }

    /// Sends `request` with the admin token unless it carries its own `Authorization`.
    pub async fn send(&self, mut request: Request<Body>) -> Response<Body> {
        if !request.headers().contains_key(header::AUTHORIZATION) {
            let bearer = format!("Bearer {ADMIN_TOKEN}").parse().unwrap();
            request.headers_mut().insert(header::AUTHORIZATION, bearer);
        }
        self.send_as_is(request).await
    }

    /// Sends `request` without adding an admin token; a request without `Host` gets
    /// `Host: localhost`, as every HTTP/1.1 client sends one (the admin gate checks it).
    pub async fn send_as_is(&self, mut request: Request<Body>) -> Response<Body> {
        if !request.headers().contains_key(header::HOST) {
            let host = header::HeaderValue::from_static("localhost");
            request.headers_mut().insert(header::HOST, host);
        }
        self.router.clone().oneshot(request).await.unwrap()
    }

    /// The collector as started (its admin state, a sign-in code).
    pub fn collector(&self) -> &Collector {
        &self.collector
    }

    /// `POST /collect` with `body` as text/plain from [`UA`] (unless `headers` name another
    /// content type or user agent), plus extra headers.
    pub async fn collect(&self, body: &str, headers: &[(&str, &str)]) -> Response<Body> {
        let mut req = Request::post("/collect");
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
        {
            req = req.header(header::USER_AGENT, UA);
        }
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            req = req.header(header::CONTENT_TYPE, "text/plain;charset=UTF-8");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req.body(Body::from(body.to_string())).unwrap())
            .await
    }

    /// The value of one series of `/metrics` (`name` with its labels, as printed), 0 when
    /// the series is not there yet.
    pub async fn metric(&self, series: &str) -> f64 {
        let resp = self
            .send(Request::get("/metrics").body(Body::empty()).unwrap())
            .await;
        let text = String::from_utf8(body_bytes(resp).await).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    pub async fn get_json(&self, uri: &str) -> (u16, serde_json::Value) {
        let resp = self
            .send(Request::get(uri).body(Body::empty()).unwrap())
            .await;
        let status = resp.status().as_u16();
        (status, json_body(resp).await)
    }

    /// Rows of `sql` (one text column) read straight from the database file.
    pub fn column(&self, sql: &str) -> Vec<String> {
        let conn = rusqlite::Connection::open(&self.db).unwrap();
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// The first row of `sql`, every column as text (integers printed, NULL as `None`),
    /// read straight from the database file.
    pub fn row(&self, sql: &str) -> Vec<Option<String>> {
        use rusqlite::types::ValueRef;
        let conn = rusqlite::Connection::open(&self.db).unwrap();
        let mut stmt = conn.prepare(sql).unwrap();
        let width = stmt.column_count();
        stmt.query_row([], |r| {
            Ok((0..width)
                .map(|i| match r.get_ref(i).unwrap() {
                    ValueRef::Null => None,
                    ValueRef::Integer(n) => Some(n.to_string()),
                    ValueRef::Real(x) => Some(x.to_string()),
                    ValueRef::Text(t) => Some(String::from_utf8(t.to_vec()).unwrap()),
                    ValueRef::Blob(b) => Some(format!("{b:?}")),
                })
                .collect())
        })
        .unwrap()
    }
}

pub async fn body_bytes(resp: Response<Body>) -> Vec<u8> {
    resp.into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec()
}

pub async fn json_body(resp: Response<Body>) -> serde_json::Value {
    let bytes = body_bytes(resp).await;
    serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)
}

/// The `error` reason of a JSON error response ("" when there is none).
pub async fn error_reason(resp: Response<Body>) -> String {
    json_body(resp).await["error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

pub fn now_ms() -> i64 {
    spoor_collector::clock::now_ms()
}

/// A one-event batch; `visitor` is the beacon's id (`None` sends JSON null).
pub fn pageview(id: &str, path: &str, visitor: Option<&str>) -> String {
    serde_json::json!({
        "site": "demo",
        "events": [{
            "id": id, "type": "pageview", "url": format!("http://127.0.0.1:8080{path}"),
            "referrer": null, "title": "Demo", "visitor": visitor, "session": "s-1",
            "ts": now_ms(), "screen": SCREEN,
        }]
    })
    .to_string()
}

/// One event of type `kind` on `url` by visitor `v-1` in session `s-1`, with `fields`
/// (a JSON object) added or replacing the common ones.
pub fn event(id: &str, kind: &str, url: &str, fields: serde_json::Value) -> serde_json::Value {
    let mut event = serde_json::json!({
        "id": id, "type": kind, "url": url, "referrer": null, "title": "Demo",
        "visitor": "v-1", "session": "s-1", "ts": now_ms(), "screen": SCREEN,
    });
    let object = event.as_object_mut().unwrap();
    for (key, value) in fields.as_object().unwrap() {
        object.insert(key.clone(), value.clone());
    }
    event
}

/// A batch of `events` for site `demo`.
pub fn batch(events: &[serde_json::Value]) -> String {
    serde_json::json!({"site": "demo", "events": events}).to_string()
}

/// A fresh random UUID-shaped id for events.
/// A beacon's `POST /collect` of `body` from a fixed client address, for a router driven
/// directly (`oneshot`) rather than through [`TestCollector`].
pub fn collect_request(body: String) -> Request<Body> {
    let mut req = Request::post("/collect")
        .header(header::USER_AGENT, UA)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(body))
        .unwrap();
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(SocketAddr::from((
            [203, 0, 113, 9],
            40000,
        ))));
    req
}

/// A CORS preflight for `POST /collect` from `origin`.
pub fn preflight(origin: &str) -> Request<Body> {
    Request::builder()
        .method("OPTIONS")
        .uri("/collect")
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
        .body(Body::empty())
        .unwrap()
}

pub fn event_id(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// The `name=value` part of the response's `Set-Cookie` for `name`, if any.
pub fn set_cookie(resp: &Response<Body>, name: &str) -> Option<String> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
}
