//! Delivery of a request body to the collector.
//!
//! `navigator.sendBeacon` first: the browser queues it, sends it even while the page
//! unloads, and posts a string as `text/plain`, a CORS "simple" request with no preflight.
//! It returns `false` when it will not queue (too large, queue full); then, or where it is
//! missing, `fetch` with `keepalive` sends the same body. Nothing is read back: the
//! collector answers 204, and a lost page view is not worth a retry loop yet.

use js_sys::{Function, Object, Reflect};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::RequestInit;

/// Content type of the fallback request; the same "simple" type sendBeacon uses.
pub const CONTENT_TYPE: &str = "text/plain";

#[wasm_bindgen]
extern "C" {
    /// The global `Boolean` function. As a rejection handler it is a no-op that cannot
    /// throw, and it costs no Rust closure.
    #[wasm_bindgen(thread_local_v2, js_name = Boolean)]
    static BOOLEAN: Function;

    /// A promise, typed here so that a plain JS function can be its rejection handler
    /// (js-sys's `Promise::catch` wants a Rust closure).
    type Pending;

    /// `Promise.prototype.catch`; the returned promise is not needed.
    #[wasm_bindgen(method)]
    fn catch(this: &Pending, handler: &Function);
}

/// Posts `body` to `endpoint`: sendBeacon, else fetch with keepalive. Fire and forget.
pub fn send(endpoint: &str, body: &str) {
    let Some(window) = web_sys::window() else {
        return;
    };
    // `Err` when sendBeacon is missing or throws (for example on a malformed URL).
    if let Ok(true) = window
        .navigator()
        .send_beacon_with_opt_str(endpoint, Some(body))
    {
        return;
    }
    // web-sys's RequestInit has no `keepalive` setter, so the init is a plain object.
    let init = Object::new();
    let headers = Object::new();
    let _ = Reflect::set(&headers, &"content-type".into(), &CONTENT_TYPE.into());
    for (key, value) in [
        ("method", JsValue::from_str("POST")),
        ("body", JsValue::from_str(body)),
        ("keepalive", JsValue::TRUE),
        ("headers", headers.into()),
    ] {
        let _ = Reflect::set(&init, &key.into(), &value);
    }
    let sent = window.fetch_with_str_and_init(endpoint, init.unchecked_ref::<RequestInit>());
    // Swallow a network error instead of logging an unhandled rejection.
    BOOLEAN.with(|noop| {
        sent.unchecked_ref::<Pending>().catch(noop);
    });
}
