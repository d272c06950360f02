//! Spoor's in-page beacon: Rust compiled to WebAssembly, loaded by one script tag.
//!
//! ```html
//! <script type="module" src="/spoor.js" data-site="demo" data-endpoint="/collect"></script>
//! ```
//!
//! # How the work is split between JS and Rust
//!
//! `spoor.js` is wasm-bindgen's `--target web` glue bundled with the loader
//! (`beacon/js/loader.js`, by `scripts/build-beacon.sh`). The loader does everything that
//! is wiring to the browser: it reads the script tag and the DNT/GPC signals, defines
//! `window.spoor` (queueing calls made before the wasm is ready and replaying them),
//! patches `history.pushState`/`replaceState`, listens to `popstate`, `hashchange`,
//! `navigatesuccess`, `pageshow`, `visibilitychange`, `pagehide`, `scroll`, `click`,
//! `auxclick` and `online`, keeps the visible-time and scroll counters, and performs the
//! requests (`fetch`, `sendBeacon`) that the Rust side asks for.
//!
//! Why: each of those is a JS callback. Made in Rust, every one is a wasm-bindgen
//! `Closure` (about 0.4 KB gzipped each, plus an import per browser call), where the
//! loader spends a few dozen bytes. Rust keeps everything that is a decision or state:
//! config, visitor id, session, consent and opt-out, the navigation dedupe rule, the
//! engagement rule, link classification, the event envelope and JSON, props limits,
//! batching, the size-bounded retry queue and the backoff — all plain Rust with native
//! unit tests, reached through the few exports below. No wasm-bindgen closure is used.
//!
//! # Layout
//!
//! - [`beacon`]: the state on one page, applying the rules below to the browser's stores.
//! - [`config`]: the script tag's attributes.
//! - [`privacy`]: Do Not Track, consent mode and opt-out decisions.
//! - [`navigation`]: which navigations are page views; when engagement is due.
//! - [`links`]: outbound links and downloads.
//! - [`props`]: custom event names and props trimmed to the collector's limits.
//! - [`payload`]: one event's JSON (the `/collect` wire format).
//! - [`queue`]: the bounded localStorage queue and its batches.
//! - [`delivery`]: status outcomes and jittered exponential backoff.
//! - [`storage`]: the [`storage::KeyValue`] trait over Web Storage and the cookie jar.
//! - [`id`]: the visitor id: `spoor_id` cookie, mirrored in localStorage.
//! - [`session`]: the session id in sessionStorage, with a 30-minute inactivity rule.
//! - [`uuid`]: time-ordered UUID v7 strings (event ids, new visitor and session ids).
//! - [`json`]: the small JSON writer.
//!
//! # Size
//!
//! Every visitor downloads this crate, so it has a budget (`beacon/size-budget`, checked by
//! `scripts/beacon-size.sh`; figures in `docs/BENCHMARKS.md`). It avoids `format!` and
//! `core::fmt`, panicking paths (`unwrap`, indexing, slicing, `parse`) and serde: JSON is
//! written by [`json`]. It uses a small allocator, and every import costs bytes in both
//! the wasm and the glue. Browser calls fail soft: a missing API means "send nothing",
//! never a panic.

pub mod beacon;
pub mod config;
pub mod delivery;
pub mod id;
pub mod json;
pub mod links;
pub mod navigation;
pub mod payload;
pub mod privacy;
pub mod props;
pub mod queue;
pub mod session;
pub mod storage;
pub mod uuid;

use std::cell::RefCell;

use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;

use crate::beacon::Beacon;
use crate::config::Config;
use crate::payload::Context;

/// The allocator: lol_alloc's free list (sorted, coalescing, O(length of the list) per
/// call) is about 3 KB gzipped smaller than Rust's default, dlmalloc; the beacon's few
/// short strings do not notice that it is slower. The spin lock around it is the safe way
/// to make it a `static`: `AssumeSingleThreaded` would save 53 bytes gzipped, but needs
/// `unsafe`, which the workspace forbids (and `forbid` cannot be lifted for one item).
/// On wasm32 without threads the lock is a couple of loads and stores.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: lol_alloc::LockedAllocator<lol_alloc::FreeListAllocator> =
    lol_alloc::LockedAllocator::new(lol_alloc::FreeListAllocator::new());

thread_local! {
    /// The page's beacon, once [`boot`] has run with a site.
    static BEACON: RefCell<Option<Beacon>> = const { RefCell::new(None) };
}

/// Runs `f` on the beacon; nothing before [`boot`] (or without a site).
/// `try_borrow_mut`: the loader never re-enters, and `borrow_mut`'s panic path costs
/// formatting code.
fn with<R>(f: impl FnOnce(&mut Beacon) -> R) -> Option<R> {
    BEACON.with(|cell| cell.try_borrow_mut().ok()?.as_mut().map(f))
}

/// Starts the beacon and records the first page view. `flags` are the [`config`] bits;
/// `fields` are, each ended by a newline but the last: the page URL, `document.title`,
/// `document.referrer`, the screen (`WIDTHxHEIGHT`), `navigator.language`, the time zone,
/// `data-site`, and then `data-downloads` (the rest). One string rather than eight
/// arguments: the glue converts and frees each string argument with its own code, and an
/// options object would need a getter import per field. None of the first six can hold a
/// newline (URLs are serialized, `document.title` collapses whitespace); a site id with one
/// is invalid anyway.
#[wasm_bindgen]
pub fn boot(flags: u32, fields: String) {
    let rest = &mut fields.as_str();
    let (url, title, referrer) = (field(rest), field(rest), field(rest));
    let (screen, lang, tz, site) = (field(rest), field(rest), field(rest), field(rest));
    let Some(config) = Config::new(site, flags, rest.to_owned()) else {
        return;
    };
    let context = Context {
        url: url.clone(),
        referrer: (!referrer.is_empty()).then_some(referrer),
        title: title.clone(),
        visitor: None,
        screen,
        lang,
        tz,
        reset: false,
    };
    let host = links::host(&url).unwrap_or_default().into();
    let mut beacon = Beacon::new(config, context, host);
    beacon.page(url, title, false, 0, 0);
    BEACON.with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut() {
            *slot = Some(beacon);
        }
    });
}

/// Cuts the first newline-ended field off `rest` (all of it when there is no newline).
fn field(rest: &mut &str) -> String {
    let (head, tail) = id::split_once_byte(rest, b'\n').unwrap_or((rest, ""));
    *rest = tail;
    head.to_owned()
}

/// A navigation (see [`Beacon::page`]); whether a view was recorded.
#[wasm_bindgen]
pub fn page(url: String, title: String, restored: bool, visible_ms: f64, scroll: u32) -> bool {
    with(|b| b.page(url, title, restored, visible_ms as u64, scroll)).unwrap_or(false)
}

/// The page hides (see [`Beacon::engage`]).
#[wasm_bindgen]
pub fn engage(visible_ms: f64, scroll: u32) {
    with(|b| b.engage(visible_ms as u64, scroll));
}

/// A click on a link (see [`Beacon::link`]).
#[wasm_bindgen]
pub fn link(href: &str) {
    with(|b| b.link(href));
}

/// One prop of the next custom event: a string, or (`literal`) a number or boolean.
#[wasm_bindgen]
pub fn prop(key: &str, value: &str, literal: bool) {
    with(|b| b.props.add(key, value, literal));
}

/// `spoor.track(name, props)` (after [`prop`] for each prop), or with `identify`,
/// `spoor.identify(name, {signature})` (`sig`: the signature, if given). One export for
/// both: each export costs glue and wasm.
#[wasm_bindgen]
pub fn custom(name: &str, identify: bool) {
    with(|b| b.custom(name, identify));
}

/// `spoor.reset()` ([`RESET`]), `spoor.consent(false)` ([`DENY`]) and `(true)`
/// ([`GRANT`]), `spoor.optOut()` ([`OPT_OUT`]), `spoor.optIn()` ([`OPT_IN`]).
#[wasm_bindgen]
pub fn control(op: u32) {
    with(|b| match op {
        RESET => b.reset(),
        DENY => b.consent(false),
        GRANT => b.consent(true),
        OPT_OUT => b.opt_out(),
        OPT_IN => b.opt_in(),
        _ => {}
    });
}

/// [`control`]: `spoor.reset()`.
pub const RESET: u32 = 0;
/// [`control`]: `spoor.consent(false)`.
pub const DENY: u32 = 1;
/// [`control`]: `spoor.consent(true)`.
pub const GRANT: u32 = 2;
/// [`control`]: `spoor.optOut()`.
pub const OPT_OUT: u32 = 3;
/// [`control`]: `spoor.optIn()`.
pub const OPT_IN: u32 = 4;

/// The next body to send (see [`Beacon::next`]), `undefined` when there is none. A
/// `JsValue`: returning `Option<String>` costs a 0.6 KB multivalue shim in the wasm.
#[wasm_bindgen]
pub fn next(hiding: bool) -> JsValue {
    match with(|b| b.next(hiding)).flatten() {
        Some(body) => JsValue::from_str(&body),
        None => JsValue::UNDEFINED,
    }
}

/// The status of the batch in flight (see [`Beacon::ack`]).
#[wasm_bindgen]
pub fn ack(status: u16) {
    with(|b| b.ack(status));
}

/// The browser came online.
#[wasm_bindgen]
pub fn online() {
    with(Beacon::online);
}

/// Whether requests may carry cookies (and so sendBeacon may be used).
#[wasm_bindgen]
pub fn creds() -> bool {
    with(|b| b.stores()).unwrap_or(false)
}

/// `Date.now()` as whole milliseconds. The float-to-int cast saturates, so a nonsense
/// clock gives 0, not a panic.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn boot_fields_split_at_newlines_and_the_rest_keeps_its_own() {
        let rest = &mut "https://a.example/\nTitle\n\n800x600\nen\nUTC\ndemo\npdf\nzip";
        let got: Vec<String> = (0..7).map(|_| field(rest)).collect();
        assert_eq!(
            got,
            [
                "https://a.example/",
                "Title",
                "",
                "800x600",
                "en",
                "UTC",
                "demo"
            ]
        );
        assert_eq!(*rest, "pdf\nzip");
        let rest = &mut "last";
        assert_eq!((field(rest), field(rest)), ("last".into(), String::new()));
    }
}
