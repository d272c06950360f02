//! Browser tests: the identity and session rules, the queue's persistence and the privacy
//! switches against the real `document.cookie` and Web Storage of headless Chromium.
//!
//! Run with `CHROMEDRIVER=/usr/bin/chromedriver wasm-pack test --headless --chrome beacon`.
//! All tests share one page (and so one cookie jar and storage), and each starts and ends
//! with [`clear`].
#![cfg(target_arch = "wasm32")]
// Test code: an unwrap is an assertion. (clippy's allow-unwrap-in-tests does not see
// `#[wasm_bindgen_test]` functions or their helpers.)
#![allow(clippy::unwrap_used)]

use spoor_beacon::beacon::Beacon;
use spoor_beacon::config::{self, Config};
use spoor_beacon::payload::Context;
use spoor_beacon::privacy::{CONSENT_KEY, OPT_OUT_KEY};
use spoor_beacon::{id, queue, session};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Document, HtmlDocument, Storage};

wasm_bindgen_test_configure!(run_in_browser);

fn document() -> Document {
    web_sys::window().unwrap().document().unwrap()
}

fn local_storage() -> Storage {
    web_sys::window().unwrap().local_storage().unwrap().unwrap()
}

fn session_storage() -> Storage {
    web_sys::window()
        .unwrap()
        .session_storage()
        .unwrap()
        .unwrap()
}

fn cookie_jar() -> String {
    document()
        .dyn_into::<HtmlDocument>()
        .unwrap()
        .cookie()
        .unwrap()
}

/// The `spoor_id` cookie as the page sees it.
fn cookie_id() -> Option<String> {
    id::cookie_value(&cookie_jar(), id::KEY).map(str::to_owned)
}

/// The `spoor_id` localStorage entry.
fn stored_id() -> Option<String> {
    local_storage().get_item(id::KEY).unwrap()
}

fn delete_cookie() {
    document()
        .dyn_into::<HtmlDocument>()
        .unwrap()
        .set_cookie("spoor_id=; Max-Age=0; Path=/")
        .unwrap();
}

/// Forgets the visitor and the session.
fn clear() {
    delete_cookie();
    local_storage().remove_item(id::KEY).unwrap();
    session_storage().remove_item(session::KEY).unwrap();
    for key in [queue::KEY, CONSENT_KEY, OPT_OUT_KEY] {
        local_storage().remove_item(key).unwrap();
    }
    assert_eq!(cookie_id(), None);
}

/// A UUID v7 made within the last minute: lowercase, version 7, RFC 9562 variant, its
/// first 48 bits the time it was made (ms since 1970).
fn is_uuid_v7(id: &str) -> bool {
    let b = id.as_bytes();
    let shaped = b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            14 => *c == b'7',
            19 => matches!(c, b'8' | b'9' | b'a' | b'b'),
            _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
        });
    let made = id
        .get(..13)
        .map(|t| t.replace('-', ""))
        .and_then(|t| u64::from_str_radix(&t, 16).ok());
    let now = js_sys::Date::now() as u64;
    shaped && made.is_some_and(|ms| ms <= now && now - ms < 60_000)
}

#[wasm_bindgen_test]
fn a_first_visit_creates_one_id_in_cookie_and_storage() {
    clear();
    let id = id::visitor_id();
    assert!(is_uuid_v7(&id), "{id}");
    assert_eq!(cookie_id().as_ref(), Some(&id));
    assert_eq!(stored_id().as_ref(), Some(&id));
    clear();
}

#[wasm_bindgen_test]
fn a_later_visit_reuses_the_id() {
    clear();
    let first = id::visitor_id();
    assert_eq!(id::visitor_id(), first);
    assert_eq!(cookie_id().as_ref(), Some(&first));
    clear();
}

#[wasm_bindgen_test]
fn a_deleted_cookie_is_restored_from_storage() {
    clear();
    let first = id::visitor_id();
    delete_cookie();
    assert_eq!(cookie_id(), None);
    assert_eq!(id::visitor_id(), first);
    assert_eq!(cookie_id().as_ref(), Some(&first), "cookie written back");
    clear();
}

#[wasm_bindgen_test]
fn a_cleared_cookie_and_storage_give_a_new_id() {
    clear();
    let first = id::visitor_id();
    clear();
    let second = id::visitor_id();
    assert!(is_uuid_v7(&second));
    assert_ne!(second, first);
    assert_eq!(cookie_id().as_ref(), Some(&second));
    assert_eq!(stored_id().as_ref(), Some(&second));
    clear();
}

#[wasm_bindgen_test]
fn a_session_lasts_until_thirty_idle_minutes() {
    clear();
    let t0 = 1_780_000_000_000;
    let first = session::current(t0).0;
    assert!(is_uuid_v7(&first));
    let stored = session_storage().get_item(session::KEY).unwrap();
    assert_eq!(stored, Some(session::encode(&first, t0)));
    let later = t0 + session::IDLE_LIMIT_MS - 1;
    assert_eq!(session::current(later).0, first);
    let renewed = session::current(later + session::IDLE_LIMIT_MS).0;
    assert!(is_uuid_v7(&renewed));
    assert_ne!(renewed, first);
    clear();
}

const PAGE: &str = "http://127.0.0.1:8000/app.html";

/// A beacon for site `demo` with the given config flag bits, as on a fresh page load.
fn beacon(flags: u32) -> Beacon {
    let config = Config::new("demo".into(), flags, String::new()).unwrap();
    let context = Context {
        url: PAGE.into(),
        title: "App".into(),
        referrer: Some("https://search.example/".into()),
        ..Context::default()
    };
    Beacon::new(config, context, "127.0.0.1:8000".into())
}

fn view(b: &mut Beacon, query: &str) -> bool {
    b.page([PAGE, query].concat(), "App".into(), false, 0, 0)
}

fn stored_queue() -> Option<String> {
    local_storage().get_item(queue::KEY).unwrap()
}

#[wasm_bindgen_test]
fn the_queue_survives_a_reload_until_acknowledged() {
    clear();
    let mut first = beacon(0);
    assert!(view(&mut first, ""));
    assert!(view(&mut first, "?view=map"));
    first.track("star");
    assert_eq!(first.queued().len(), 3);
    assert!(stored_queue().unwrap().contains("view=map"));
    let body = first.next(false).unwrap();
    first.ack(503);
    assert_eq!(first.queued().len(), 3, "503 keeps the batch");
    drop(first);

    // The next page load adopts the stored queue and sends it again.
    let mut second = beacon(0);
    assert_eq!(second.queued().len(), 3);
    let again = second.next(false).unwrap();
    assert_eq!(again, body, "the same events, ids included");
    second.ack(204);
    assert!(second.queued().is_empty());
    assert_eq!(stored_queue(), None, "an empty queue is removed");
    clear();
}

#[wasm_bindgen_test]
fn the_first_event_after_a_reset_is_marked_and_has_the_new_id() {
    clear();
    let mut b = beacon(0);
    assert!(view(&mut b, ""));
    let before = cookie_id().unwrap();
    b.reset();
    let after = cookie_id().unwrap();
    assert_ne!(after, before, "a new visitor id");
    assert!(view(&mut b, "?view=map"));
    assert!(view(&mut b, "?view=settings"));
    let stored = stored_queue().unwrap();
    assert_eq!(stored.matches(r#""reset":true"#).count(), 1, "{stored}");
    let marked = stored
        .lines()
        .find(|l| l.contains(r#""reset":true"#))
        .unwrap();
    assert!(
        marked.contains("view=map") && marked.contains(&after),
        "{marked}"
    );
    clear();
}

#[wasm_bindgen_test]
fn statuses_backoff_and_hiding_decide_what_is_sent() {
    clear();
    let mut b = beacon(0);
    assert!(view(&mut b, ""));
    assert!(b.next(true).is_some());
    assert!(b.next(true).is_none(), "one batch while hiding");
    assert_eq!(
        b.queued().len(),
        1,
        "sendBeacon cannot confirm: still queued"
    );
    assert!(
        b.next(true).is_none(),
        "a second hide event sends nothing new"
    );
    b.track("later");
    assert!(b.next(true).is_some(), "a new event: the queue goes again");
    assert!(b.next(true).is_none());
    assert!(b.next(false).is_some());
    b.ack(400);
    assert!(b.queued().is_empty(), "400 is not retried");
    b.track("again");
    assert!(b.next(false).is_some());
    b.ack(429);
    assert_eq!(b.queued().len(), 1, "429 is retried");
    assert!(b.next(false).is_none(), "not before the backoff");
    b.online();
    assert!(b.next(false).is_some(), "coming online retries at once");
    clear();
}

#[wasm_bindgen_test]
fn consent_mode_writes_nothing_before_consent() {
    clear();
    let mut b = beacon(config::CONSENT_REQUIRED);
    assert!(view(&mut b, ""));
    b.track("star");
    assert!(!b.stores());
    assert_eq!(cookie_id(), None);
    assert_eq!(stored_id(), None);
    assert_eq!(stored_queue(), None);
    assert_eq!(session_storage().get_item(session::KEY).unwrap(), None);
    let body = b.next(false).unwrap();
    assert!(body.contains(r#""visitor":null,"session":null"#), "{body}");

    b.consent(true);
    let id = cookie_id().unwrap();
    assert!(is_uuid_v7(&id));
    assert_eq!(stored_id(), Some(id.clone()));
    assert!(stored_queue().is_some(), "the queue is stored from now on");
    assert!(view(&mut b, "?after"));
    let last = &b.queued().last().unwrap().json;
    assert!(last.contains(&id), "{last}");
    drop(b);
    let b = beacon(config::CONSENT_REQUIRED);
    assert!(b.stores(), "consent is remembered");

    let mut b = b;
    b.consent(false);
    assert_eq!(cookie_id(), None);
    assert_eq!(stored_id(), None);
    assert_eq!(stored_queue(), None);
    assert_eq!(local_storage().get_item(CONSENT_KEY).unwrap(), None);
    clear();
}

#[wasm_bindgen_test]
fn opt_out_stops_everything_until_opt_in() {
    clear();
    let mut b = beacon(0);
    assert!(view(&mut b, ""));
    assert!(cookie_id().is_some());
    b.opt_out();
    assert_eq!(cookie_id(), None);
    assert_eq!(stored_id(), None);
    assert_eq!(stored_queue(), None);
    assert!(!view(&mut b, "?x"));
    assert!(b.queued().is_empty());
    drop(b);

    let mut b = beacon(0);
    assert!(!view(&mut b, ""), "the opt-out is remembered");
    assert_eq!(cookie_id(), None);
    b.opt_in();
    assert_eq!(local_storage().get_item(OPT_OUT_KEY).unwrap(), None);
    assert!(view(&mut b, "?y"));
    assert!(cookie_id().is_some());
    clear();
}

#[wasm_bindgen_test]
fn do_not_track_is_honoured_when_asked() {
    clear();
    let mut b = beacon(config::RESPECT_DNT | config::DNT_SIGNAL);
    assert!(!view(&mut b, ""));
    assert!(b.queued().is_empty());
    assert_eq!(cookie_id(), None);
    assert_eq!(stored_id(), None);
    let mut b = beacon(config::DNT_SIGNAL);
    assert!(
        view(&mut b, ""),
        "without data-respect-dnt the signal is not used"
    );
    clear();
}

#[wasm_bindgen_test]
fn the_referrer_goes_with_a_sessions_first_page_only() {
    clear();
    let mut b = beacon(0);
    assert!(view(&mut b, ""));
    assert!(b.queued()[0].json.contains("search.example"));
    assert!(view(&mut b, "?next"));
    assert!(b.queued()[1].json.contains(r#""referrer":null"#));
    let mut reload = beacon(0);
    assert!(view(&mut reload, ""));
    assert!(
        reload
            .queued()
            .last()
            .unwrap()
            .json
            .contains(r#""referrer":null"#)
    );
    clear();
}
