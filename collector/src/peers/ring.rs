//! Who owns a routing key: rendezvous (highest-random-weight) hashing over the peer list.
//!
//! Every peer of the list gets a weight for the key, SHA-256 of the peer's URL and the
//! key, and the key's owner is the live peer of highest weight. Each collector computes
//! this from the same list, with no shared state, and agrees with every other that sees the
//! same peers live. A peer that leaves moves only the keys it owned (each to the next peer
//! of its own order); the other keys keep their owner, so their cached identity stays
//! right. SHA-256 rather than the standard hasher: its value is fixed by its definition, so
//! collectors of different builds agree.

use sha2::{Digest, Sha256};

/// The weight of `peer` for `key`: the first eight bytes of SHA-256 of both.
pub fn weight(peer: &str, key: &str) -> u64 {
    let mut hash = Sha256::new();
    hash.update(peer.as_bytes());
    hash.update([0u8]);
    hash.update(key.as_bytes());
    let digest = hash.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The indexes of `peers` in the order they own `key`: the owner first, then who takes
/// the key when the ones before are down. Ties (never met in practice) go to the lower
/// index.
pub fn order(peers: &[String], key: &str) -> Vec<usize> {
    let mut ranked: Vec<(u64, usize)> = peers
        .iter()
        .enumerate()
        .map(|(i, peer)| (weight(peer, key), i))
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.into_iter().map(|(_, i)| i).collect()
}

/// The owner of `key` among the peers `live` says are up (`None`: none is).
pub fn owner(peers: &[String], key: &str, live: impl Fn(usize) -> bool) -> Option<usize> {
    order(peers, key).into_iter().find(|&i| live(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("http://10.0.0.{i}:8080")).collect()
    }

    fn keys() -> impl Iterator<Item = String> {
        (0..3000).map(|i| format!("demo\nvisitor-{i}"))
    }

    #[test]
    fn the_owner_is_stable_and_does_not_depend_on_the_order_of_the_list() {
        let list = peers(3);
        let mut reversed = list.clone();
        reversed.reverse();
        for key in keys() {
            let a = owner(&list, &key, |_| true).map(|i| &list[i]);
            let b = owner(&reversed, &key, |_| true).map(|i| &reversed[i]);
            assert_eq!(a, b, "{key}");
            assert_eq!(a, owner(&list, &key, |_| true).map(|i| &list[i]));
        }
        // A value fixed by SHA-256, so every build agrees.
        assert_eq!(weight("http://a", "k"), weight("http://a", "k"));
        assert_ne!(weight("http://a", "k"), weight("http://b", "k"));
    }

    #[test]
    fn a_peer_leaving_moves_only_its_own_keys_and_spreads_them_over_the_rest() {
        let list = peers(4);
        let mut moved_to = [0usize; 4];
        for key in keys() {
            let before = owner(&list, &key, |_| true);
            let after = owner(&list, &key, |i| i != 2);
            if before == Some(2) {
                let to = after.unwrap_or(2);
                assert_ne!(to, 2);
                moved_to[to] += 1;
            } else {
                assert_eq!(before, after, "{key} moved though its owner stayed");
            }
        }
        // Peer 2's ~750 keys go to each of the three others, about a third each.
        for (i, n) in moved_to.iter().enumerate() {
            if i != 2 {
                assert!(
                    (150..=350).contains(n),
                    "peer {i} took {n} keys: {moved_to:?}"
                );
            }
        }
    }

    #[test]
    fn keys_spread_evenly_and_no_live_peer_means_no_owner() {
        let list = peers(3);
        let mut owned = [0usize; 3];
        for key in keys() {
            if let Some(i) = owner(&list, &key, |_| true) {
                owned[i] += 1;
            }
        }
        for n in owned {
            assert!((850..=1150).contains(&n), "{owned:?}");
        }
        assert_eq!(owner(&list, "k", |_| false), None);
        let order = order(&list, "k");
        assert_eq!(order.len(), 3);
        assert_eq!(owner(&list, "k", |i| i != order[0]), Some(order[1]));
    }
}
