//! [`SiteSecrets`]: one secret per site, such as the key that signs a site's user ids
//! ([`identity::verify`](crate::identity::verify)) or the key of its server-side client
//! (`POST /ingest`).
//!
//! Secrets are read from the environment or from a file, never from a flag: a flag shows
//! in `ps` to every user of the machine. Both forms hold `site=secret` entries, separated
//! by `;` in a variable and by lines in a file (where blank lines and lines starting with
//! `#` are skipped). A secret is at least [`MIN_SECRET_LEN`] visible ASCII characters;
//! its `Debug` form is redacted so it never reaches a log.

use std::collections::BTreeMap;
use std::fmt;

use crate::sites::Sites;

/// Shortest secret accepted, in characters: 16 characters are far out of guessing range,
/// and a shorter one is more likely a placeholder than a key.
pub const MIN_SECRET_LEN: usize = 16;

/// A secret per site id; see the module docs.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SiteSecrets(BTreeMap<String, Vec<u8>>);

impl SiteSecrets {
    /// Parses `site=secret` entries separated by `;` or newlines. Each site once; a secret
    /// of visible ASCII, at least [`MIN_SECRET_LEN`] long. Errors never echo a secret.
    pub fn parse(text: &str) -> Result<SiteSecrets, String> {
        let mut secrets = BTreeMap::new();
        for (n, entry) in text.split([';', '\n']).map(str::trim).enumerate() {
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            let Some((site, secret)) = entry.split_once('=') else {
                return Err(format!("entry {}: not site=secret", n + 1));
            };
            let (site, secret) = (site.trim(), secret.trim());
            if site.is_empty() {
                return Err(format!("entry {}: no site before '='", n + 1));
            }
            if secret.len() < MIN_SECRET_LEN || !secret.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!(
                    "site {site:?}: the secret must be at least {MIN_SECRET_LEN} visible ASCII characters"
                ));
            }
            if secrets
                .insert(site.to_string(), secret.as_bytes().to_vec())
                .is_some()
            {
                return Err(format!("site {site:?} is given twice"));
            }
        }
        Ok(SiteSecrets(secrets))
    }

    /// The secret of `site`, if it has one.
    pub fn get(&self, site: &str) -> Option<&[u8]> {
        self.0.get(site).map(Vec::as_slice)
    }

    /// Whether no site has a secret.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first site id that is not one of `sites`, if any: a secret for a site that is
    /// not counted is a typo.
    pub fn unknown_site(&self, sites: &Sites) -> Option<&str> {
        self.0
            .keys()
            .find(|id| sites.get(id).is_none())
            .map(String::as_str)
    }
}

impl fmt::Debug for SiteSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|site| (site, "<redacted>")))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_from_a_variable_or_a_file() -> Result<(), String> {
        let from_env = SiteSecrets::parse("demo=0123456789abcdef; shop = fedcba9876543210x")?;
        let from_file = SiteSecrets::parse(
            "# identity secrets\n\ndemo=0123456789abcdef\nshop=fedcba9876543210x\n",
        )?;
        assert_eq!(from_env, from_file);
        assert_eq!(from_env.get("demo"), Some(&b"0123456789abcdef"[..]));
        assert_eq!(from_env.get("other"), None);
        assert!(SiteSecrets::parse("")?.is_empty());
        Ok(())
    }

    #[test]
    fn bad_entries_are_refused_without_echoing_the_secret() {
        for bad in [
            "demo",
            "=0123456789abcdef",
            "demo=short",
            "demo=0123456789 abcdef",
            "demo=0123456789abcdef;demo=0123456789abcdeg",
        ] {
            let err = SiteSecrets::parse(bad).err().unwrap_or_default();
            assert!(!err.is_empty(), "{bad:?} accepted");
            assert!(!err.contains("0123456789"), "{err}");
        }
    }

    #[test]
    fn debug_never_shows_a_secret() -> Result<(), String> {
        let secrets = SiteSecrets::parse("demo=0123456789abcdef")?;
        let shown = format!("{secrets:?}");
        assert!(shown.contains("demo") && !shown.contains("0123"), "{shown}");
        Ok(())
    }
}
