//! The body of a forward and of its answer: a prepared job as JSON, in types of its own so
//! the event model needs no serde and the format is written down in one place.
//!
//! A job is what the forwarder would have handed its own writer: a browser batch with what
//! its request said about its sender (cookie, whether vouched, the network fingerprints —
//! never the address or the `User-Agent`, which stay with the collector that received
//! them), or events already resolved (server-side batches, untracked browsers). Values the
//! model keeps as `&'static str` (user-agent classes, fallback reasons) are read back from
//! their known sets, so a forward can never bring a new one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::enrich::agent::Agent;
use crate::event::{
    ClientEvent, Context, Custom, Engagement, Event, EventKind, IdentityEffects, PropValue, Props,
    Utm,
};
use crate::identity::Evidence;
use crate::identity::graph::LinkKind;
use crate::identity::resolver::{NewLink, Options};
use crate::ingest::{BrowserBatch, CookieAnswer, Resolution};
use crate::payload::fallback::REASONS;
use crate::store::InsertOutcome;

/// A prepared job.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// A browser batch for the owner's writer to resolve.
    Browser(WireBrowser),
    /// Events whose visitors are decided.
    Resolved {
        /// The events.
        events: Vec<WireEvent>,
    },
}

/// [`BrowserBatch`] on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireBrowser {
    site: String,
    events: Vec<WireClientEvent>,
    received: i64,
    cookie: Option<String>,
    vouched: bool,
    fingerprint: String,
    yesterday: String,
    recovery: bool,
    max_ids_per_cookie: u32,
}

/// [`Event`] on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireEvent {
    site: String,
    client: WireClientEvent,
    visitor: String,
    evidence: String,
    received: i64,
    fingerprint: String,
    links: Vec<WireLink>,
    observe_fingerprint: bool,
    withdraw_fingerprint_links: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct WireLink {
    a: String,
    b: String,
    kind: String,
    confidence: f32,
    verified: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct WireClientEvent {
    id: String,
    kind: WireKind,
    url: String,
    hostname: String,
    path: String,
    referrer: Option<String>,
    title: Option<String>,
    client_id: Option<String>,
    session: Option<String>,
    reset: bool,
    signature: Option<String>,
    ts: i64,
    screen: Option<String>,
    lang: Option<String>,
    tz: Option<String>,
    agent: Option<[String; 3]>,
    country: Option<String>,
    fallback: Option<String>,
    utm: [Option<String>; 5],
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireKind {
    Pageview,
    Engagement {
        pageview: String,
        visible_ms: u32,
        scroll: u8,
    },
    Custom {
        name: String,
        props: Option<BTreeMap<String, serde_json::Value>>,
    },
    Outbound {
        target: String,
    },
    Download {
        target: String,
    },
    Identify {
        user: String,
    },
}

/// The owner's answer to a job it committed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Answer {
    /// Events newly stored.
    pub stored: usize,
    /// Events already stored.
    pub duplicates: usize,
    /// The cookie to set, and whether it is vouched.
    pub cookie: Option<(String, bool)>,
    /// Links not made because of the per-cookie cap.
    pub capped: usize,
}

impl Answer {
    /// The answer to a commit.
    pub fn of(outcome: InsertOutcome, resolution: Resolution) -> Answer {
        Answer {
            stored: outcome.stored,
            duplicates: outcome.duplicates,
            cookie: resolution.cookie.map(|c| (c.visitor, c.vouched)),
            capped: resolution.capped,
        }
    }

    /// Back into what the writer answers.
    pub fn into_parts(self) -> (InsertOutcome, Resolution) {
        (
            InsertOutcome {
                stored: self.stored,
                duplicates: self.duplicates,
            },
            Resolution {
                cookie: self
                    .cookie
                    .map(|(visitor, vouched)| CookieAnswer { visitor, vouched }),
                capped: self.capped,
            },
        )
    }
}

impl Job {
    /// A browser batch as a job.
    pub fn browser(batch: &BrowserBatch) -> Job {
        Job::Browser(WireBrowser {
            site: batch.site.clone(),
            events: batch.events.iter().map(WireClientEvent::from).collect(),
            received: batch.received,
            cookie: batch.cookie.clone(),
            vouched: batch.vouched,
            fingerprint: batch.fingerprint.clone(),
            yesterday: batch.yesterday.clone(),
            recovery: batch.options.recovery,
            max_ids_per_cookie: batch.options.max_ids_per_cookie,
        })
    }

    /// Resolved events as a job.
    pub fn resolved(events: &[Event]) -> Job {
        Job::Resolved {
            events: events.iter().map(WireEvent::from).collect(),
        }
    }
}

impl WireBrowser {
    /// The batch this describes; `Err` names what is not valid.
    pub fn into_batch(self) -> Result<BrowserBatch, String> {
        Ok(BrowserBatch {
            site: self.site,
            events: self
                .events
                .into_iter()
                .map(WireClientEvent::into_event)
                .collect::<Result<_, _>>()?,
            received: self.received,
            cookie: self.cookie,
            vouched: self.vouched,
            fingerprint: self.fingerprint,
            yesterday: self.yesterday,
            options: Options {
                recovery: self.recovery,
                max_ids_per_cookie: self.max_ids_per_cookie,
            },
        })
    }
}

impl From<&Event> for WireEvent {
    fn from(e: &Event) -> WireEvent {
        WireEvent {
            site: e.site.clone(),
            client: WireClientEvent::from(&e.client),
            visitor: e.visitor.clone(),
            evidence: e.evidence.as_str().to_string(),
            received: e.received,
            fingerprint: e.identity.fingerprint.clone(),
            links: e
                .identity
                .links
                .iter()
                .map(|l| WireLink {
                    a: l.a.clone(),
                    b: l.b.clone(),
                    kind: l.kind.as_str().to_string(),
                    confidence: l.confidence,
                    verified: l.verified,
                })
                .collect(),
            observe_fingerprint: e.identity.observe_fingerprint,
            withdraw_fingerprint_links: e.identity.withdraw_fingerprint_links,
        }
    }
}

impl WireEvent {
    /// The event this describes; `Err` names what is not valid.
    pub fn into_event(self) -> Result<Event, String> {
        let evidence = [
            Evidence::ClientId,
            Evidence::ServerCookie,
            Evidence::Fingerprint,
        ]
        .into_iter()
        .find(|e| e.as_str() == self.evidence)
        .ok_or_else(|| format!("unknown evidence {:?}", self.evidence))?;
        let links = self
            .links
            .into_iter()
            .map(|l| {
                let kind = [
                    LinkKind::ServerCookie,
                    LinkKind::ClientId,
                    LinkKind::Fingerprint,
                    LinkKind::Login,
                    LinkKind::Recovery,
                ]
                .into_iter()
                .find(|k| k.as_str() == l.kind)
                .ok_or_else(|| format!("unknown link kind {:?}", l.kind))?;
                Ok(NewLink {
                    a: l.a,
                    b: l.b,
                    kind,
                    confidence: l.confidence,
                    verified: l.verified,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Event {
            site: self.site,
            client: self.client.into_event()?,
            visitor: self.visitor,
            evidence,
            received: self.received,
            identity: IdentityEffects {
                fingerprint: self.fingerprint,
                links,
                observe_fingerprint: self.observe_fingerprint,
                withdraw_fingerprint_links: self.withdraw_fingerprint_links,
            },
        })
    }
}

impl From<&ClientEvent> for WireClientEvent {
    fn from(c: &ClientEvent) -> WireClientEvent {
        let kind = match &c.kind {
            EventKind::Pageview => WireKind::Pageview,
            EventKind::Engagement(e) => WireKind::Engagement {
                pageview: e.pageview.to_string(),
                visible_ms: e.visible_ms,
                scroll: e.scroll,
            },
            EventKind::Custom(custom) => WireKind::Custom {
                name: custom.name.clone(),
                props: custom
                    .props
                    .as_ref()
                    .map(|p| p.0.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
            },
            EventKind::Outbound { target } => WireKind::Outbound {
                target: target.clone(),
            },
            EventKind::Download { target } => WireKind::Download {
                target: target.clone(),
            },
            EventKind::Identify { user } => WireKind::Identify { user: user.clone() },
        };
        let utm = &c.utm;
        WireClientEvent {
            id: c.id.to_string(),
            kind,
            url: c.url.clone(),
            hostname: c.hostname.clone(),
            path: c.path.clone(),
            referrer: c.referrer.clone(),
            title: c.title.clone(),
            client_id: c.client_id.clone(),
            session: c.session.clone(),
            reset: c.reset,
            signature: c.signature.clone(),
            ts: c.ts,
            screen: c.context.screen.clone(),
            lang: c.context.lang.clone(),
            tz: c.context.tz.clone(),
            agent: c
                .context
                .agent
                .map(|a| [a.browser.into(), a.os.into(), a.device.into()]),
            country: c.context.country.clone(),
            fallback: c.context.fallback.map(str::to_string),
            utm: [
                utm.source.clone(),
                utm.medium.clone(),
                utm.campaign.clone(),
                utm.term.clone(),
                utm.content.clone(),
            ],
        }
    }
}

/// The browsers, systems and devices [`crate::enrich::agent::classify`] answers.
const BROWSERS: [&str; 7] = [
    "Edge",
    "Opera",
    "Samsung Internet",
    "Firefox",
    "Chrome",
    "Safari",
    "Other",
];
const SYSTEMS: [&str; 7] = [
    "Windows", "Android", "iOS", "macOS", "ChromeOS", "Linux", "Other",
];
const DEVICES: [&str; 3] = ["mobile", "tablet", "desktop"];

fn known(set: &[&'static str], value: &str, what: &str) -> Result<&'static str, String> {
    set.iter()
        .copied()
        .find(|k| *k == value)
        .ok_or_else(|| format!("unknown {what} {value:?}"))
}

fn uuid(text: &str) -> Result<Uuid, String> {
    Uuid::parse_str(text).map_err(|e| format!("bad id {text:?}: {e}"))
}

impl WireClientEvent {
    fn into_event(self) -> Result<ClientEvent, String> {
        let kind = match self.kind {
            WireKind::Pageview => EventKind::Pageview,
            WireKind::Engagement {
                pageview,
                visible_ms,
                scroll,
            } => EventKind::Engagement(Engagement {
                pageview: uuid(&pageview)?,
                visible_ms,
                scroll,
            }),
            WireKind::Custom { name, props } => EventKind::Custom(Custom {
                name,
                props: props
                    .map(|p| {
                        p.into_iter()
                            .map(|(k, v)| {
                                let value = match v {
                                    serde_json::Value::String(s) => PropValue::Text(s),
                                    serde_json::Value::Number(n) => PropValue::Number(n),
                                    serde_json::Value::Bool(b) => PropValue::Bool(b),
                                    other => return Err(format!("prop {k:?} is {other}")),
                                };
                                Ok((k, value))
                            })
                            .collect::<Result<BTreeMap<_, _>, String>>()
                            .map(Props)
                    })
                    .transpose()?,
            }),
            WireKind::Outbound { target } => EventKind::Outbound { target },
            WireKind::Download { target } => EventKind::Download { target },
            WireKind::Identify { user } => EventKind::Identify { user },
        };
        let agent = match self.agent {
            Some([browser, os, device]) => Some(Agent {
                browser: known(&BROWSERS, &browser, "browser")?,
                os: known(&SYSTEMS, &os, "os")?,
                device: known(&DEVICES, &device, "device")?,
            }),
            None => None,
        };
        let fallback = match self.fallback {
            Some(reason) => Some(known(&REASONS, &reason, "fallback reason")?),
            None => None,
        };
        let [source, medium, campaign, term, content] = self.utm;
        Ok(ClientEvent {
            id: uuid(&self.id)?,
            kind,
            url: self.url,
            hostname: self.hostname,
            path: self.path,
            referrer: self.referrer,
            title: self.title,
            client_id: self.client_id,
            session: self.session,
            reset: self.reset,
            signature: self.signature,
            ts: self.ts,
            context: Context {
                screen: self.screen,
                lang: self.lang,
                tz: self.tz,
                agent,
                country: self.country,
                fallback,
            },
            utm: Utm {
                source,
                medium,
                campaign,
                term,
                content,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through_json(job: &Job) -> Job {
        serde_json::from_str(&serde_json::to_string(job).unwrap()).unwrap()
    }

    fn every_kind() -> Vec<ClientEvent> {
        let base = crate::store::sqlite::tests::event(1, "v", "s").client;
        let kinds = [
            EventKind::Pageview,
            EventKind::Engagement(Engagement {
                pageview: Uuid::from_u128(5),
                visible_ms: 1200,
                scroll: 80,
            }),
            EventKind::Custom(Custom {
                name: "signup".into(),
                props: Some(Props(BTreeMap::from([
                    ("plan".to_string(), PropValue::Text("pro".into())),
                    ("seats".to_string(), PropValue::Number(3.into())),
                    ("trial".to_string(), PropValue::Bool(true)),
                ]))),
            }),
            EventKind::Outbound {
                target: "https://example.org/".into(),
            },
            EventKind::Download {
                target: "https://example.org/a.pdf".into(),
            },
            EventKind::Identify { user: "u-1".into() },
        ];
        kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| {
                let mut c = base.clone();
                c.id = Uuid::from_u128(100 + i as u128);
                c.kind = kind;
                c.client_id = Some("cid".into());
                c.signature = Some("sig".into());
                c.context.agent = Some(crate::enrich::agent::classify(
                    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Version/17.0 Mobile Safari/604.1",
                ));
                c.context.country = Some("FR".into());
                c.context.fallback = Some("csp");
                c.utm.campaign = Some("spring".into());
                c
            })
            .collect()
    }

    #[test]
    fn a_browser_batch_of_every_kind_crosses_unchanged() {
        let batch = BrowserBatch {
            site: "demo".into(),
            events: every_kind(),
            received: 42,
            cookie: Some("home".into()),
            vouched: true,
            fingerprint: "fp_a".into(),
            yesterday: "fp_b".into(),
            options: Options {
                recovery: false,
                max_ids_per_cookie: 3,
            },
        };
        let Job::Browser(wire) = through_json(&Job::browser(&batch)) else {
            panic!("not a browser job");
        };
        let back = wire.into_batch().unwrap();
        assert_eq!(back.events, batch.events);
        assert_eq!(
            (
                back.site,
                back.received,
                back.cookie,
                back.vouched,
                back.fingerprint,
                back.yesterday
            ),
            (
                "demo".into(),
                42,
                Some("home".into()),
                true,
                "fp_a".into(),
                "fp_b".into()
            )
        );
        assert!(!back.options.recovery);
        assert_eq!(back.options.max_ids_per_cookie, 3);
    }

    #[test]
    fn resolved_events_cross_unchanged_and_unknown_values_are_refused() {
        let mut event = crate::store::sqlite::tests::event(7, "v", "s");
        event.client = every_kind().remove(2);
        event.evidence = Evidence::ServerCookie;
        event.identity.links = vec![NewLink {
            a: "v".into(),
            b: "user:u".into(),
            kind: LinkKind::Login,
            confidence: 1.0,
            verified: true,
        }];
        event.identity.observe_fingerprint = true;
        let Job::Resolved { events } = through_json(&Job::resolved(std::slice::from_ref(&event)))
        else {
            panic!("not a resolved job");
        };
        let back: Vec<Event> = events
            .into_iter()
            .map(WireEvent::into_event)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, vec![event.clone()]);

        let mut text = serde_json::to_string(&Job::resolved(&[event])).unwrap();
        text = text.replace("\"Safari\"", "\"Mosaic\"");
        let Job::Resolved { events } = serde_json::from_str(&text).unwrap() else {
            panic!("not a resolved job");
        };
        let refused = events
            .into_iter()
            .map(WireEvent::into_event)
            .next()
            .unwrap();
        assert_eq!(refused, Err("unknown browser \"Mosaic\"".into()));
    }
}
