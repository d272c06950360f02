//! The counters of forwarding, rendered into `/metrics` after the collector's own:
//! events forwarded and received from peers, forwards that failed and forwards refused
//! (each by reason), peer state changes, and peers up now. Nothing is rendered without
//! `--peers`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Forwarding's counters.
#[derive(Debug, Default)]
pub struct PeerMetrics {
    forwarded: AtomicU64,
    received: AtomicU64,
    failures: Mutex<BTreeMap<&'static str, u64>>,
    refused: Mutex<BTreeMap<&'static str, u64>>,
    changes: Mutex<BTreeMap<&'static str, u64>>,
    up: AtomicU64,
    configured: AtomicU64,
}

fn bump(map: &Mutex<BTreeMap<&'static str, u64>>, label: &'static str) {
    *map.lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(label)
        .or_default() += 1;
}

impl PeerMetrics {
    /// `n` events committed by their owner on this collector's behalf.
    pub fn forwarded(&self, n: usize) {
        self.forwarded.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// `n` events received from a peer and committed here.
    pub fn received(&self, n: usize) {
        self.received.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A forward that did not commit, by why (`unreachable`, `refused`, `answer`).
    pub fn failure(&self, reason: &'static str) {
        bump(&self.failures, reason);
    }

    /// A forward this collector refused, by [`Refused::label`](super::auth::Refused::label).
    pub fn refused(&self, reason: &'static str) {
        bump(&self.refused, reason);
    }

    /// A peer went `up` or `down`; `live` peers are up now, of `of`.
    pub fn changed(&self, to: &'static str, live: usize, of: usize) {
        bump(&self.changes, to);
        self.up.store(live as u64, Ordering::Relaxed);
        self.configured.store(of as u64, Ordering::Relaxed);
    }

    /// Appends the counters to `out`, in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        if self.configured.load(Ordering::Relaxed) == 0 {
            return;
        }
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            out,
            "spoor_peer_forwarded_events_total",
            "Events forwarded to their owner and committed there",
            self.forwarded.load(Ordering::Relaxed),
        );
        counter(
            out,
            "spoor_peer_received_events_total",
            "Events received from a peer and committed here",
            self.received.load(Ordering::Relaxed),
        );
        let family = |out: &mut String,
                      name: &str,
                      help: &str,
                      label: &str,
                      map: &Mutex<BTreeMap<&'static str, u64>>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (value, n) in map.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {n}");
            }
        };
        family(
            out,
            "spoor_peer_forward_failures_total",
            "Forwards that did not commit at the peer asked, by reason",
            "reason",
            &self.failures,
        );
        family(
            out,
            "spoor_peer_refused_total",
            "Forwards refused by this collector, by reason",
            "reason",
            &self.refused,
        );
        family(
            out,
            "spoor_peer_state_changes_total",
            "Peers marked up or down",
            "to",
            &self.changes,
        );
        let _ = writeln!(
            out,
            "# HELP spoor_peers_up Peers this collector sees up, itself included\n\
             # TYPE spoor_peers_up gauge\nspoor_peers_up {}\n\
             # HELP spoor_peers Peers configured\n# TYPE spoor_peers gauge\nspoor_peers {}",
            self.up.load(Ordering::Relaxed),
            self.configured.load(Ordering::Relaxed)
        );
    }
}
