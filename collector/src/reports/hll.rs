//! Unique counts from sketches: a HyperLogLog of 2048 one-byte registers (standard error
//! about 2.3 %), stored as a blob in the rollups and merged by taking each register's
//! maximum, so a month of hourly sketches merges into one.
//!
//! Small sets stay exact: up to [`SPARSE_MAX`] distinct values the sketch is the sorted
//! list of their 64-bit hashes (8 bytes each), and only past that becomes registers. A
//! small site's counts (and the tests') are therefore exact, barring a 64-bit collision.

use std::collections::BTreeSet;

/// log2 of the number of registers.
const P: u32 = 11;
/// Number of registers.
pub const REGISTERS: usize = 1 << P;
/// Most hashes kept exactly before switching to registers (255 × 8 bytes < 2048).
pub const SPARSE_MAX: usize = 255;

/// A HyperLogLog sketch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hll {
    /// The exact hashes of a small set.
    Sparse(BTreeSet<u64>),
    /// The registers.
    Dense(Vec<u8>),
}

impl Default for Hll {
    fn default() -> Self {
        Hll::new()
    }
}

impl Hll {
    /// An empty sketch.
    pub fn new() -> Hll {
        Hll::Sparse(BTreeSet::new())
    }

    /// The sketch stored as `bytes` (registers if 2048 long, else hashes); an empty one
    /// if they are neither.
    pub fn from_bytes(bytes: &[u8]) -> Hll {
        if bytes.len() == REGISTERS {
            return Hll::Dense(bytes.to_vec());
        }
        if bytes.len() % 8 != 0 {
            return Hll::new();
        }
        Hll::Sparse(
            bytes
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
        )
    }

    /// The bytes to store.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Hll::Dense(r) => r.clone(),
            Hll::Sparse(set) => set.iter().flat_map(|h| h.to_le_bytes()).collect(),
        }
    }

    /// Adds `value`.
    pub fn add(&mut self, value: &str) {
        self.add_hash(hash(value.as_bytes()));
    }

    fn add_hash(&mut self, h: u64) {
        match self {
            Hll::Sparse(set) => {
                set.insert(h);
                if set.len() > SPARSE_MAX {
                    let hashes = std::mem::take(set);
                    let mut dense = vec![0; REGISTERS];
                    for h in hashes {
                        set_register(&mut dense, h);
                    }
                    *self = Hll::Dense(dense);
                }
            }
            Hll::Dense(r) => set_register(r, h),
        }
    }

    /// Takes in every value of `other`.
    pub fn merge(&mut self, other: &Hll) {
        match other {
            Hll::Sparse(set) => {
                for h in set {
                    self.add_hash(*h);
                }
            }
            Hll::Dense(theirs) => {
                if let Hll::Sparse(set) = self {
                    let mut dense = theirs.clone();
                    for h in set.iter() {
                        set_register(&mut dense, *h);
                    }
                    *self = Hll::Dense(dense);
                } else if let Hll::Dense(mine) = self {
                    for (a, b) in mine.iter_mut().zip(theirs) {
                        *a = (*a).max(*b);
                    }
                }
            }
        }
    }

    /// The estimated number of distinct values added (exact while sparse).
    pub fn estimate(&self) -> u64 {
        let registers = match self {
            Hll::Sparse(set) => return set.len() as u64,
            Hll::Dense(r) => r,
        };
        let m = REGISTERS as f64;
        let zeros = registers.iter().filter(|r| **r == 0).count();
        let sum: f64 = registers.iter().map(|r| 2f64.powi(-i32::from(*r))).sum();
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let raw = alpha * m * m / sum;
        let estimate = if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        estimate.round().max(0.0) as u64
    }
}

fn set_register(registers: &mut [u8], h: u64) {
    let index = (h >> (64 - P)) as usize;
    let rank = ((h << P).leading_zeros() + 1).min(64 - P + 1) as u8;
    if let Some(r) = registers.get_mut(index) {
        *r = (*r).max(rank);
    }
}

/// FNV-1a, then the SplitMix64 finaliser to spread the bits (stable across Rust
/// versions, unlike the standard library's hasher, since sketches are stored).
fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_counts_are_exact_and_duplicates_count_once() {
        let mut h = Hll::new();
        assert_eq!(h.estimate(), 0);
        for i in 0..200 {
            h.add(&format!("visitor-{i}"));
            h.add(&format!("visitor-{i}"));
        }
        assert_eq!(h.estimate(), 200);
        let mut other = Hll::new();
        for i in 150..250 {
            other.add(&format!("visitor-{i}"));
        }
        h.merge(&other);
        assert_eq!(h.estimate(), 250);
    }

    #[test]
    fn large_counts_are_within_a_few_percent_and_merging_is_a_union() {
        let (mut a, mut b) = (Hll::new(), Hll::new());
        for i in 0..60_000 {
            a.add(&format!("v{i}"));
        }
        for i in 40_000..100_000 {
            b.add(&format!("v{i}"));
        }
        let error = |h: &Hll, n: f64| (h.estimate() as f64 - n).abs() / n;
        assert!(error(&a, 60_000.0) < 0.07, "{}", a.estimate());
        a.merge(&b);
        assert!(error(&a, 100_000.0) < 0.07, "{}", a.estimate());
        let stored = Hll::from_bytes(&a.to_bytes());
        assert_eq!(stored, a);
        let mut small = Hll::new();
        small.add("x");
        assert_eq!(Hll::from_bytes(&small.to_bytes()), small);
        assert_eq!(Hll::from_bytes(b"short"), Hll::new());
    }
}
