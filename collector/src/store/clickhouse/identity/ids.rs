//! Link ids and row versions made without a central counter: each collector makes them
//! from its clock and a sequence of its own, so ids of links recorded by different
//! collectors differ, and a row written later by one collector replaces an earlier one.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use super::now_ms;
use crate::store::{StoreError, random_bytes};

/// Link ids count milliseconds from 2025-01-01 UTC.
const LINK_EPOCH_MS: i64 = 1_735_689_600_000;
/// Low bits of a link id: the collector's sequence within a millisecond.
const SEQUENCE_BITS: u32 = 12;
/// Link ids stay below 2^53: they go to JavaScript as numbers (until 2094).
pub(super) const LINK_ID_LIMIT: i64 = 1 << 53;

static LAST_LINK_ID: AtomicI64 = AtomicI64::new(0);
static LAST_VERSION: AtomicU64 = AtomicU64::new(0);
/// Where this collector's sequence starts in each millisecond (random, so two collectors
/// recording a link in the same millisecond do not pick the same id but by a 1 in 4096
/// chance per pair of links).
static OFFSET: OnceLock<i64> = OnceLock::new();

fn offset() -> Result<i64, StoreError> {
    if let Some(o) = OFFSET.get() {
        return Ok(*o);
    }
    let r = random_bytes::<2>()?;
    let o = i64::from(u16::from_le_bytes(r)) & ((1 << SEQUENCE_BITS) - 1);
    Ok(*OFFSET.get_or_init(|| o))
}

/// A new link id: the milliseconds since 2025 shifted past a 12-bit sequence, larger
/// than every id this process made before (so links recorded later by one collector get
/// larger ids: persons replay links in id order), below [`LINK_ID_LIMIT`].
pub(super) fn next_link_id() -> Result<i64, StoreError> {
    let base = ((now_ms() - LINK_EPOCH_MS).max(0) << SEQUENCE_BITS) | offset()?;
    let mut last = LAST_LINK_ID.load(Ordering::Relaxed);
    loop {
        let id = base.max(last + 1);
        if id >= LINK_ID_LIMIT {
            return Err(super::backend("link ids exhausted (year 2094)".into()));
        }
        match LAST_LINK_ID.compare_exchange(last, id, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return Ok(id),
            Err(seen) => last = seen,
        }
    }
}

/// A row version larger than every one this process made before: microseconds by the
/// clock, bumped past the last.
pub(super) fn next_version() -> u64 {
    let now = u64::try_from(now_ms().max(0)).unwrap_or(0) * 1000;
    let mut last = LAST_VERSION.load(Ordering::Relaxed);
    loop {
        let v = now.max(last + 1);
        match LAST_VERSION.compare_exchange(last, v, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return v,
            Err(seen) => last = seen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_ids_grow_and_stay_below_two_to_the_53() -> Result<(), StoreError> {
        let ids: Vec<i64> = (0..10_000)
            .map(|_| next_link_id())
            .collect::<Result<_, _>>()?;
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert!(ids.iter().all(|&i| i > 0 && i < LINK_ID_LIMIT));
        // Time leads: an id made now is above one made from a second ago's clock.
        let second_ago = ((now_ms() - 1000 - LINK_EPOCH_MS) << SEQUENCE_BITS) + 4095;
        assert!(ids[0] > second_ago);
        let v: Vec<u64> = (0..1000).map(|_| next_version()).collect();
        assert!(v.windows(2).all(|w| w[0] < w[1]));
        Ok(())
    }
}
