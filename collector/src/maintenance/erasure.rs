//! Erasure and access: everything the store holds about one visitor, one person or one
//! site user id, exported as JSON or deleted — through the API (`GET /api/export`,
//! `DELETE /api/erase`, see [`routes::privacy`](crate::http::routes::privacy)) and through the
//! binary's `export` and `erase` subcommands ([`cli`](super::cli)).
//!
//! What "everything" is: the events counted for the subject's visitor ids or carrying one
//! of them as the beacon's id, their server sessions, every identity link touching one of
//! its ids (active or not), and the fingerprint observations of its visitors. Salts and the
//! cookie key are not about anyone and stay.

use serde::Serialize;

/// Whose data: the subject of an export or an erasure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// One visitor id, alone (links touching it are included, the visitors at their other
    /// end are not).
    Visitor(String),
    /// The person a visitor id belongs to: every visitor and user id joined to it by active
    /// links (the inclusive reading, see [`graph`](crate::identity::graph)).
    Person(String),
    /// A site user id (from `identify`): every visitor whose login as it the site signed
    /// (a verified login), and the visitors joined to those by links the collector itself
    /// established (its server cookie with a new client id). Unsigned logins and network
    /// inferences are not followed: anyone can claim a user id, and an export must not hand
    /// a claimant's or a stranger's events over as the user's.
    User(String),
}

impl Subject {
    /// The subject named by exactly one of the three query parameters or flags.
    pub fn from_parts(
        visitor: Option<String>,
        person: Option<String>,
        user: Option<String>,
    ) -> Result<Subject, String> {
        let given = |v: Option<String>| v.filter(|s| !s.is_empty());
        match (given(visitor), given(person), given(user)) {
            (Some(v), None, None) => Ok(Subject::Visitor(v)),
            (None, Some(p), None) => Ok(Subject::Person(p)),
            (None, None, Some(u)) => Ok(Subject::User(u)),
            _ => Err("give exactly one of visitor, person or user".into()),
        }
    }
}

/// Everything stored about a subject, as rows of each table (column name to value).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubjectExport {
    /// The site.
    pub site: String,
    /// The visitor ids the subject covers, sorted.
    pub visitors: Vec<String>,
    /// The site user ids the subject covers, sorted.
    pub users: Vec<String>,
    /// The evidence followed from the subject to its ids, sorted: link kinds
    /// (`client-id`, `server-cookie`, `login`, `fingerprint`, `recovery`) and
    /// `verified-login`, a login the site signed. Empty for a visitor alone.
    pub evidence: Vec<String>,
    /// Rows of `events`, oldest first.
    pub events: Vec<serde_json::Map<String, serde_json::Value>>,
    /// Rows of `sessions`, oldest first.
    pub sessions: Vec<serde_json::Map<String, serde_json::Value>>,
    /// Rows of `links` touching the subject's ids.
    pub links: Vec<serde_json::Map<String, serde_json::Value>>,
    /// Rows of `fingerprint_seen` for the subject's visitors.
    pub fingerprint_observations: Vec<serde_json::Map<String, serde_json::Value>>,
    /// Rows of `failed_events` whose raw event names one of the subject's ids.
    pub failed_events: Vec<serde_json::Map<String, serde_json::Value>>,
}

impl SubjectExport {
    /// True when the store holds nothing about the subject.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.sessions.is_empty()
            && self.links.is_empty()
            && self.fingerprint_observations.is_empty()
            && self.failed_events.is_empty()
    }
}

/// What an erasure deleted: row counts per table, and the evidence followed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Erased {
    /// Rows of `events`.
    pub events: usize,
    /// Rows of `sessions`.
    pub sessions: usize,
    /// Rows of `links`.
    pub links: usize,
    /// Rows of `fingerprint_seen`.
    pub fingerprint_observations: usize,
    /// Rows of `failed_events` whose raw event names one of the subject's ids.
    pub failed_events: usize,
    /// Rows of `visitor_persons` and `person_stretches` (the report's visitor → person
    /// mapping) of the subject's visitors; the persons of visitors that were linked to them
    /// are recomputed.
    pub person_mappings: usize,
    /// The evidence followed from the subject to its ids (as in [`SubjectExport`]).
    pub evidence: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_is_exactly_one_of_three() {
        let s = |v: Option<&str>, p: Option<&str>, u: Option<&str>| {
            Subject::from_parts(v.map(Into::into), p.map(Into::into), u.map(Into::into))
        };
        assert_eq!(s(Some("v"), None, None), Ok(Subject::Visitor("v".into())));
        assert_eq!(
            s(None, Some("v"), Some("")),
            Ok(Subject::Person("v".into()))
        );
        assert_eq!(s(None, None, Some("u")), Ok(Subject::User("u".into())));
        assert!(s(None, None, None).is_err());
        assert!(s(Some("v"), None, Some("u")).is_err());
    }
}
