//! Spoor's in-page beacon: Rust compiled to WebAssembly, loaded by one script tag.
//!
//! ```html
//! <script type="module" src="/spoor.js" data-site="demo" data-endpoint="/collect"></script>
//! ```
//!
//! `spoor.js` is the wasm-bindgen `--target web` glue bundled with a three-line loader
//! (`beacon/js/loader.js`, built by `scripts/build-beacon.sh`); loading it runs
//! [`start`], which sends one page view.
//!
//! # Layout
//!
//! - [`config`]: reads `data-site` / `data-endpoint` from the script tag.
//! - [`storage`]: the [`storage::KeyValue`] trait over Web Storage, so the identity and
//!   session rules are plain Rust, tested natively.
//! - [`id`]: the visitor id: `spoor_id` cookie, mirrored in localStorage.
//! - [`session`]: the session id in sessionStorage, with a 30-minute inactivity rule.
//! - [`uuid`]: random UUID v4 strings (event ids, new visitor and session ids).
//! - [`page`]: what the beacon reads about the current page.
//! - [`payload`]: the `/collect` wire format (the collector's `payload` module validates it).
//! - [`json`]: the small JSON writer behind it.
//! - [`transport`]: `navigator.sendBeacon`, with a `fetch` keepalive fallback.
//!
//! # Size
//!
//! Every visitor downloads this crate, so it has a budget (`beacon/size-budget`, checked by
//! `scripts/beacon-size.sh`; figures in `docs/BENCHMARKS.md`). It avoids `format!` and
//! `core::fmt`, panicking paths (`unwrap`, indexing, slicing, `parse`) and serde: JSON is
//! written by [`json`]. It uses a small allocator, and imports browser functions by their
//! global names where web-sys would need an object first (`navigator.sendBeacon`,
//! `crypto.getRandomValues`, `fetch`): every import costs bytes in both the wasm and the
//! glue. Browser calls fail soft: a missing API means "send nothing", never a panic.

pub mod config;
pub mod id;
pub mod json;
pub mod page;
pub mod payload;
pub mod session;
pub mod storage;
pub mod transport;
pub mod uuid;

use wasm_bindgen::prelude::wasm_bindgen;

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

use crate::config::Config;
use crate::id::CookieJar;
use crate::page::Page;
use crate::payload::{Batch, Event};
use crate::storage::BrowserStorage;

/// Entry point, run by the glue when the module loads: sends the page view.
///
/// Does nothing when the page has no `<script data-site>` (for example inside the
/// wasm-bindgen-test harness), so loading the module alone has no effect.
#[wasm_bindgen(start)]
pub fn start() {
    // `None` means some browser API was missing: there is nothing useful to do about it.
    let _ = track_pageview();
}

/// Reads the configuration, the visitor and session ids and the page, then sends one
/// `pageview` event.
fn track_pageview() -> Option<()> {
    let window = web_sys::window()?;
    let document = window.document()?;
    let config = Config::from_document(&document)?;
    let page = Page::read(&window, &document)?;
    let now = now_ms();
    let cookies = CookieJar::new(document, id::is_https(&page.url));
    let visitor = id::resolve(&cookies, &BrowserStorage::local(), uuid::random_v4);
    let session = session::session_id(now);
    let events = [Event::pageview(
        uuid::random_v4(),
        &page,
        &visitor,
        &session,
        now,
    )];
    let body = Batch {
        site: &config.site,
        events: &events,
    }
    .to_json();
    transport::send(&config.endpoint, &body);
    Some(())
}

/// `Date.now()` as whole milliseconds. The float-to-int cast saturates, so a nonsense
/// clock gives 0, not a panic.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}
