//! Browser tests: the identity, session, config and payload code against the real
//! `document.cookie`, Web Storage, DOM and `JSON.stringify` of headless Chromium.
//!
//! Run with `CHROMEDRIVER=/usr/bin/chromedriver wasm-pack test --headless --chrome beacon`.
//! All tests share one page (and so one cookie jar and storage), and each starts and ends
//! with [`clear`].
#![cfg(target_arch = "wasm32")]
// Test code: an unwrap is an assertion. (clippy's allow-unwrap-in-tests does not see
// `#[wasm_bindgen_test]` functions or their helpers.)
#![allow(clippy::unwrap_used)]

use spoor_beacon::config::Config;
use spoor_beacon::page::Page;
use spoor_beacon::payload::{Batch, Event};
use spoor_beacon::{id, session};
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
    assert_eq!(cookie_id(), None);
}

fn is_uuid_v4(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            14 => *c == b'4',
            19 => matches!(c, b'8' | b'9' | b'a' | b'b'),
            _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
        })
}

#[wasm_bindgen_test]
fn a_first_visit_creates_one_id_in_cookie_and_storage() {
    clear();
    let id = id::visitor_id();
    assert!(is_uuid_v4(&id), "{id}");
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
    assert!(is_uuid_v4(&second));
    assert_ne!(second, first);
    assert_eq!(cookie_id().as_ref(), Some(&second));
    assert_eq!(stored_id().as_ref(), Some(&second));
    clear();
}

#[wasm_bindgen_test]
fn a_session_lasts_until_thirty_idle_minutes() {
    clear();
    let t0 = 1_780_000_000_000;
    let first = session::session_id(t0);
    assert!(is_uuid_v4(&first));
    let stored = session_storage().get_item(session::KEY).unwrap();
    assert_eq!(stored, Some(session::encode(&first, t0)));
    let later = t0 + session::IDLE_LIMIT_MS - 1;
    assert_eq!(session::session_id(later), first);
    let renewed = session::session_id(later + session::IDLE_LIMIT_MS);
    assert!(is_uuid_v4(&renewed));
    assert_ne!(renewed, first);
    clear();
}

#[wasm_bindgen_test]
fn start_without_a_site_tag_does_nothing() {
    clear();
    spoor_beacon::start();
    assert_eq!(cookie_id(), None);
    assert_eq!(stored_id(), None);
}

/// Adds a `<script>` that the browser neither fetches nor runs (its type is not
/// JavaScript) with the given attributes, reads the config, and removes the tag.
fn config_from_tag(attributes: &[(&str, &str)]) -> Option<Config> {
    let doc = document();
    let tag = doc.create_element("script").unwrap();
    tag.set_attribute("type", "text/x-spoor-test").unwrap();
    for (name, value) in attributes {
        tag.set_attribute(name, value).unwrap();
    }
    doc.document_element().unwrap().append_child(&tag).unwrap();
    let config = Config::from_document(&doc);
    tag.remove();
    config
}

#[wasm_bindgen_test]
fn config_comes_from_the_script_tag() {
    assert_eq!(config_from_tag(&[]), None);
    let local = config_from_tag(&[("data-site", "demo")]).unwrap();
    assert_eq!(local.site, "demo");
    assert_eq!(
        local.endpoint, "/collect",
        "no src: left for the page to resolve"
    );
    let remote = config_from_tag(&[
        ("data-site", "demo"),
        ("src", "https://collector.example/spoor.js"),
    ])
    .unwrap();
    assert_eq!(remote.endpoint, "https://collector.example/collect");
    let custom = config_from_tag(&[
        ("data-site", "demo"),
        ("src", "https://collector.example/js/spoor.js"),
        ("data-endpoint", "https://in.example/e"),
    ])
    .unwrap();
    assert_eq!(custom.endpoint, "https://in.example/e");
}

#[wasm_bindgen_test]
fn the_json_body_matches_the_wire_contract() {
    let page = Page {
        url: "https://example.com/a?b=1".into(),
        referrer: None,
        title: "T \"quoted\"".into(),
    };
    let ts = 1_780_000_000_123;
    let events = [Event::pageview(
        "6f1c2d8e-3b7a-4c1e-9f00-0123456789ab".into(),
        &page,
        "v-1",
        "s-1",
        ts,
    )];
    let body = Batch {
        site: "demo",
        events: &events,
    }
    .to_json()
    .unwrap();
    assert_eq!(
        body,
        r#"{"site":"demo","events":[{"id":"6f1c2d8e-3b7a-4c1e-9f00-0123456789ab","type":"pageview","url":"https://example.com/a?b=1","referrer":null,"title":"T \"quoted\"","visitor":"v-1","session":"s-1","ts":1780000000123}]}"#
    );
}

#[wasm_bindgen_test]
fn when_send_beacon_refuses_fetch_with_keepalive_sends_the_body() {
    use js_sys::{Function, Reflect};
    use wasm_bindgen::JsValue;

    let window = web_sys::window().unwrap();
    let navigator = window.navigator();
    let original_fetch = Reflect::get(&window, &"fetch".into()).unwrap();
    // sendBeacon says no (as with a full queue); fetch records its call and fails.
    let refuse = Function::new_no_args("return false");
    Reflect::set(&navigator, &"sendBeacon".into(), &refuse).unwrap();
    let record = Function::new_with_args(
        "url, init",
        "globalThis.spoorFetch = {url, init}; return Promise.reject(new Error('offline'));",
    );
    Reflect::set(&window, &"fetch".into(), &record).unwrap();

    spoor_beacon::transport::send("/collect-test", "{\"x\":1}");

    Reflect::delete_property(&navigator, &"sendBeacon".into()).unwrap();
    Reflect::set(&window, &"fetch".into(), &original_fetch).unwrap();
    let call = Reflect::get(&window, &"spoorFetch".into()).unwrap();
    let get = |target: &JsValue, key: &str| Reflect::get(target, &key.into()).unwrap();
    assert_eq!(
        get(&call, "url").as_string().as_deref(),
        Some("/collect-test")
    );
    let init = get(&call, "init");
    assert_eq!(get(&init, "method").as_string().as_deref(), Some("POST"));
    assert_eq!(get(&init, "body").as_string().as_deref(), Some("{\"x\":1}"));
    assert_eq!(get(&init, "keepalive").as_bool(), Some(true));
    let headers = get(&init, "headers");
    assert_eq!(
        get(&headers, "content-type").as_string().as_deref(),
        Some("text/plain")
    );
}
