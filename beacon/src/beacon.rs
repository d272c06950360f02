//! The beacon's state on one page: configuration, identity, the current page view, the
//! delivery queue, and the rules that tie them together.
//!
//! The loader calls into one [`Beacon`] (through the exports in `lib.rs`) for every
//! navigation, hide, click and API call; the beacon decides what is an event, builds it,
//! queues it, and hands batches back to the loader to send ([`Beacon::next`]), learning
//! the outcome from [`Beacon::ack`]. The decisions themselves are plain functions in their
//! modules, tested natively; this file applies them to the browser's stores.

use crate::config::{CONSENT_REQUIRED, Config, DNT_SIGNAL, HASH_ROUTING, RESPECT_DNT};
use crate::delivery::{Outcome, backoff_ms, outcome};
use crate::id::{self, CookieJar};
use crate::json::Writer;
use crate::navigation::{Navigation, engagement_due};
use crate::payload::{self, Context};
use crate::privacy::{self, CONSENT_KEY, Consent, OPT_OUT_KEY};
use crate::props::{self, Props};
use crate::queue::{self, Entry, Queue};
use crate::storage::{BrowserStorage, KeyValue};
use crate::{links, now_ms, session, uuid};

/// The page view that engagement is being measured for.
#[derive(Debug)]
struct View {
    /// Its `pageview` event id.
    id: String,
    /// The deepest scroll already sent for it, in percent.
    sent_scroll: u8,
}

/// Everything the beacon knows on this page.
pub struct Beacon {
    config: Config,
    /// The common event fields; `url` and `title` follow the page.
    context: Context,
    /// `location.host`: links elsewhere are outbound.
    host: String,
    /// Not stopped by Do Not Track / GPC (when respected) or an opt-out.
    tracking: bool,
    consent: Consent,
    navigation: Navigation,
    view: Option<View>,
    queue: Queue,
    /// Ids of the batch `fetch` is sending; empty when none is in flight.
    in_flight: Vec<String>,
    /// Failed sends in a row, for the backoff.
    failures: u32,
    /// No `fetch` before this time (Unix ms).
    retry_at: u64,
    /// Where the next batch handed to sendBeacon starts, while the page hides.
    hide_from: usize,
    /// Whether an event was queued since the queue was last handed to sendBeacon:
    /// `visibilitychange` and `pagehide` both fire when a page is left, and the second
    /// need not send the same events again.
    new_since_hide: bool,
    /// The props of the next custom event (see [`Beacon::track`]).
    pub props: Props,
    cookies: CookieJar,
    local: BrowserStorage,
    session: BrowserStorage,
}

impl Beacon {
    /// Starts the beacon: reads the opt-out and a remembered consent, and, when storage is
    /// allowed, the visitor id, the session (the referrer is kept only on a session's first
    /// page) and the queue left by earlier pages. Writes nothing unless storage is allowed.
    pub fn new(config: Config, context: Context, host: String) -> Self {
        let local = BrowserStorage::local();
        let tracking = privacy::tracking_allowed(
            config.has(RESPECT_DNT),
            config.has(DNT_SIGNAL),
            local.get(OPT_OUT_KEY).is_some(),
        );
        let consent = if local.get(CONSENT_KEY).is_some() {
            Consent::Granted
        } else {
            Consent::Unknown
        };
        let mut beacon = Self {
            cookies: CookieJar::new_for(id::is_https(&context.url)),
            config,
            context,
            host,
            tracking,
            consent,
            navigation: Navigation::default(),
            view: None,
            queue: Queue::default(),
            in_flight: Vec::new(),
            failures: 0,
            retry_at: 0,
            hide_from: 0,
            new_since_hide: true,
            props: Props::default(),
            local,
            session: BrowserStorage::session(),
        };
        if beacon.stores() {
            beacon.queue = Queue::parse(&beacon.local.get(queue::KEY).unwrap_or_default());
            beacon.resolve_visitor();
            if !session::touch(&beacon.session, now_ms(), uuid::new_v7).1 {
                beacon.context.referrer = None;
            }
        }
        beacon
    }

    /// Whether cookies and storage may be written and ids sent.
    pub fn stores(&self) -> bool {
        self.tracking && privacy::storage_allowed(self.config.has(CONSENT_REQUIRED), self.consent)
    }

    fn resolve_visitor(&mut self) {
        self.context.visitor = Some(id::resolve(&self.cookies, &self.local, uuid::new_v7));
    }

    /// Queues an event of type `kind` with id `id`; `fields` writes its own fields.
    #[inline(never)]
    fn push(&mut self, id: String, kind: &str, fields: &dyn Fn(&mut Writer)) {
        if !self.tracking {
            return;
        }
        let now = now_ms();
        let session = self
            .stores()
            .then(|| session::touch(&self.session, now, uuid::new_v7).0);
        if let Some(json) =
            payload::event(&id, kind, &self.context, session.as_deref(), now, fields)
        {
            self.context.reset = false;
            self.queue.push(Entry { id, json });
            self.new_since_hide = true;
            self.save();
        }
    }

    /// Mirrors the queue to localStorage, when allowed.
    fn save(&self) {
        if !self.stores() {
            return;
        }
        if self.queue.is_empty() {
            self.local.remove(queue::KEY);
        } else {
            self.local.set(queue::KEY, &self.queue.encode());
        }
    }

    /// The page is now `url` titled `title` (`restored`: from the back/forward cache).
    /// Records a page view if it is a new one (see [`crate::navigation`]), after the
    /// engagement of the view it replaces (`visible_ms`, `scroll`, as for
    /// [`Beacon::engage`]). Returns whether a view was recorded: the loader then starts
    /// measuring anew.
    pub fn page(
        &mut self,
        url: String,
        title: String,
        restored: bool,
        visible_ms: u64,
        scroll: u32,
    ) -> bool {
        if !self.tracking
            || !self
                .navigation
                .record(&url, self.config.has(HASH_ROUTING), restored)
        {
            self.context.url = url;
            self.context.title = title;
            return false;
        }
        if self.view.is_some() {
            self.engage(visible_ms, scroll);
            self.context.referrer = None;
        }
        self.context.url = url;
        self.context.title = title;
        let id = uuid::new_v7();
        self.view = Some(View {
            id: id.clone(),
            sent_scroll: 0,
        });
        self.push(id, "pageview", &|_| {});
        true
    }

    /// Records the engagement of the current view, if any accrued: `visible_ms` visible
    /// since the last one sent, `scroll` the deepest scroll so far (percent).
    pub fn engage(&mut self, visible_ms: u64, scroll: u32) {
        let scroll = scroll.min(100) as u8;
        let Some(view) = self.view.as_mut() else {
            return;
        };
        if !engagement_due(visible_ms, scroll, view.sent_scroll) {
            return;
        }
        view.sent_scroll = view.sent_scroll.max(scroll);
        let (pageview, scroll) = (view.id.clone(), view.sent_scroll);
        self.push(uuid::new_v7(), "engagement", &|json| {
            json.key("pageview").string(&pageview);
            json.key("visible_ms").uint(visible_ms);
            json.key("scroll").uint(u64::from(scroll));
        });
    }

    /// A click on a link to `href`: an `outbound` or `download` event, or nothing.
    pub fn link(&mut self, href: &str) {
        let Some(kind) = links::classify(href, &self.host, &self.config.downloads) else {
            return;
        };
        if let Some(target) = payload::sendable_url(href) {
            self.push(uuid::new_v7(), kind.as_str(), &|json| {
                json.key("target").string(target);
            });
        }
    }

    /// `spoor.track(name, props)`: a custom event with the props added since the last one;
    /// or, with `identify`, `spoor.identify(user, {signature})`: an `identify` event with the
    /// site's signature of the user id as `sig` when given (the collector checks it; see
    /// docs/API.md). One function for both: the shared path costs fewer bytes.
    pub fn custom(&mut self, name: &str, identify: bool) {
        let props = self.props.take();
        let (kind, key, max) = if identify {
            ("identify", "user", props::MAX_USER_CHARS)
        } else {
            ("custom", "name", props::MAX_KEY_CHARS)
        };
        if let Some(name) = props::clean_name(name, max) {
            self.push(uuid::new_v7(), kind, &|json| {
                json.key(key).string(name);
                if let Some(props) = &props {
                    json.key("props").raw(props);
                }
            });
        }
    }

    /// A custom event named `name` (see [`Beacon::custom`]).
    pub fn track(&mut self, name: &str) {
        self.custom(name, false);
    }

    /// `spoor.reset()` (a logout): a new anonymous visitor id and a new session. The next
    /// event carries `"reset": true` so the collector does not join the new visitor to the
    /// last one through its own cookie.
    pub fn reset(&mut self) {
        if self.stores() {
            self.cookies.remove(id::KEY);
            self.local.remove(id::KEY);
            self.session.remove(session::KEY);
            self.resolve_visitor();
            self.context.reset = true;
        }
    }

    /// `spoor.consent(granted)`. Granting remembers it, creates the visitor id and from
    /// then on stores the queue; refusing removes everything Spoor stored.
    pub fn consent(&mut self, granted: bool) {
        if granted {
            self.consent = Consent::Granted;
            if self.stores() {
                self.local.set(CONSENT_KEY, "1");
                self.resolve_visitor();
                self.save();
            }
        } else {
            self.consent = Consent::Denied;
            self.forget();
        }
    }

    /// Removes every cookie and storage entry Spoor wrote, and the ids from new events.
    fn forget(&mut self) {
        self.cookies.remove(id::KEY);
        for key in [id::KEY, CONSENT_KEY, queue::KEY] {
            self.local.remove(key);
        }
        self.session.remove(session::KEY);
        self.context.visitor = None;
    }

    /// `spoor.optOut()`: remembers the opt-out, forgets the ids and queue, stops.
    pub fn opt_out(&mut self) {
        self.forget();
        self.queue = Queue::default();
        self.local.set(OPT_OUT_KEY, "1");
        self.tracking = false;
    }

    /// `spoor.optIn()`: lifts an opt-out (Do Not Track, when respected, still applies).
    pub fn opt_in(&mut self) {
        self.local.remove(OPT_OUT_KEY);
        self.tracking = privacy::tracking_allowed(
            self.config.has(RESPECT_DNT),
            self.config.has(DNT_SIGNAL),
            false,
        );
        if self.stores() {
            self.resolve_visitor();
        }
    }

    /// The next request body to send. While the page lives (`hiding` false): the oldest
    /// batch, unless one is in flight or a retry is not due yet; the loader sends it with
    /// fetch and reports back with [`Beacon::ack`]. While it hides: each batch of the
    /// queue in turn, then `None` (at once if nothing was queued since the last hide);
    /// the loader hands them to sendBeacon, and they stay queued (see
    /// [`crate::delivery`]).
    pub fn next(&mut self, hiding: bool) -> Option<String> {
        if hiding {
            if !self.new_since_hide {
                return None;
            }
            let batch = self.queue.batch(&self.config.site, self.hide_from);
            self.hide_from = batch.as_ref().map_or(0, |(_, end)| *end);
            self.new_since_hide = batch.is_some();
            return batch.map(|(body, _)| body);
        }
        if !self.in_flight.is_empty() || now_ms() < self.retry_at {
            return None;
        }
        let (body, end) = self.queue.batch(&self.config.site, 0)?;
        self.in_flight = self
            .queue
            .entries()
            .iter()
            .take(end)
            .map(|e| e.id.clone())
            .collect();
        Some(body)
    }

    /// The collector answered the batch in flight with `status` (0: no answer).
    pub fn ack(&mut self, status: u16) {
        let ids = std::mem::take(&mut self.in_flight);
        match outcome(status) {
            Outcome::Delivered | Outcome::Refused => {
                self.queue.remove(&ids);
                self.failures = 0;
                self.save();
            }
            Outcome::Retry => {
                self.failures += 1;
                self.retry_at = now_ms() + backoff_ms(self.failures, js_sys::Math::random());
            }
        }
    }

    /// The browser is back online: retry now.
    pub fn online(&mut self) {
        self.retry_at = 0;
    }

    /// The queued events, oldest first (for tests).
    pub fn queued(&self) -> &[Entry] {
        self.queue.entries()
    }
}
