//! Delivery of a request body to the collector.
//!
//! `navigator.sendBeacon` first: the browser queues it, sends it even while the page
//! unloads, and posts a string as `text/plain`, a CORS "simple" request with no preflight.
//! It returns `false` when it will not queue (too large, queue full); then, or where it is
//! missing, `fetch` with `keepalive` sends the same body. Nothing is read back: the
//! collector answers 204, and a lost page view is not worth a retry loop yet.

use js_sys::Function;
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;

use crate::json;

/// The `fetch` options as JSON, up to the body: the same "simple" content type sendBeacon
/// uses, and `keepalive` so the request outlives the page. (web-sys's `RequestInit` has
/// no `keepalive` setter.)
const FETCH_INIT_HEAD: &str =
    r#"{"method":"POST","keepalive":true,"headers":{"content-type":"text/plain"},"body":"#;

// The browser functions are imported by their global names (`navigator.sendBeacon`,
// `fetch`): one import each, where going through `window.navigator` with web-sys takes
// two, and no `Window` object to fetch and drop.
#[wasm_bindgen]
extern "C" {
    /// `navigator.sendBeacon(url, body)`: whether the browser queued the request. `Err`
    /// when it throws, or is missing.
    #[wasm_bindgen(catch, js_namespace = navigator, js_name = sendBeacon)]
    fn send_beacon(url: &str, body: &str) -> Result<bool, JsValue>;

    /// A promise, typed here so that a plain JS function can be its rejection handler
    /// (js-sys's `Promise::catch` wants a Rust closure).
    type Pending;

    /// `fetch(url, init)`.
    #[wasm_bindgen(js_name = fetch)]
    fn fetch(url: &str, init: &JsValue) -> Pending;

    /// `Promise.prototype.catch`; the returned promise is not needed.
    #[wasm_bindgen(method)]
    fn catch(this: &Pending, handler: &Function);

    /// The global `Boolean` function. As a rejection handler it is a no-op that cannot
    /// throw, and it costs no Rust closure.
    #[wasm_bindgen(thread_local_v2, js_name = Boolean)]
    static BOOLEAN: Function;
}

/// Posts `body` to `endpoint`: sendBeacon, else fetch with keepalive. Fire and forget.
pub fn send(endpoint: &str, body: &str) {
    // `Err` when sendBeacon is missing or throws (for example on a malformed URL).
    if let Ok(true) = send_beacon(endpoint, body) {
        return;
    }
    let Ok(init) = js_sys::JSON::parse(&fetch_init(body)) else {
        return;
    };
    let sent = fetch(endpoint, &init);
    // Swallow a network error instead of logging an unhandled rejection.
    BOOLEAN.with(|noop| sent.catch(noop));
}

/// The `fetch` options for `body`, as JSON. `JSON.parse` makes the object in one call,
/// where `Object` and `Reflect.set` took two imports and a call per field.
pub fn fetch_init(body: &str) -> String {
    let mut init = String::with_capacity(FETCH_INIT_HEAD.len() + body.len() + 16);
    init.push_str(FETCH_INIT_HEAD);
    json::push_string(&mut init, body);
    init.push('}');
    init
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn the_fetch_init_carries_the_body_unchanged() {
        let body = r#"{"site":"d","events":[{"title":"a \"b\" \\ é"}]}"#;
        let init: Value = serde_json::from_str(&fetch_init(body)).unwrap();
        assert_eq!(
            init,
            json!({
                "method": "POST",
                "keepalive": true,
                "headers": {"content-type": "text/plain"},
                "body": body,
            })
        );
    }
}
