//! The session id: one random id per run of visits in a tab, ended by 30 minutes without
//! activity.
//!
//! It lives in sessionStorage under `spoor_session` as `<id>:<last activity ms>`, so it is
//! per tab and dies with it. Each event [`resolve`]s it: an absent, unreadable or expired
//! entry gives a new id; either way the activity time is renewed. The collector keeps its
//! own sessionization; this id is the browser's view, sent along as evidence.

use crate::id::{is_valid, split_once_byte};
use crate::json::{parse_decimal, push_decimal};
use crate::storage::{BrowserStorage, KeyValue};

/// sessionStorage key of the session entry.
pub const KEY: &str = "spoor_session";

/// Inactivity after which the next event starts a new session (30 minutes).
pub const IDLE_LIMIT_MS: u64 = 30 * 60 * 1000;

/// Whether a session last active at `last_ms` has ended by `now_ms`. A clock that went
/// backwards (`now_ms < last_ms`) keeps the session.
pub fn is_expired(last_ms: u64, now_ms: u64) -> bool {
    now_ms.saturating_sub(last_ms) >= IDLE_LIMIT_MS
}

/// Splits a stored entry into its id and last-activity time; `None` if malformed.
pub fn parse(entry: &str) -> Option<(&str, u64)> {
    let (id, last_ms) = split_once_byte(entry, b':')?;
    let last_ms = parse_decimal(last_ms)?;
    is_valid(id).then_some((id, last_ms))
}

/// The stored form of a session: `<id>:<last_ms>`.
pub fn encode(id: &str, last_ms: u64) -> String {
    let mut entry = String::with_capacity(id.len() + 21);
    entry.push_str(id);
    entry.push(':');
    push_decimal(&mut entry, last_ms);
    entry
}

/// The session id at `now_ms`: the stored one if still active, else `create()`. Records
/// `now_ms` as the last activity.
pub fn resolve(storage: &impl KeyValue, now_ms: u64, create: impl FnOnce() -> String) -> String {
    touch(storage, now_ms, create).0
}

/// [`resolve`], also telling whether the session is new (the referrer is sent only on a
/// session's first page).
pub fn touch(
    storage: &impl KeyValue,
    now_ms: u64,
    create: impl FnOnce() -> String,
) -> (String, bool) {
    let stored = storage.get(KEY);
    let (id, new) = match stored.as_deref().and_then(parse) {
        Some((id, last_ms)) if !is_expired(last_ms, now_ms) => (id.to_owned(), false),
        _ => (create(), true),
    };
    storage.set(KEY, &encode(&id, now_ms));
    (id, new)
}

/// This tab's session at `now_ms`, and whether it is new (see [`touch`]).
pub fn current(now_ms: u64) -> (String, bool) {
    touch(&BrowserStorage::session(), now_ms, crate::uuid::new_v7)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    const T0: u64 = 1_780_000_000_000;

    #[test]
    fn encode_and_parse_round_trip() {
        for ms in [0, 7, 10, 1_780_000_000_000, u64::MAX] {
            let entry = encode("s-1", ms);
            assert_eq!(entry, ["s-1", &ms.to_string()].join(":"));
            assert_eq!(parse(&entry), Some(("s-1", ms)));
        }
    }

    #[test]
    fn malformed_entries_do_not_parse() {
        for entry in [
            "", "abc", "abc:", ":5", "abc:-5", "abc:5x", "a b:5", "abc:1e3",
        ] {
            assert_eq!(parse(entry), None, "{entry:?}");
        }
    }

    #[test]
    fn thirty_idle_minutes_end_a_session() {
        assert!(!is_expired(T0, T0));
        assert!(!is_expired(T0, T0 + IDLE_LIMIT_MS - 1));
        assert!(is_expired(T0, T0 + IDLE_LIMIT_MS));
        assert!(!is_expired(T0, T0 - 5_000), "clock went backwards");
    }

    #[test]
    fn a_session_is_created_then_kept_while_active() {
        let storage = MemoryStorage::default();
        assert_eq!(resolve(&storage, T0, || "s-1".into()), "s-1");
        assert_eq!(storage.get(KEY), Some(encode("s-1", T0)));
        // Each event renews the activity time, so a long but busy session goes on.
        let later = T0 + IDLE_LIMIT_MS - 1;
        assert_eq!(resolve(&storage, later, || "s-2".into()), "s-1");
        let later = later + IDLE_LIMIT_MS - 1;
        assert_eq!(resolve(&storage, later, || "s-2".into()), "s-1");
        assert_eq!(storage.get(KEY), Some(encode("s-1", later)));
    }

    #[test]
    fn touch_tells_a_new_session() {
        let storage = MemoryStorage::default();
        assert_eq!(touch(&storage, T0, || "s-1".into()), ("s-1".into(), true));
        assert_eq!(
            touch(&storage, T0 + 1, || "s-2".into()),
            ("s-1".into(), false)
        );
    }

    #[test]
    fn an_expired_or_broken_session_is_replaced() {
        let storage = MemoryStorage::with(KEY, &encode("s-1", T0));
        assert_eq!(
            resolve(&storage, T0 + IDLE_LIMIT_MS, || "s-2".into()),
            "s-2"
        );
        assert_eq!(storage.get(KEY), Some(encode("s-2", T0 + IDLE_LIMIT_MS)));
        let storage = MemoryStorage::with(KEY, "garbage");
        assert_eq!(resolve(&storage, T0, || "s-3".into()), "s-3");
    }
}
