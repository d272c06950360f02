//! The event model: what the browser reported ([`ClientEvent`]) and what the collector
//! stores once it has decided who sent it ([`Event`]).
//!
//! Every event carries the same page fields, the browser [`Context`] and the [`Utm`]
//! campaign tags of its URL; what is particular to one type of event travels inside its
//! [`EventKind`] variant, so an engagement without a scroll depth cannot be built.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::identity::Evidence;
use crate::identity::resolver::NewLink;

/// What kind of thing happened, with the data that comes with that kind.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// A page was shown.
    Pageview,
    /// How long a page view was looked at and how far it was read.
    Engagement(Engagement),
    /// An event the site named itself, with optional properties.
    Custom(Custom),
    /// A click on a link that leaves the site.
    Outbound {
        /// Where the link goes: an absolute http(s) URL.
        target: String,
    },
    /// A click on a link to a file.
    Download {
        /// The file's absolute http(s) URL.
        target: String,
    },
    /// The site told who the visitor is after a login. The user id is stored with the
    /// event, and a `login` link joins every visitor that logged in as it (one person).
    Identify {
        /// The site's own user id.
        user: String,
    },
}

impl EventKind {
    /// The name used on the wire (`type`) and in the store (`kind`).
    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::Pageview => "pageview",
            EventKind::Engagement(_) => "engagement",
            EventKind::Custom(_) => "custom",
            EventKind::Outbound { .. } => "outbound",
            EventKind::Download { .. } => "download",
            EventKind::Identify { .. } => "identify",
        }
    }
}

/// The data of an [`EventKind::Engagement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Engagement {
    /// The id of the page view this engagement belongs to.
    pub pageview: Uuid,
    /// Milliseconds the page was visible, capped at one day.
    pub visible_ms: u32,
    /// Deepest scroll reached, in percent of the page (0 to 100).
    pub scroll: u8,
}

/// The data of an [`EventKind::Custom`].
#[derive(Debug, Clone, PartialEq)]
pub struct Custom {
    /// The event's name, chosen by the site.
    pub name: String,
    /// Flat properties; `None` when none were sent (or the object was empty).
    pub props: Option<Props>,
}

/// The properties of a custom event: a flat map from key to scalar, kept in key order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Props(pub BTreeMap<String, PropValue>);

impl Props {
    /// The properties as a JSON object, the form in which they are stored.
    pub fn to_json(&self) -> String {
        let object = self
            .0
            .iter()
            .map(|(key, value)| (key.clone(), value.to_json()))
            .collect::<serde_json::Map<_, _>>();
        serde_json::Value::Object(object).to_string()
    }

    /// Properties stored by [`Props::to_json`] read back; `None` when empty or not an
    /// object.
    pub fn from_json(text: &str) -> Option<Props> {
        let serde_json::Value::Object(object) = serde_json::from_str(text).ok()? else {
            return None;
        };
        let props: BTreeMap<String, PropValue> = object
            .into_iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::String(s) => Some((k, PropValue::Text(s))),
                serde_json::Value::Number(n) => Some((k, PropValue::Number(n))),
                serde_json::Value::Bool(b) => Some((k, PropValue::Bool(b))),
                _ => None,
            })
            .collect();
        (!props.is_empty()).then_some(Props(props))
    }
}

/// One property value. Nested values and null are refused at the door, so a property is
/// always one of these.
#[derive(Debug, Clone, PartialEq)]
pub enum PropValue {
    /// A string.
    Text(String),
    /// A number, exactly as sent (integer or float).
    Number(serde_json::Number),
    /// A boolean.
    Bool(bool),
}

impl PropValue {
    /// The value as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            PropValue::Text(s) => serde_json::Value::String(s.clone()),
            PropValue::Number(n) => serde_json::Value::Number(n.clone()),
            PropValue::Bool(b) => serde_json::Value::Bool(*b),
        }
    }
}

/// What the browser said about itself. Each field is cosmetic: one that breaks its rule is
/// dropped (`None`) and the event kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// Screen size as `WIDTHxHEIGHT`, such as `1920x1080`.
    pub screen: Option<String>,
    /// The browser's language tag (`navigator.language`), such as `en-GB`.
    pub lang: Option<String>,
    /// The browser's IANA time zone, such as `Europe/Paris`.
    pub tz: Option<String>,
    /// Browser, OS and device class, derived by the collector from the `User-Agent`
    /// header of the request (the header itself is not stored); `None` until then.
    pub agent: Option<crate::enrich::agent::Agent>,
    /// The client's country (ISO 3166-1 alpha-2), looked up by the collector from the
    /// client address when GeoIP is configured ([`geo`](crate::enrich::geo)); the address itself
    /// is not stored.
    pub country: Option<String>,
    /// Set when the page view came from the loader's no-wasm fallback: why the beacon could
    /// not run, one of [`REASONS`](crate::payload::fallback::REASONS).
    pub fallback: Option<&'static str>,
}

/// Campaign tags read from the query of the event's URL (`utm_source=…`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Utm {
    /// `utm_source`: who sent the traffic (`newsletter`, `google`).
    pub source: Option<String>,
    /// `utm_medium`: how (`email`, `cpc`).
    pub medium: Option<String>,
    /// `utm_campaign`: which campaign.
    pub campaign: Option<String>,
    /// `utm_term`: the paid search term.
    pub term: Option<String>,
    /// `utm_content`: which link or ad variant.
    pub content: Option<String>,
}

/// One validated event, as the browser described it (identity is not resolved yet).
#[derive(Debug, Clone, PartialEq)]
pub struct ClientEvent {
    /// Client-generated idempotency key: the same id is stored once.
    pub id: Uuid,
    /// What happened, and its type's data.
    pub kind: EventKind,
    /// The page's full URL.
    pub url: String,
    /// Host name of the page URL.
    pub hostname: String,
    /// Path of the page URL (no query, no fragment).
    pub path: String,
    /// Where the visitor came from, if the browser said.
    pub referrer: Option<String>,
    /// The page title.
    pub title: Option<String>,
    /// The beacon's visitor id (from its cookie or storage), if it had one.
    pub client_id: Option<String>,
    /// The beacon's session id, if it had one.
    pub session: Option<String>,
    /// The beacon sent this event right after `spoor.reset()` (a logout on a shared
    /// device): its visitor starts afresh, linked to nobody.
    pub reset: bool,
    /// On an `identify` event, the site's signature of the user id (`sig`), as sent; the
    /// collector checks it ([`verify`](crate::identity::verify)) and never stores it.
    pub signature: Option<String>,
    /// When it happened, by the client's clock, in Unix milliseconds.
    pub ts: i64,
    /// Screen, language and time zone, where valid.
    pub context: Context,
    /// Campaign tags from the page URL.
    pub utm: Utm,
}

/// A batch that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The site the events belong to.
    pub site: String,
    /// The events, in the order sent.
    pub events: Vec<ClientEvent>,
}

/// An event ready for the store: the client's report plus what the collector resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The site the event belongs to.
    pub site: String,
    /// What the browser reported.
    pub client: ClientEvent,
    /// The visitor it is counted for.
    pub visitor: String,
    /// Which evidence chose that visitor.
    pub evidence: Evidence,
    /// When the collector received it, in Unix milliseconds.
    pub received: i64,
    /// What identity resolution asks the store to remember along with the event.
    pub identity: IdentityEffects,
}

/// The side effects of resolving one event's identity, applied by the store in the
/// transaction that stores the event, and only if the event is new.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdentityEffects {
    /// Today's fingerprint (`fp_…`) of the request that carried the event.
    pub fingerprint: String,
    /// Links between visitor ids to record.
    pub links: Vec<NewLink>,
    /// Remember that the event's visitor was seen behind `fingerprint` today.
    pub observe_fingerprint: bool,
    /// Deactivate the earlier `fingerprint` links of `fingerprint` (it became ambiguous).
    pub withdraw_fingerprint_links: bool,
}

#[cfg(test)]
mod props_tests {
    use std::collections::BTreeMap;

    use super::{PropValue, Props};

    #[test]
    fn stored_props_read_back_as_they_were_sent() {
        let props = Props(BTreeMap::from([
            (
                "n".to_string(),
                PropValue::Number(serde_json::Number::from_f64(1.5).unwrap_or(0.into())),
            ),
            ("ok".to_string(), PropValue::Bool(true)),
            ("plan".to_string(), PropValue::Text("pro".into())),
        ]));
        assert_eq!(Props::from_json(&props.to_json()), Some(props));
        assert_eq!(Props::from_json("{}"), None);
        assert_eq!(Props::from_json("not json"), None);
    }
}
