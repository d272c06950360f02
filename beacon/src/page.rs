//! What the beacon reads about the current page for a page view.

use web_sys::{Document, Window};

/// The page being viewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// `location.href`: the full URL, query and fragment included.
    pub url: String,
    /// `document.referrer`; `None` when the browser gives none (direct visit, or a
    /// referrer policy that hides it).
    pub referrer: Option<String>,
    /// `document.title`, possibly empty.
    pub title: String,
}

impl Page {
    /// Reads the current page; `None` when the location cannot be read.
    pub fn read(window: &Window, document: &Document) -> Option<Self> {
        let referrer = document.referrer();
        Some(Self {
            url: window.location().href().ok()?,
            referrer: (!referrer.is_empty()).then_some(referrer),
            title: document.title(),
        })
    }
}
