//! The suite's client side: a running collector over a [`Backend`]'s store driven through
//! its router (no sockets), on a manual clock; browsers that keep their server cookie;
//! and the admin reads of `/api/*`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode, header};
use serde_json::{Value, json};
use spoor_collector::clock::Clock;
use spoor_collector::config::Config;
use spoor_collector::enrich::geo::GeoIp;
use spoor_collector::site_secrets::SiteSecrets;
use spoor_collector::{Collector, app};
use tower::ServiceExt;

use super::Backend;
use crate::common::{body_bytes, event_id, json_body, set_cookie};

/// The admin token the suite's collectors start with.
pub const ADMIN_TOKEN: &str = "conformance-admin-token-0123";
/// The site's identity secret (signed `identify`).
pub const IDENTIFY_SECRET: &str = "conformance-identify-secret-42";
/// The site's key for `POST /ingest`.
pub const INGEST_KEY: &str = "conformance-ingest-key-0123456";
/// Where the suite's pages live (one of the default `demo` site's hosts).
pub const ORIGIN: &str = "http://localhost";
/// The screen every beacon event carries.
pub const SCREEN: &str = "1280x720";
/// Address ranges and countries: `198.51.100.0/25` NZ, `198.51.100.128/25` AU,
/// `203.0.113.0/24` DE.
const GEOIP: &str = "198.51.100.0,198.51.100.127,NZ\n\
                     198.51.100.128,198.51.100.255,AU\n\
                     203.0.113.0,203.0.113.255,DE\n";

/// The suite's configuration: site `demo` (`localhost`), an admin token, an identity
/// secret and an ingest key for `demo`, GeoIP, no rate limit (not what is tested here).
pub fn config() -> Config {
    let mut config = Config {
        admin_token: Some(ADMIN_TOKEN.parse().unwrap()),
        identify_secrets: SiteSecrets::parse(&format!("demo={IDENTIFY_SECRET}")).unwrap(),
        ingest_keys: SiteSecrets::parse(&format!("demo={INGEST_KEY}")).unwrap(),
        geoip: Some(Arc::new(GeoIp::parse(GEOIP).unwrap())),
        ..Config::default()
    };
    config.rate_limit.per_second = 0.0;
    config
}

/// A collector running over one store of `B`, and the clock it reads.
pub struct Live<'b, B: Backend> {
    backend: &'b B,
    store: B::Store,
    collector: Option<Collector>,
    router: Router,
    /// The collector's "now"; the dataset moves it to each batch's time.
    pub clock: Clock,
}

impl<'b, B: Backend> Live<'b, B> {
    /// A collector over a new store of `backend`, at `now`.
    pub async fn start(backend: &'b B, now: i64) -> Live<'b, B> {
        let store = backend.create().await;
        let clock = Clock::manual(now);
        let collector = backend.start(&store, config(), clock.clone()).await;
        let router = app(collector.state());
        Live {
            backend,
            store,
            collector: Some(collector),
            router,
            clock,
        }
    }

    /// Stops the collector and starts another over the same store with `config`.
    pub async fn restart(&mut self, config: Config) {
        drop(self.collector.take());
        let collector = self
            .backend
            .start(&self.store, config, self.clock.clone())
            .await;
        self.router = app(collector.state());
        self.collector = Some(collector);
    }

    /// Moves the clock forward to the latest `ts` of `events` (never back: a resent
    /// batch arrives later than its events).
    pub fn advance_to(&self, events: &[Value]) {
        if let Some(ts) = events.iter().filter_map(|e| e["ts"].as_i64()).max() {
            if ts > self.clock.now_ms() {
                self.clock.set(ts);
            }
        }
    }

    /// Sends `request` from `ip` as it is (a missing `Host` becomes `localhost`).
    pub async fn send_from(&self, ip: &str, mut request: Request<Body>) -> Response<Body> {
        if !request.headers().contains_key(header::HOST) {
            let host = header::HeaderValue::from_static("localhost");
            request.headers_mut().insert(header::HOST, host);
        }
        let addr = SocketAddr::new(ip.parse().unwrap(), 40000);
        request.extensions_mut().insert(ConnectInfo(addr));
        self.router.clone().oneshot(request).await.unwrap()
    }

    /// `method uri` with the admin token, from a non-loopback address.
    pub async fn admin(&self, method: &str, uri: &str, body: Body) -> Response<Body> {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .unwrap();
        self.send_from("192.0.2.1", request).await
    }

    /// `GET uri` as JSON; panics unless `200`.
    pub async fn get(&self, uri: &str) -> Value {
        let resp = self.admin("GET", uri, Body::empty()).await;
        let status = resp.status();
        let body = json_body(resp).await;
        assert_eq!(status, StatusCode::OK, "GET {uri}: {body}");
        body
    }

    /// `GET uri`: the status and the JSON body (`null` when not JSON).
    pub async fn get_status(&self, uri: &str) -> (u16, Value) {
        let resp = self.admin("GET", uri, Body::empty()).await;
        let status = resp.status().as_u16();
        (status, json_body(resp).await)
    }

    /// `GET uri` as text (CSV); panics unless `200`.
    pub async fn get_text(&self, uri: &str) -> String {
        let resp = self.admin("GET", uri, Body::empty()).await;
        assert_eq!(resp.status(), StatusCode::OK, "GET {uri}");
        String::from_utf8(body_bytes(resp).await).unwrap()
    }

    /// `POST /ingest` with `events` for `demo`, presenting `key`.
    pub async fn ingest(&self, key: &str, events: &[Value]) -> Response<Body> {
        self.advance_to(events);
        let body = json!({"site": "demo", "events": events}).to_string();
        let request = Request::post("/ingest")
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, "site-backend/1.0")
            .body(Body::from(body))
            .unwrap();
        self.send_from("192.0.2.80", request).await
    }

    /// Waits (up to 10 s) until `GET uri` answers `want` at `pointer`.
    pub async fn wait_for(&self, uri: &str, pointer: &str, want: &Value) {
        for _ in 0..1000 {
            if self.get(uri).await.pointer(pointer) == Some(want) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("GET {uri}: {pointer} never became {want}");
    }
}

/// A browser: its address and user agent, the beacon's visitor id, and the server cookie
/// the collector last set.
pub struct Browser {
    /// The client address (the socket peer).
    pub ip: &'static str,
    /// Its `User-Agent`.
    pub ua: &'static str,
    /// The beacon's id (`None`: cookieless, the beacon sends `null`).
    pub visitor: Option<&'static str>,
    /// `spoor_sid=…`, as the collector last set it.
    pub cookie: Option<String>,
}

impl Browser {
    /// A browser that has never been to the site.
    pub fn new(ip: &'static str, ua: &'static str, visitor: Option<&'static str>) -> Browser {
        Browser {
            ip,
            ua,
            visitor,
            cookie: None,
        }
    }

    /// Posts `events` to `/collect` as one batch (each gets this browser's visitor unless
    /// it names one), at the time of its latest event; keeps the cookie it gets back and
    /// returns the answer.
    pub async fn post<B: Backend>(
        &mut self,
        live: &Live<'_, B>,
        events: &[Value],
    ) -> Response<Body> {
        let events: Vec<Value> = events
            .iter()
            .map(|e| {
                let mut e = e.clone();
                if e.get("visitor").is_none() {
                    e["visitor"] = json!(self.visitor);
                }
                e
            })
            .collect();
        live.advance_to(&events);
        let body = json!({"site": "demo", "events": events}).to_string();
        let mut request = Request::post("/collect")
            .header(header::USER_AGENT, self.ua)
            .header(header::CONTENT_TYPE, "text/plain;charset=UTF-8");
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie.as_str());
        }
        let resp = live
            .send_from(self.ip, request.body(Body::from(body)).unwrap())
            .await;
        if let Some(set) = set_cookie(&resp, "spoor_sid") {
            self.cookie = Some(set.split(';').next().unwrap().to_string());
        }
        resp
    }

    /// [`Browser::post`], expecting `204` (every event committed).
    pub async fn send<B: Backend>(&mut self, live: &Live<'_, B>, events: &[Value]) {
        let resp = self.post(live, events).await;
        let status = resp.status();
        let body = json_body(resp).await;
        assert_eq!(
            status,
            StatusCode::NO_CONTENT,
            "{} {:?}: {body}",
            self.ip,
            self.visitor
        );
    }

    /// Forgets the cookies: the beacon's id becomes `visitor`, the server cookie is gone.
    pub fn wipe(&mut self, visitor: &'static str) {
        self.visitor = Some(visitor);
        self.cookie = None;
    }
}

/// Event `n` of type `kind` at `ts` on page `path` (which may carry a query), as the beacon
/// sends it, with `extra` fields added.
pub fn ev(n: u32, kind: &str, ts: i64, path: &str, extra: Value) -> Value {
    let mut e = json!({
        "id": event_id(n), "type": kind, "url": format!("{ORIGIN}{path}"),
        "referrer": null, "title": "Spoor", "ts": ts, "screen": SCREEN,
    });
    for (k, v) in extra.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

/// `a` and `b` within 1e-9 (rates computed in another order may differ in the last bit).
pub fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-9)
}
