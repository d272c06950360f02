//! The beacon's configuration, from the attributes of its script tag.
//!
//! The loader (beacon/js/loader.js) finds the tag (`script[data-site]`: module scripts
//! have no `document.currentScript`), resolves `data-endpoint` against the script's URL
//! (the collector that serves `spoor.js` also serves `/collect`) and passes the rest here.
//!
//! | attribute | meaning |
//! | --- | --- |
//! | `data-site` | the site id; required, a page without it is not tracked |
//! | `data-endpoint` | where events are posted (default `/collect`, next to `spoor.js`) |
//! | `data-hash="true"` | the site routes by `#fragment`: a hash change is a page view |
//! | `data-downloads="pdf,zip"` | file extensions counted as downloads (default [`crate::links::DEFAULT_DOWNLOADS`]) |
//! | `data-consent="required"` | nothing stored and no ids until `spoor.consent(true)` |
//! | `data-respect-dnt` | Do Not Track or Global Privacy Control stops the beacon |

use crate::links::DEFAULT_DOWNLOADS;

/// Flag bit: `data-consent="required"`.
pub const CONSENT_REQUIRED: u32 = 1;
/// Flag bit: `data-respect-dnt` is present.
pub const RESPECT_DNT: u32 = 2;
/// Flag bit: the browser sends Do Not Track or Global Privacy Control.
pub const DNT_SIGNAL: u32 = 4;
/// Flag bit: `data-hash="true"`.
pub const HASH_ROUTING: u32 = 8;

/// What the site owner wrote on the script tag (and the browser's DNT signal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `data-site`.
    pub site: String,
    /// The `*_REQUIRED`/`RESPECT_*`/`DNT_SIGNAL`/`HASH_ROUTING` bits.
    pub flags: u32,
    /// `data-downloads`, comma-separated extensions.
    pub downloads: String,
}

impl Config {
    /// A config from the loader's values; `None` without a site. An empty download list
    /// means the default one.
    pub fn new(site: String, flags: u32, downloads: String) -> Option<Self> {
        if site.is_empty() {
            return None;
        }
        let downloads = if downloads.is_empty() {
            DEFAULT_DOWNLOADS.into()
        } else {
            downloads
        };
        Some(Self {
            site,
            flags,
            downloads,
        })
    }

    /// Whether flag bit `bit` is set.
    pub fn has(&self, bit: u32) -> bool {
        self.flags & bit != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_is_required() {
        assert_eq!(Config::new(String::new(), 0, String::new()), None);
    }

    #[test]
    fn downloads_default_and_flags_read() {
        let config = Config::new("demo".into(), CONSENT_REQUIRED | HASH_ROUTING, "".into());
        let config = config.unwrap();
        assert_eq!(config.downloads, DEFAULT_DOWNLOADS);
        assert!(config.has(CONSENT_REQUIRED) && config.has(HASH_ROUTING));
        assert!(!config.has(RESPECT_DNT));
        let config = Config::new("demo".into(), 0, "zip".into()).unwrap();
        assert_eq!(config.downloads, "zip");
    }
}
