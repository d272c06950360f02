//! A bounded map for the writer's hot state: keys hashed to 128 bits, idle entries evicted
//! in two generations.
//!
//! Entries live in a young and an old generation. A lookup that finds an entry in the old
//! one moves it to the young one; when the young one holds half the capacity, the old one
//! is dropped whole and the young one becomes old. So an entry survives as long as it is
//! used at least once per half-capacity of inserts (an approximate LRU), the map never
//! holds more than `capacity` entries, and every operation is O(1) without a linked list.
//!
//! Keys are the 128-bit hash of their parts under two random SipHash keys of the process
//! (see [`Keys`]): a visitor costs 16 bytes of key whatever its id's length, and a
//! collision (two keys with the same hash) needs about 2^64 live keys.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};

/// A hashed key; see the module docs.
pub(super) type Key = u128;

/// Hashes key parts to a [`Key`]; one per cache, random per process.
#[derive(Clone)]
pub(super) struct Keys {
    a: RandomState,
    b: RandomState,
}

impl Keys {
    pub(super) fn new() -> Keys {
        Keys {
            a: RandomState::new(),
            b: RandomState::new(),
        }
    }

    /// The key of `parts` under `kind` (so equal parts of two kinds differ); each string
    /// part is written with its length, so `("ab", "c")` and `("a", "bc")` differ.
    pub(super) fn of(&self, kind: u8, parts: &[&str], number: i64) -> Key {
        let (mut x, mut y) = (self.a.build_hasher(), self.b.build_hasher());
        for h in [&mut x, &mut y] {
            h.write_u8(kind);
            for p in parts {
                h.write_usize(p.len());
                h.write(p.as_bytes());
            }
            h.write_i64(number);
        }
        (u128::from(x.finish()) << 64) | u128::from(y.finish())
    }
}

/// A map of at most `capacity` entries; see the module docs.
pub(super) struct Bounded<V> {
    young: HashMap<Key, V>,
    old: HashMap<Key, V>,
    capacity: usize,
}

impl<V> Bounded<V> {
    pub(super) fn new(capacity: usize) -> Bounded<V> {
        Bounded {
            young: HashMap::new(),
            old: HashMap::new(),
            capacity: capacity.max(2),
        }
    }

    /// The entry of `key`, made young again.
    pub(super) fn get(&mut self, key: Key) -> Option<&V> {
        if !self.young.contains_key(&key) {
            let v = self.old.remove(&key)?;
            self.insert(key, v);
        }
        self.young.get(&key)
    }

    pub(super) fn insert(&mut self, key: Key, value: V) {
        self.old.remove(&key);
        if self.young.len() >= self.capacity / 2 && !self.young.contains_key(&key) {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(key, value);
    }

    pub(super) fn remove(&mut self, key: Key) {
        self.young.remove(&key);
        self.old.remove(&key);
    }

    pub(super) fn clear(&mut self) {
        self.young = HashMap::new();
        self.old = HashMap::new();
    }

    /// Entries held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    /// Bytes the two tables take, by the layout of std's `HashMap` (hashbrown): per slot
    /// of capacity one `(Key, V)` and one control byte. The keys are fixed-size, so this is
    /// all an entry costs unless `V` owns heap data.
    #[cfg(test)]
    pub(super) fn table_bytes(&self) -> usize {
        let slot = std::mem::size_of::<(Key, V)>() + 1;
        let slots = |m: &HashMap<Key, V>| {
            // hashbrown keeps buckets a power of two at most 7/8 full.
            let c = m.capacity();
            if c == 0 {
                0
            } else {
                (c * 8 / 7).next_power_of_two()
            }
        };
        (slots(&self.young) + slots(&self.old)) * slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_at_most_its_capacity_and_keeps_what_is_used() {
        let keys = Keys::new();
        let mut map = Bounded::new(100);
        let hot = keys.of(0, &["site", "hot"], 0);
        map.insert(hot, 1u32);
        for i in 0..10_000 {
            map.insert(keys.of(0, &["site", &i.to_string()], 0), 0);
            assert!(map.len() <= 100);
            // Used at least once per 50 inserts: never evicted.
            if i % 40 == 0 {
                assert_eq!(map.get(hot), Some(&1), "evicted after {i}");
            }
        }
        let cold = keys.of(0, &["site", "0"], 0);
        assert_eq!(map.get(cold), None, "an idle entry is evicted");
    }

    #[test]
    fn keys_tell_their_parts_apart() {
        let keys = Keys::new();
        assert_ne!(keys.of(0, &["ab", "c"], 0), keys.of(0, &["a", "bc"], 0));
        assert_ne!(keys.of(0, &["a"], 0), keys.of(1, &["a"], 0));
        assert_ne!(keys.of(0, &["a"], 1), keys.of(0, &["a"], 2));
        assert_eq!(keys.of(0, &["a"], 1), keys.of(0, &["a"], 1));
    }
}
