//! The privacy switches: whether the beacon runs at all, and whether it may store.
//!
//! - `data-respect-dnt`: a browser sending Do Not Track (`navigator.doNotTrack == "1"`)
//!   or Global Privacy Control (`navigator.globalPrivacyControl === true`) is neither
//!   stored nor counted. The loader reads both signals and passes one flag.
//! - `spoor.optOut()`: a flag in localStorage (`spoor_opt_out`) that stops everything
//!   until `spoor.optIn()`.
//! - `data-consent="required"`: until `spoor.consent(true)` nothing is written (no
//!   cookie, no storage) and events carry no visitor or session id; they are sent with
//!   `fetch(…, {credentials: "omit"})` so the browser keeps no cookie from the collector
//!   either. The consent is remembered in localStorage (`spoor_consent`).
//!   `spoor.consent(false)` removes everything Spoor stored.

/// localStorage key of the opt-out flag.
pub const OPT_OUT_KEY: &str = "spoor_opt_out";
/// localStorage key of a remembered consent.
pub const CONSENT_KEY: &str = "spoor_consent";

/// The visitor's answer to the consent question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    /// No answer yet (or remembered none).
    Unknown,
    /// `consent(true)`, now or on an earlier visit.
    Granted,
    /// `consent(false)` on this page.
    Denied,
}

/// Whether the beacon counts this visitor at all.
pub fn tracking_allowed(respect_dnt: bool, dnt_signal: bool, opted_out: bool) -> bool {
    !(opted_out || respect_dnt && dnt_signal)
}

/// Whether the beacon may write cookies and storage and send ids (and so use sendBeacon,
/// which always carries and stores cookies).
pub fn storage_allowed(consent_required: bool, consent: Consent) -> bool {
    match consent {
        Consent::Granted => true,
        Consent::Denied => false,
        Consent::Unknown => !consent_required,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dnt_counts_only_when_the_site_asks() {
        assert!(tracking_allowed(false, true, false));
        assert!(!tracking_allowed(true, true, false));
        assert!(tracking_allowed(true, false, false));
        assert!(!tracking_allowed(false, false, true), "opt-out always wins");
    }

    #[test]
    fn consent_gates_storage_only_when_required() {
        assert!(storage_allowed(false, Consent::Unknown));
        assert!(!storage_allowed(true, Consent::Unknown));
        assert!(storage_allowed(true, Consent::Granted));
        assert!(!storage_allowed(false, Consent::Denied));
    }
}
