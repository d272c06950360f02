//! The beacon's configuration, read from the attributes of its own script tag.
//!
//! Module scripts have no `document.currentScript`, so the tag is found as the first
//! `script[data-site]` in the document. A page without one is not tracked.

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::wasm_bindgen;
use web_sys::{Document, Url};

#[wasm_bindgen]
extern "C" {
    /// The element `script[data-site]` found: an HTML `<script>`, or an SVG one.
    type ScriptTag;

    /// `script.src`: the absolute URL the script was loaded from, `""` for an inline
    /// script, `None` for an SVG `<script>` (it has no `src` property). Read structurally:
    /// web-sys's `HtmlScriptElement::src` needs an `instanceof` check (one more import)
    /// to be called safely.
    #[wasm_bindgen(method, getter)]
    fn src(this: &ScriptTag) -> Option<String>;
}

/// Where events go when the tag has no `data-endpoint`.
pub const DEFAULT_ENDPOINT: &str = "/collect";

/// What the site owner wrote on the script tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `data-site`: the site id the collector files events under.
    pub site: String,
    /// `data-endpoint`: the URL events are posted to. Read from the page, a relative
    /// value is resolved against the script's own URL (see [`Config::from_document`]).
    pub endpoint: String,
}

impl Config {
    /// Builds a config from the raw attribute values. `None` when there is no site: an
    /// empty `data-site` counts as none. An empty `data-endpoint` means the default.
    pub fn from_attributes(site: Option<String>, endpoint: Option<String>) -> Option<Self> {
        let site = site.filter(|s| !s.is_empty())?;
        let endpoint = endpoint
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.into());
        Some(Self { site, endpoint })
    }

    /// Reads the config from the first `<script data-site>` in `document`.
    ///
    /// A relative endpoint is resolved against the script's `src`, not against the page:
    /// the collector that serves `spoor.js` also serves `/collect`, so a site that embeds
    /// `https://collector.example/spoor.js` posts to `https://collector.example/collect`.
    /// When both are on one origin the two readings agree.
    pub fn from_document(document: &Document) -> Option<Self> {
        let script = document.query_selector("script[data-site]").ok()??;
        let mut config = Self::from_attributes(
            script.get_attribute("data-site"),
            script.get_attribute("data-endpoint"),
        )?;
        let src = script
            .unchecked_ref::<ScriptTag>()
            .src()
            .unwrap_or_default();
        if !src.is_empty() {
            if let Ok(url) = Url::new_with_base(&config.endpoint, &src) {
                config.endpoint = url.href();
            }
        }
        Some(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(s: &str) -> Option<String> {
        Some(s.into())
    }

    #[test]
    fn site_is_required() {
        assert_eq!(Config::from_attributes(None, some("/e")), None);
        assert_eq!(Config::from_attributes(some(""), None), None);
    }

    #[test]
    fn endpoint_defaults_to_collect() {
        for endpoint in [None, some("")] {
            let config = Config::from_attributes(some("demo"), endpoint);
            assert_eq!(
                config,
                Some(Config {
                    site: "demo".into(),
                    endpoint: "/collect".into()
                })
            );
        }
    }

    #[test]
    fn endpoint_is_kept_when_given() {
        let config = Config::from_attributes(some("demo"), some("https://c.example/in"));
        assert_eq!(
            config.map(|c| c.endpoint),
            Some("https://c.example/in".into())
        );
    }
}
