//! Which peers are up, as this collector sees them, and the epoch of that view.
//!
//! A peer is up until a forward to it fails to connect or times out; it is then down until
//! a probe (`GET /healthz`, every [`PROBE_EVERY`]) answers 200. This collector is always up
//! for itself. Every change moves the epoch, which the ingest writer reads as part of the
//! store's identity epoch ([`epoch`](super::epoch)): the keys that moved may have been
//! written by another collector meanwhile, so the writer's caches are dropped.
//!
//! A collector's own view is not enough: one that others could not reach (while it still
//! served its load balancer) saw nothing change, yet its keys were written elsewhere. So
//! each forward carries its sender's count of changes ([`Liveness::changes`]), and a
//! receiver that finds a sender's count moved since its last forward moves its own epoch
//! too ([`Liveness::observe`]). Only a collector's own changes are sent, never what it
//! observed, so two collectors do not echo each other's moves.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::metrics::PeerMetrics;

/// How often down peers are probed.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);

/// The probe task of [`Peers::start_probing`](super::Peers::start_probing); aborted when
/// dropped.
pub struct Probe(pub tokio::task::JoinHandle<()>);

impl Drop for Probe {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The up/down state of every peer.
#[derive(Debug)]
pub struct Liveness {
    down: Vec<AtomicBool>,
    me: usize,
    /// Changes of this collector's own view.
    changes: AtomicU64,
    /// Each peer's count of changes, as its last forward here said.
    reported: Vec<AtomicU64>,
    /// Own changes and reported ones.
    epoch: AtomicU64,
}

impl Liveness {
    /// `count` peers, all up, of which this collector is `me`.
    pub fn new(count: usize, me: usize) -> Liveness {
        Liveness {
            down: (0..count).map(|_| AtomicBool::new(false)).collect(),
            me,
            changes: AtomicU64::new(0),
            reported: (0..count).map(|_| AtomicU64::new(0)).collect(),
            epoch: AtomicU64::new(0),
        }
    }

    /// Whether peer `i` is up.
    pub fn is_up(&self, i: usize) -> bool {
        i == self.me || self.down.get(i).is_some_and(|d| !d.load(Ordering::SeqCst))
    }

    /// The peers down now.
    pub fn down(&self) -> Vec<usize> {
        (0..self.down.len()).filter(|&i| !self.is_up(i)).collect()
    }

    /// Marks peer `i` down or up; moves the epoch and counts it when that is a change.
    pub fn set(&self, i: usize, up: bool, metrics: &PeerMetrics) {
        if i == self.me {
            return;
        }
        let Some(flag) = self.down.get(i) else {
            return;
        };
        if flag.swap(!up, Ordering::SeqCst) == up {
            self.changes.fetch_add(1, Ordering::SeqCst);
            self.epoch.fetch_add(1, Ordering::SeqCst);
            let live = (0..self.down.len()).filter(|&j| self.is_up(j)).count();
            metrics.changed(if up { "up" } else { "down" }, live, self.down.len());
            tracing::warn!(peer = i, up, live, "peer state changed");
        }
    }

    /// Changes of the live set so far, this collector's own and those its peers reported.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// This collector's view to send with a forward: its index and its own changes.
    pub fn view(&self) -> (usize, u64) {
        (self.me, self.changes.load(Ordering::SeqCst))
    }

    /// Notes the view a forward from peer `from` carried (`changes` of its live set); moves
    /// the epoch when it differs from what that peer reported last (at start: none).
    pub fn observe(&self, from: usize, changes: u64) {
        if from == self.me {
            return;
        }
        if let Some(last) = self.reported.get(from) {
            if last.swap(changes, Ordering::SeqCst) != changes {
                self.epoch.fetch_add(1, Ordering::SeqCst);
                tracing::info!(peer = from, "a peer's view of the collectors changed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_moves_the_epoch_and_repeating_it_does_not() {
        let metrics = PeerMetrics::default();
        let live = Liveness::new(3, 0);
        live.set(0, false, &metrics);
        assert!(live.is_up(0), "never down for itself");
        assert_eq!(live.epoch(), 0);
        live.set(2, false, &metrics);
        live.set(2, false, &metrics);
        assert_eq!((live.epoch(), live.down()), (1, vec![2]));
        live.set(2, true, &metrics);
        assert_eq!((live.epoch(), live.down()), (2, vec![]));
        assert_eq!(live.view(), (0, 2));
    }

    #[test]
    fn a_peer_reporting_a_change_moves_the_epoch_once_and_is_not_echoed() {
        let live = Liveness::new(3, 0);
        live.observe(1, 0);
        assert_eq!(live.epoch(), 0, "no change reported");
        // Peer 1 had marked someone down (this collector, cut off) and back up.
        live.observe(1, 2);
        assert_eq!(live.epoch(), 1);
        live.observe(1, 2);
        live.observe(0, 9);
        live.observe(7, 9);
        assert_eq!(live.epoch(), 1, "the same report, itself, or no such peer");
        assert_eq!(live.view(), (0, 0), "what it observed is not passed on");
    }
}
