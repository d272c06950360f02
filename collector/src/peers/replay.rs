//! The nonces of forwards already accepted, so a captured forward sent again is refused.
//!
//! A forward is accepted only within [`WINDOW_MS`] of its signed time (see
//! [`auth`](super::auth)), so a nonce needs remembering only until that window has passed
//! for it: each is kept for twice the window after it was first seen, then forgotten in
//! arrival order. Memory is bounded by the rate of forwards times the window, and capped at
//! [`MAX_NONCES`]: past it a forward is refused (a 503 its sender treats as a failed
//! forward) rather than letting the set grow.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// How far a forward's signed time may be from the receiver's clock, in ms.
pub const WINDOW_MS: i64 = 30_000;

/// Most nonces remembered at once.
pub const MAX_NONCES: usize = 1_000_000;

/// Why a nonce was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Accepted before: a replay.
    Replayed,
    /// The set is full.
    Full,
}

/// The nonces accepted within the last two windows.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    inner: Mutex<Nonces>,
}

#[derive(Debug, Default)]
struct Nonces {
    set: HashSet<[u8; 16]>,
    /// Each nonce with when it was accepted (the receiver's clock, ms), oldest first.
    order: VecDeque<(i64, [u8; 16])>,
}

impl ReplayGuard {
    /// Records `nonce` as accepted at `now_ms`; refuses it if it was accepted before.
    pub fn accept(&self, nonce: [u8; 16], now_ms: i64) -> Result<(), Seen> {
        let mut nonces = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(&(at, old)) = nonces.order.front() {
            if at >= now_ms - 2 * WINDOW_MS {
                break;
            }
            nonces.order.pop_front();
            nonces.set.remove(&old);
        }
        if nonces.set.contains(&nonce) {
            return Err(Seen::Replayed);
        }
        if nonces.set.len() >= MAX_NONCES {
            return Err(Seen::Full);
        }
        nonces.set.insert(nonce);
        nonces.order.push_back((now_ms, nonce));
        Ok(())
    }

    /// Nonces remembered now.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set
            .len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_accepted_once_and_forgotten_after_two_windows() {
        let guard = ReplayGuard::default();
        assert_eq!(guard.accept([1; 16], 1_000_000), Ok(()));
        assert_eq!(guard.accept([2; 16], 1_000_000), Ok(()));
        assert_eq!(guard.accept([1; 16], 1_000_001), Err(Seen::Replayed));
        assert_eq!(
            guard.accept([1; 16], 1_000_000 + 2 * WINDOW_MS),
            Err(Seen::Replayed),
            "still remembered while a forward signed then could be accepted"
        );
        assert_eq!(guard.accept([3; 16], 1_000_001 + 2 * WINDOW_MS), Ok(()));
        assert_eq!(guard.len(), 1, "the two old nonces are forgotten");
    }
}
