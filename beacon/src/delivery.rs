//! Delivery policy: what a response means, and when to try again.
//!
//! # Why fetch while the page lives, sendBeacon when it hides
//!
//! `navigator.sendBeacon` survives the page but reports nothing: `true` only means the
//! browser queued the request. An event handed to it might still be lost if the collector
//! is down. So every event goes into the [`crate::queue`] (mirrored to localStorage) the
//! moment it is made, and leaves it only when a response confirms it:
//!
//! - while the page is alive, the loader sends the oldest batch with `fetch` and reports
//!   the status back ([`outcome`]): 2xx removes the batch, 4xx other than 429 drops it (it
//!   would be refused again), anything else (network error, 429, 5xx) keeps it and backs
//!   off ([`backoff_ms`]);
//! - when the page hides (`visibilitychange`→hidden, `pagehide`), the loader hands the
//!   whole queue to sendBeacon (fetch with `keepalive` when sendBeacon refuses) and the
//!   entries stay queued; the next page load, an `online` event or the retry timer sends
//!   them again with fetch. The collector stores an event id once, so the repeat is
//!   harmless, and an outage loses nothing.
//!
//! Before consent (`data-consent="required"`) nothing may be stored and sendBeacon would
//! store the collector's cookie, so batches go by `fetch` with `credentials: "omit"` only,
//! and the queue lives in memory.

/// First retry delay, before jitter.
pub const BASE_MS: u64 = 1_000;
/// Longest retry delay.
pub const MAX_MS: u64 = 5 * 60 * 1_000;

/// What to do with a batch after the collector answered `status` (0: no answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored: remove it from the queue.
    Delivered,
    /// Refused for good (4xx other than 429): drop it, retrying cannot help.
    Refused,
    /// Not stored (network error, 429, 5xx): keep it and retry later.
    Retry,
}

/// The outcome of an HTTP status.
pub fn outcome(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        429 => Outcome::Retry,
        400..=499 => Outcome::Refused,
        _ => Outcome::Retry,
    }
}

/// Delay before retry number `failures` (1 for the first), with "equal jitter":
/// uniformly between half and all of `BASE_MS * 2^(failures-1)`, capped at `MAX_MS`.
/// `random` is in `[0, 1)` (`Math.random()`), so clients that failed together spread out.
pub fn backoff_ms(failures: u32, random: f64) -> u64 {
    let exp = failures.saturating_sub(1).min(20);
    let delay = (BASE_MS << exp).min(MAX_MS);
    let half = delay / 2;
    half + (half as f64 * random.clamp(0.0, 1.0)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_decide_retry() {
        assert_eq!(outcome(204), Outcome::Delivered);
        assert_eq!(outcome(200), Outcome::Delivered);
        assert_eq!(outcome(400), Outcome::Refused);
        assert_eq!(outcome(413), Outcome::Refused);
        assert_eq!(outcome(429), Outcome::Retry);
        assert_eq!(outcome(503), Outcome::Retry);
        assert_eq!(outcome(500), Outcome::Retry);
        assert_eq!(outcome(0), Outcome::Retry, "network error");
    }

    #[test]
    fn backoff_doubles_within_jitter_bounds() {
        for failures in 1..30 {
            let delay = (BASE_MS << (failures - 1).min(20)).min(MAX_MS);
            let low = backoff_ms(failures, 0.0);
            let high = backoff_ms(failures, 0.999_999);
            assert_eq!(low, delay / 2);
            assert!(high <= delay && high >= low, "{failures}: {low}..{high}");
        }
        assert_eq!(backoff_ms(1, 0.0), 500);
        assert!(backoff_ms(1, 0.99) < 1_000);
        assert_eq!(backoff_ms(40, 0.0), MAX_MS / 2);
    }
}
