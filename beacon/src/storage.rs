//! String key-value storage behind a small trait, so the identity and session rules are
//! plain Rust.
//!
//! To [`crate::id`] and [`crate::session`], localStorage, sessionStorage and the cookie
//! jar all look alike: get a string, set a string. [`BrowserStorage`] wraps a Web Storage
//! area; `MemoryStorage` (tests only) stands in for it natively.
//!
//! The areas come from gloo-storage's raw handles (`LocalStorage::raw()`,
//! `SessionStorage::raw()`): its typed JSON path would pull serde_json into the wasm.
//!
//! Browsers may refuse storage (disabled cookies and site data, some private modes,
//! sandboxed frames): reading `window.localStorage` then throws, and gloo's `raw()` would
//! throw with it. [`BrowserStorage`] asks first and becomes a no-op, so the beacon still
//! sends; an id then lives as long as the stores that do work keep it (one page, if none
//! does).

use gloo_storage::{LocalStorage, SessionStorage, Storage as _};
use web_sys::{Storage, Window};

/// A string key-value store. Writes are best effort: a full or refused store drops them.
pub trait KeyValue {
    /// The value stored under `key`, if any.
    fn get(&self, key: &str) -> Option<String>;
    /// Stores `value` under `key`, replacing any previous value.
    fn set(&self, key: &str, value: &str);
    /// Removes `key`.
    fn remove(&self, key: &str);
}

/// A Web Storage area (`localStorage` or `sessionStorage`), or nothing when the browser
/// refuses it.
pub struct BrowserStorage(Option<Storage>);

impl BrowserStorage {
    /// `window.localStorage`: survives the tab, shared by the origin.
    pub fn local() -> Self {
        Self(available(Window::local_storage).then(LocalStorage::raw))
    }

    /// `window.sessionStorage`: one tab, gone when it closes.
    pub fn session() -> Self {
        Self(available(Window::session_storage).then(SessionStorage::raw))
    }
}

/// Whether the storage area opens; gloo's `raw()` is called only after this says yes.
fn available(area: fn(&Window) -> Result<Option<Storage>, wasm_bindgen::JsValue>) -> bool {
    web_sys::window().is_some_and(|window| matches!(area(&window), Ok(Some(_))))
}

impl KeyValue for BrowserStorage {
    fn get(&self, key: &str) -> Option<String> {
        self.0.as_ref()?.get_item(key).ok()?
    }

    fn set(&self, key: &str, value: &str) {
        if let Some(storage) = &self.0 {
            // Fails when the quota is exceeded; the id then lives in the cookie alone.
            let _ = storage.set_item(key, value);
        }
    }

    fn remove(&self, key: &str) {
        if let Some(storage) = &self.0 {
            let _ = storage.remove_item(key);
        }
    }
}

/// An in-memory store for native tests.
#[cfg(test)]
#[derive(Default)]
pub struct MemoryStorage(std::cell::RefCell<std::collections::BTreeMap<String, String>>);

#[cfg(test)]
impl MemoryStorage {
    /// A store holding `key` = `value`.
    pub fn with(key: &str, value: &str) -> Self {
        let store = Self::default();
        store.set(key, value);
        store
    }
}

#[cfg(test)]
impl KeyValue for MemoryStorage {
    fn get(&self, key: &str) -> Option<String> {
        self.0.borrow().get(key).cloned()
    }

    fn set(&self, key: &str, value: &str) {
        self.0.borrow_mut().insert(key.into(), value.into());
    }

    fn remove(&self, key: &str) {
        self.0.borrow_mut().remove(key);
    }
}
