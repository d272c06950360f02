//! A simulated browser: the beacon's id in its cookie and storage, the collector's
//! `spoor_sid` cookie in its jar, and the `/collect` requests it sends for a visit, built
//! as the beacon builds them and handed to the real router.

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::scenario::{BrowserSpec, CookiePolicy, DAY_MS, Visit};

/// The site every scenario reports under.
pub const SITE: &str = "sim";
/// Safari's cap on script-written storage: deleted after 7 days without a visit.
const SCRIPT_CAP_MS: i64 = 7 * DAY_MS;

/// A page view as sent, with what a baseline scheme may see of it.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The event's id.
    pub event: String,
    /// Who really viewed the page.
    pub person: u32,
    /// The beacon's id the event carried.
    pub client_id: Option<String>,
    /// The client address.
    pub ip: IpAddr,
    /// The user agent.
    pub user_agent: &'static str,
    /// When, Unix ms.
    pub at_ms: i64,
    /// The browser that sent it (its index in the scenario).
    pub browser: usize,
    /// Its visit logged in (`identify`).
    pub login: bool,
}

/// One browser's state between visits.
#[derive(Debug)]
pub struct Browser {
    index: usize,
    spec: BrowserSpec,
    /// The beacon's id (cookie mirrored in storage) and when it was last written.
    client_id: Option<(String, i64)>,
    /// `spoor_sid=…` as the jar sends it back.
    server_cookie: Option<String>,
    /// The next event is the first after `reset()`.
    reset_pending: bool,
    ids_made: u32,
}

impl Browser {
    /// A fresh browser for `spec`, number `index` of its scenario.
    pub fn new(index: usize, spec: BrowserSpec) -> Browser {
        Browser {
            index,
            spec,
            client_id: None,
            server_cookie: None,
            reset_pending: false,
            ids_made: 0,
        }
    }

    fn new_client_id(&mut self, at_ms: i64) {
        self.ids_made += 1;
        self.client_id = Some((format!("b{}-{}", self.index, self.ids_made), at_ms));
    }

    /// Sends `visit` through `router` as one batch (numbering events from `*next_event`) and
    /// returns its page views.
    pub async fn visit(
        &mut self,
        router: &Router,
        visit: &Visit,
        next_event: &mut u64,
    ) -> anyhow::Result<Vec<Sent>> {
        let at = visit.at_ms;
        match self.spec.cookies {
            CookiePolicy::Blocked => self.client_id = None,
            CookiePolicy::ScriptCapped => {
                if self
                    .client_id
                    .as_ref()
                    .is_some_and(|(_, written)| at - written > SCRIPT_CAP_MS)
                {
                    self.client_id = None;
                }
            }
            CookiePolicy::Stable => {}
        }
        if self.spec.cookies != CookiePolicy::Blocked && self.client_id.is_none() {
            self.new_client_id(at);
        }
        let mut events = Vec::new();
        let mut sent = Vec::new();
        let session = format!("s{}-{at}", self.index);
        for i in 0..visit.pageviews {
            let ts = at + i64::from(i) * 30_000;
            let id = event_id(next_event);
            let mut e = self.event(&id, "pageview", ts, &session);
            if self.reset_pending {
                e["reset"] = json!(true);
                self.reset_pending = false;
            }
            events.push(e);
            sent.push(Sent {
                event: id,
                person: visit.person,
                client_id: self.client_id.as_ref().map(|(c, _)| c.clone()),
                ip: visit.ip,
                user_agent: self.spec.user_agent,
                at_ms: ts,
                browser: self.index,
                login: visit.login.is_some(),
            });
            if i == 0 {
                if let Some(user) = &visit.login {
                    let id = event_id(next_event);
                    let mut e = self.event(&id, "identify", ts + 1_000, &session);
                    e["user"] = json!(user);
                    events.push(e);
                }
            }
        }
        if let Some((_, written)) = self.client_id.as_mut() {
            *written = at;
        }
        self.send(router, visit.ip, events).await?;
        if visit.logout {
            // `spoor.reset()`: a new anonymous id; the next event says so.
            self.new_client_id(at);
            self.reset_pending = true;
        }
        Ok(sent)
    }

    fn event(&self, id: &str, kind: &str, ts: i64, session: &str) -> Value {
        json!({
            "id": id, "type": kind, "url": "https://shop.example/", "referrer": null,
            "title": "Shop", "visitor": self.client_id.as_ref().map(|(c, _)| c.as_str()),
            "session": session, "ts": ts, "screen": "1280x720",
        })
    }

    async fn send(
        &mut self,
        router: &Router,
        ip: IpAddr,
        events: Vec<Value>,
    ) -> anyhow::Result<()> {
        let body = json!({"site": SITE, "events": events}).to_string();
        let mut req = Request::post("/collect")
            .header(header::USER_AGENT, self.spec.user_agent)
            .header(header::CONTENT_TYPE, "text/plain;charset=UTF-8");
        if let Some(cookie) = &self.server_cookie {
            req = req.header(header::COOKIE, cookie.as_str());
        }
        let mut req = req.body(Body::from(body))?;
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip, 40_000)));
        let resp = router.clone().oneshot(req).await?;
        anyhow::ensure!(
            resp.status() == StatusCode::NO_CONTENT,
            "/collect answered {}",
            resp.status()
        );
        if self.spec.cookies != CookiePolicy::Blocked {
            let set = resp
                .headers()
                .get_all(header::SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find(|v| v.starts_with("spoor_sid="));
            if let Some(set) = set {
                self.server_cookie = set.split(';').next().map(str::to_string);
            }
        }
        Ok(())
    }
}

fn event_id(next: &mut u64) -> String {
    *next += 1;
    format!("00000000-0000-4000-8000-{:012x}", *next)
}
