//! The admin token: the secret that opens `/api/*` and `/metrics` as
//! `Authorization: Bearer <token>`, and which of them the gate accepts ([`Credentials`]).
//!
//! A token comes from the operator (`SPOOR_ADMIN_TOKEN` or `--admin-token-file`), or the
//! collector makes one on its first start when none is configured: it prints the token
//! once and keeps only its SHA-256 in the store ([`STORED_HASH`]), so a stolen database
//! does not hand out the token. A plain hash is enough: the token is 256 random bits, not a
//! password a dictionary could find. [`reset`] replaces the stored one (and signs every
//! dashboard session out) for `spoor-collector admin-token --reset`.
//!
//! Tokens are compared in constant time through their digests (so their length does not
//! leak either); `Debug` is redacted so a token never reaches a log.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use super::session::SESSION_KEY_SECRET;
use crate::store::{IdentityState, StoreError, random_bytes};

/// Name of the store entry holding the SHA-256 of the generated admin token.
pub const STORED_HASH: &str = "admin-token-sha256";

/// The secret that grants reading and erasing reports.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// A new random token: 32 bytes from the operating system, as 64 hex digits.
    pub fn generate() -> Result<AdminToken, StoreError> {
        Ok(AdminToken(hex(&random_bytes::<32>()?)))
    }

    /// Whether `candidate` is this token, in time independent of where they differ.
    pub fn matches(&self, candidate: &str) -> bool {
        same_digest(&self.digest(), candidate)
    }

    /// The token's SHA-256, as stored.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    /// The token itself, to show the operator once. Never log it.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

/// Whether the SHA-256 of `candidate` is `digest`, compared in constant time.
fn same_digest(digest: &[u8; 32], candidate: &str) -> bool {
    let got = Sha256::digest(candidate.as_bytes());
    digest
        .iter()
        .zip(got.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

impl FromStr for AdminToken {
    type Err = String;

    /// A token is at least 16 visible ASCII characters (what fits a header unchanged);
    /// surrounding white space (a file's final newline) is dropped.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err("is blank: give a token of at least 16 characters, or leave it unset for a generated one".into());
        }
        if s.len() < 16 {
            return Err("must be at least 16 characters".into());
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("must be visible ASCII characters without spaces".into());
        }
        Ok(AdminToken(s.to_string()))
    }
}

/// The bearer tokens the gate accepts: the configured one and the generated one whose
/// hash is in the store (either may be absent, not both once the collector started).
#[derive(Clone, Default)]
pub struct Credentials {
    configured: Option<AdminToken>,
    stored: Option<[u8; 32]>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("configured", &self.configured.is_some())
            .field("stored", &self.stored.is_some())
            .finish()
    }
}

impl Credentials {
    /// Reads the stored hash; when no token is configured and none is stored yet, makes a
    /// token, stores its hash and returns it (the one time it can be shown).
    pub async fn open(
        store: &dyn IdentityState,
        configured: Option<AdminToken>,
    ) -> Result<(Credentials, Option<AdminToken>), StoreError> {
        let stored = store
            .credential(STORED_HASH)
            .await?
            .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok());
        if configured.is_some() || stored.is_some() {
            return Ok((Credentials { configured, stored }, None));
        }
        let created = AdminToken::generate()?;
        store
            .set_credential(STORED_HASH, Some(&created.digest()))
            .await?;
        let credentials = Credentials {
            configured: None,
            stored: Some(created.digest()),
        };
        Ok((credentials, Some(created)))
    }

    /// Whether `candidate` is one of the accepted tokens.
    pub fn accepts(&self, candidate: &str) -> bool {
        // Both are compared, so the time taken does not tell which one exists.
        let configured = self
            .configured
            .as_ref()
            .is_some_and(|t| t.matches(candidate));
        let stored = self
            .stored
            .as_ref()
            .is_some_and(|d| same_digest(d, candidate));
        configured | stored
    }
}

/// Replaces the stored token with a new one and revokes every dashboard session (their
/// signing key is deleted, so a new one is made at the next start). Returns the new token
/// to show once. The running collector keeps the old credentials until restarted.
pub async fn reset(store: &dyn IdentityState) -> Result<AdminToken, StoreError> {
    let token = AdminToken::generate()?;
    store
        .set_credential(STORED_HASH, Some(&token.digest()))
        .await?;
    store.set_credential(SESSION_KEY_SECRET, None).await?;
    Ok(token)
}

/// `bytes` as lowercase hex digits.
pub(super) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    #[test]
    fn a_token_matches_only_itself() {
        let t: AdminToken = "0123456789abcdef-secret".parse().unwrap();
        assert!(t.matches("0123456789abcdef-secret"));
        assert!(!t.matches("0123456789abcdef-secreT"));
        assert!(!t.matches("0123456789abcdef-secret2"));
        assert!(!t.matches(""));
    }

    #[test]
    fn short_blank_or_spaced_tokens_are_refused_and_debug_hides_the_token() {
        assert!("short".parse::<AdminToken>().is_err());
        assert!("   ".parse::<AdminToken>().unwrap_err().contains("blank"));
        assert!("0123456789 abcdef".parse::<AdminToken>().is_err());
        let t: AdminToken = "  0123456789abcdef  ".parse().unwrap();
        assert!(t.matches("0123456789abcdef"));
        assert!(!format!("{t:?}").contains("0123"));
    }

    #[tokio::test]
    async fn the_first_start_makes_a_token_and_stores_only_its_hash() {
        let store = SqliteStore::open_in_memory().unwrap();
        let (credentials, created) = Credentials::open(&store, None).await.unwrap();
        let token = created.expect("a token is made when none is configured");
        assert_eq!(token.reveal().len(), 64);
        assert!(credentials.accepts(token.reveal()));
        let stored = store.credential(STORED_HASH).unwrap().unwrap();
        assert_eq!(stored, token.digest());
        assert!(!String::from_utf8_lossy(&stored).contains(token.reveal()));
        // The next start finds it and shows nothing.
        let (again, none) = Credentials::open(&store, None).await.unwrap();
        assert!(none.is_none());
        assert!(again.accepts(token.reveal()));
        assert!(!again.accepts("0123456789abcdef0123"));
    }

    #[tokio::test]
    async fn a_configured_token_makes_none_and_reset_replaces_the_stored_one() {
        let store = SqliteStore::open_in_memory().unwrap();
        let configured: AdminToken = "configured-token-0123456789".parse().unwrap();
        let (credentials, created) = Credentials::open(&store, Some(configured.clone()))
            .await
            .unwrap();
        assert!(created.is_none());
        assert!(credentials.accepts(configured.reveal()));
        assert_eq!(store.credential(STORED_HASH).unwrap(), None);

        let (_, first) = Credentials::open(&store, None).await.unwrap();
        let first = first.unwrap();
        let session_key = store.secret(SESSION_KEY_SECRET).unwrap();
        let second = reset(&store).await.unwrap();
        let (after, _) = Credentials::open(&store, None).await.unwrap();
        assert!(after.accepts(second.reveal()));
        assert!(
            !after.accepts(first.reveal()),
            "the old token no longer works"
        );
        assert_ne!(store.secret(SESSION_KEY_SECRET).unwrap(), session_key);
    }
}
