//! Browser tests: the identity, session, config, payload and transport code against the
//! real `document.cookie`, Web Storage, DOM and `fetch` of headless Chromium; JSON strings
//! are compared with what the browser's `JSON.stringify` makes of them.
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
    .to_json();
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
    let navigator: js_sys::Object = Reflect::get(&window, &"navigator".into()).unwrap().into();
    let original_fetch = Reflect::get(&window, &"fetch".into()).unwrap();
    // sendBeacon says no (as with a full queue); fetch records its call and fails.
    let refuse = Function::new_no_args("return false");
    Reflect::set(&navigator, &"sendBeacon".into(), &refuse).unwrap();
    let record = Function::new_with_args(
        "url, init",
        "globalThis.spoorFetch = {url, init}; return Promise.reject(new Error('offline'));",
    );
    Reflect::set(&window, &"fetch".into(), &record).unwrap();

    // The fetch options are made with JSON.parse: the body must come out unchanged.
    let body = "{\"x\":\"a \\\"b\\\" \\\\ é\\n\u{1}\"}";
    spoor_beacon::transport::send("/collect-test", body);

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
    assert_eq!(get(&init, "body").as_string().as_deref(), Some(body));
    assert_eq!(get(&init, "keepalive").as_bool(), Some(true));
    let headers = get(&init, "headers");
    assert_eq!(
        get(&headers, "content-type").as_string().as_deref(),
        Some("text/plain")
    );
}

#[wasm_bindgen_test]
fn json_strings_are_escaped_exactly_like_json_stringify() {
    let ascii: String = (0u8..0x80).map(char::from).collect();
    for s in [
        ascii.as_str(),
        "",
        "plain",
        "é ü € 😀 \u{2028}\u{2029} \u{feff}",
        "</script>",
    ] {
        let mut ours = String::new();
        spoor_beacon::json::push_string(&mut ours, s);
        let browser = js_sys::JSON::stringify(&s.into()).unwrap();
        assert_eq!(Some(ours), browser.as_string(), "{s:?}");
    }
}

#[wasm_bindgen_test]
fn when_send_beacon_queues_the_body_fetch_is_not_called() {
    use js_sys::{Function, Reflect};

    let window = web_sys::window().unwrap();
    let navigator: js_sys::Object = Reflect::get(&window, &"navigator".into()).unwrap().into();
    let original_fetch = Reflect::get(&window, &"fetch".into()).unwrap();
    let accept = Function::new_with_args(
        "url, body",
        "globalThis.spoorBeacon = {url, body}; return true;",
    );
    Reflect::set(&navigator, &"sendBeacon".into(), &accept).unwrap();
    let fail = Function::new_no_args("throw new Error('fetch must not be called')");
    Reflect::set(&window, &"fetch".into(), &fail).unwrap();

    spoor_beacon::transport::send("/collect-test", "{}");

    Reflect::delete_property(&navigator, &"sendBeacon".into()).unwrap();
    Reflect::set(&window, &"fetch".into(), &original_fetch).unwrap();
    let call = Reflect::get(&window, &"spoorBeacon".into()).unwrap();
    let get = |key: &str| Reflect::get(&call, &key.into()).unwrap().as_string();
    assert_eq!(get("url").as_deref(), Some("/collect-test"));
    assert_eq!(get("body").as_deref(), Some("{}"));
}

#[wasm_bindgen_test]
fn start_sends_one_pageview_with_the_stored_ids() {
    use js_sys::{Function, Reflect};

    clear();
    let window = web_sys::window().unwrap();
    let navigator: js_sys::Object = Reflect::get(&window, &"navigator".into()).unwrap().into();
    let record = Function::new_with_args(
        "url, body",
        "(globalThis.spoorBeacons ||= []).push({url, body}); return true;",
    );
    Reflect::set(&navigator, &"sendBeacon".into(), &record).unwrap();
    let doc = document();
    let tag = doc.create_element("script").unwrap();
    tag.set_attribute("type", "text/x-spoor-test").unwrap();
    tag.set_attribute("data-site", "demo").unwrap();
    doc.document_element().unwrap().append_child(&tag).unwrap();

    spoor_beacon::start();

    tag.remove();
    Reflect::delete_property(&navigator, &"sendBeacon".into()).unwrap();
    let calls = Reflect::get(&window, &"spoorBeacons".into()).unwrap();
    let calls: js_sys::Array = calls.into();
    assert_eq!(calls.length(), 1);
    let call = calls.get(0);
    let get = |key: &str| {
        Reflect::get(&call, &key.into())
            .unwrap()
            .as_string()
            .unwrap()
    };
    assert_eq!(get("url"), "/collect");
    let body: serde_json::Value = serde_json::from_str(&get("body")).unwrap();
    assert_eq!(body["site"], "demo");
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert!(is_uuid_v4(event["id"].as_str().unwrap()));
    assert_eq!(event["type"], "pageview");
    assert_eq!(
        event["url"].as_str(),
        window.location().href().ok().as_deref()
    );
    assert_eq!(event["title"].as_str(), Some(doc.title().as_str()));
    assert_eq!(event["visitor"].as_str(), cookie_id().as_deref());
    assert_eq!(event["visitor"].as_str(), stored_id().as_deref());
    let session = session_storage().get_item(session::KEY).unwrap().unwrap();
    let (session_id, last_ms) = session::parse(&session).unwrap();
    assert_eq!(event["session"].as_str(), Some(session_id));
    assert_eq!(event["ts"].as_u64(), Some(last_ms));
    clear();
}
