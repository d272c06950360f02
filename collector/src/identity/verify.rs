//! Identity verification: proof that the site itself vouches for the user id of an
//! `identify` event, as Intercom's identity verification does it.
//!
//! The site's backend knows the logged-in user and holds the site's identity secret (see
//! [`SiteSecrets`](crate::site_secrets::SiteSecrets)); it computes
//! `hex(HMAC-SHA256(secret, user_id))` and the page passes it to
//! `spoor.identify(userId, {signature})`. A visitor cannot compute it for another user id,
//! so only a verified login may pull a user's history into an export or an erasure
//! ([`erasure`](crate::maintenance::erasure)). The comparison is constant-time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Length of a signature in hex digits (a SHA-256 HMAC).
pub const SIGNATURE_HEX_LEN: usize = 64;

/// What the signature of an `identify` event proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The site signed this user id: the login is verified.
    Verified,
    /// No signature and the site does not require one: an unverified login.
    Unsigned,
    /// Refused, with a stable code for metrics and `failed_events`.
    Refused(Refusal),
}

/// Why an `identify` event's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The signature does not match the user id under the site's secret.
    Mismatch,
    /// The site requires signatures and none was sent.
    Missing,
    /// A signature was sent but the site has no identity secret to check it with.
    NoSecret,
}

impl Refusal {
    /// The code counted in `/metrics` and stored in `failed_events`.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Mismatch => "identify_signature",
            Refusal::Missing => "identify_unsigned",
            Refusal::NoSecret => "identify_no_secret",
        }
    }

    /// What to fix, for the client (the field is named by the caller).
    pub fn reason(self, site: &str) -> String {
        match self {
            Refusal::Mismatch => {
                "does not match the user id: send hex(HMAC-SHA256(site secret, user id))".into()
            }
            Refusal::Missing => format!("required: site {site:?} accepts only signed logins"),
            Refusal::NoSecret => {
                format!("site {site:?} has no identity secret to check a signature with")
            }
        }
    }
}

/// The signature of `user` under `secret`, as lower-case hex: what the site's backend
/// computes.
pub fn sign(secret: &[u8], user: &str) -> String {
    let mut out = String::with_capacity(SIGNATURE_HEX_LEN);
    if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) {
        mac.update(user.as_bytes());
        for b in mac.finalize().into_bytes() {
            out.push_str(&format!("{b:02x}"));
        }
    }
    out
}

/// Judges the `signature` of an `identify(user)` event for a site with `secret` (if any)
/// that `required`s signatures or not.
pub fn check(
    secret: Option<&[u8]>,
    required: bool,
    user: &str,
    signature: Option<&str>,
) -> Verdict {
    match (secret, signature) {
        (None, Some(_)) => Verdict::Refused(Refusal::NoSecret),
        (_, None) if required => Verdict::Refused(Refusal::Missing),
        (_, None) => Verdict::Unsigned,
        (Some(secret), Some(signature)) => {
            let Some(bytes) = decode_hex(signature) else {
                return Verdict::Refused(Refusal::Mismatch);
            };
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
                return Verdict::Refused(Refusal::Mismatch);
            };
            mac.update(user.as_bytes());
            // `verify_slice` compares in constant time.
            match mac.verify_slice(&bytes) {
                Ok(()) => Verdict::Verified,
                Err(_) => Verdict::Refused(Refusal::Mismatch),
            }
        }
    }
}

/// The bytes of a hex string of exactly [`SIGNATURE_HEX_LEN`] digits (either case).
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != SIGNATURE_HEX_LEN {
        return None;
    }
    hex.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |c: u8| (c as char).to_digit(16);
            Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef";

    #[test]
    fn a_signature_matches_the_published_hmac_sha256() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn only_the_signature_of_the_same_user_under_the_same_secret_verifies() {
        let good = sign(SECRET, "alice");
        assert_eq!(
            check(Some(SECRET), false, "alice", Some(&good)),
            Verdict::Verified
        );
        assert_eq!(
            check(Some(SECRET), true, "alice", Some(&good.to_uppercase())),
            Verdict::Verified
        );
        let refused = Verdict::Refused(Refusal::Mismatch);
        assert_eq!(check(Some(SECRET), false, "bob", Some(&good)), refused);
        let other = sign(b"another secret!!", "alice");
        assert_eq!(check(Some(SECRET), false, "alice", Some(&other)), refused);
        for bad in ["", "zz", &good[..62], &format!("{good}00"), &"g".repeat(64)] {
            assert_eq!(
                check(Some(SECRET), false, "alice", Some(bad)),
                refused,
                "{bad}"
            );
        }
    }

    #[test]
    fn without_a_signature_the_site_setting_decides() {
        assert_eq!(check(Some(SECRET), false, "alice", None), Verdict::Unsigned);
        assert_eq!(check(None, false, "alice", None), Verdict::Unsigned);
        assert_eq!(
            check(Some(SECRET), true, "alice", None),
            Verdict::Refused(Refusal::Missing)
        );
        assert_eq!(
            check(None, false, "alice", Some(&sign(SECRET, "alice"))),
            Verdict::Refused(Refusal::NoSecret)
        );
    }

    proptest::proptest! {
        #[test]
        fn checking_never_panics(user in "\\PC{0,40}", signature in "\\PC{0,80}") {
            let _ = check(Some(SECRET), true, &user, Some(&signature));
        }
    }
}
