//! [`Connections`]: the table of open connections behind the server's two connection
//! limits, and the choice of which connection to close when one is reached.
//!
//! Each connection is in one of two states: *busy* from the moment its request head is
//! complete until its response body has been sent, and otherwise *sheddable* — idle on
//! keep-alive, or still receiving a head (a slow or stalled client). Only sheddable
//! connections are ever closed to make room; a request in flight always finishes.
//!
//! - **Per client** (`max_per_client`): a client is its socket address, an IPv6 peer its
//!   /64 (the [`ClientKey`] of the rate limiter). A new connection from a client at its
//!   cap makes the client's own longest-idle sheddable connection close; when all of the
//!   client's connections are busy, the new one is refused instead (`429`). So one host
//!   holding sockets open only ever competes with itself, while many browsers behind one
//!   address (an office NAT) keep being served: a browser reopens a closed keep-alive
//!   connection without a word. Peers that are trusted proxies are exempt: every visitor
//!   arrives through them, so their connections are not one client's (limit connections
//!   per client in the proxy, e.g. nginx `limit_conn`).
//! - **Globally** (`max_total`): a new connection at the cap makes the longest-idle
//!   sheddable connection of the whole server close, so the newcomer is served at once.
//!   Only when every open connection is busy does the accept loop wait ([`Connections::room`])
//!   and leave new clients in the kernel's backlog.
//!
//! Memory is bounded: the table holds one entry per open connection (at most `max_total`
//! plus those closing), and a client's count is removed when it drops to zero. Choosing a
//! connection to close scans the table, which happens only at a cap.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ipnet::IpNet;
use tokio::sync::{Notify, oneshot};

use crate::http::extract::forwarded;
use crate::http::ratelimit::ClientKey;
use crate::metrics::Metrics;

/// Why a connection is closed to make room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ShedReason {
    /// Its client reached `max_per_client` with a newer connection.
    Client,
    /// The server reached `max_total` with a newer connection.
    Global,
}

impl ShedReason {
    /// The `reason` label of `spoor_connections_shed_total`.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            ShedReason::Client => "client_cap",
            ShedReason::Global => "global_cap",
        }
    }
}

/// Why a new connection cannot be admitted.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Rejected {
    /// Its client has `max_per_client` connections, all busy: refuse it.
    Refused,
    /// The server has `max_total` connections, all busy: wait for [`Connections::room`]
    /// and try again.
    Full,
}

/// One open connection in the table.
#[derive(Debug)]
struct Entry {
    /// Its client, or `None` for an exempt peer (a trusted proxy).
    client: Option<ClientKey>,
    /// A request is being read or answered.
    busy: bool,
    /// Since when it has had no request in flight: its accept, or its last response's end.
    idle_since: Instant,
    /// Tells the connection to close; taken (`None`) once it has been told.
    shed: Option<oneshot::Sender<()>>,
}

#[derive(Debug, Default)]
struct Table {
    open: HashMap<u64, Entry>,
    /// Open connections per client; a client with none has no entry.
    clients: HashMap<ClientKey, usize>,
    /// Open connections not yet told to close.
    staying: usize,
    next_id: u64,
}

impl Table {
    /// The longest-idle sheddable connection among those `eligible`, not yet told to close.
    fn oldest_idle(&self, eligible: impl Fn(&Entry) -> bool) -> Option<u64> {
        self.open
            .iter()
            .filter(|(_, e)| !e.busy && e.shed.is_some() && eligible(e))
            .min_by_key(|(id, e)| (e.idle_since, **id))
            .map(|(id, _)| *id)
    }

    /// Tells connection `id` to close.
    fn shed(&mut self, id: u64) {
        if let Some(tell) = self.open.get_mut(&id).and_then(|e| e.shed.take()) {
            self.staying -= 1;
            // The connection may be gone already; then there is nothing to close.
            let _ = tell.send(());
        }
    }
}

/// The open connections of one server; shared by the accept loop and every connection.
#[derive(Debug)]
pub(super) struct Connections {
    table: Mutex<Table>,
    /// Woken when a connection closes or becomes sheddable.
    changed: Notify,
    max_total: usize,
    max_per_client: usize,
    exempt: Vec<IpNet>,
    metrics: Arc<Metrics>,
}

impl Connections {
    /// A table for at most `max_total` connections, `max_per_client` from each client
    /// (peers in `exempt` are not limited), counting in `metrics`.
    pub(super) fn new(
        max_total: usize,
        max_per_client: usize,
        exempt: Vec<IpNet>,
        metrics: Arc<Metrics>,
    ) -> Connections {
        Connections {
            table: Mutex::new(Table::default()),
            changed: Notify::new(),
            max_total: max_total.max(1),
            max_per_client: max_per_client.max(1),
            exempt,
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a new connection can be served now: the server is under its cap, or some
    /// open connection can be closed to make room.
    fn has_room(&self) -> bool {
        let table = self.lock();
        table.staying < self.max_total || table.oldest_idle(|_| true).is_some()
    }

    /// Waits until a new connection can be served (see [`Connections::has_room`]).
    pub(super) async fn room(&self) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before the check, so a change in between is not missed.
            changed.as_mut().enable();
            if self.has_room() {
                return;
            }
            changed.await;
        }
    }

    /// Admits a new connection from `ip`, first telling another connection to close when a
    /// cap is reached (see the module docs). Nothing changes when it is rejected: its
    /// client is at its cap with every connection busy, or the server is.
    pub(super) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Rejected> {
        let client = (!forwarded::is_trusted(ip, &self.exempt)).then(|| ClientKey::of(ip));
        let mut table = self.lock();
        if let Some(key) = client {
            if table.clients.get(&key).copied().unwrap_or(0) >= self.max_per_client {
                let own = table.oldest_idle(|e| e.client == Some(key));
                // A client that already told some connections to close is over its cap
                // only by those still closing.
                let staying = table
                    .open
                    .values()
                    .filter(|e| e.client == Some(key) && e.shed.is_some())
                    .count();
                if staying >= self.max_per_client {
                    let Some(victim) = own else {
                        self.metrics.connection_refused();
                        return Err(Rejected::Refused);
                    };
                    table.shed(victim);
                    self.metrics.connection_shed(ShedReason::Client.as_str());
                }
            }
        }
        if table.staying >= self.max_total {
            let Some(victim) = table.oldest_idle(|_| true) else {
                return Err(Rejected::Full);
            };
            table.shed(victim);
            self.metrics.connection_shed(ShedReason::Global.as_str());
        }
        if let Some(key) = client {
            *table.clients.entry(key).or_default() += 1;
        }
        let id = table.next_id;
        table.next_id += 1;
        let (tell, told) = oneshot::channel();
        table.open.insert(
            id,
            Entry {
                client,
                busy: false,
                idle_since: Instant::now(),
                shed: Some(tell),
            },
        );
        table.staying += 1;
        self.metrics.connections_open(table.open.len());
        Ok(Slot {
            id,
            connections: Arc::clone(self),
            told: Some(told),
        })
    }

    fn set_busy(&self, id: u64, busy: bool) {
        let mut table = self.lock();
        if let Some(entry) = table.open.get_mut(&id) {
            entry.busy = busy;
            if !busy {
                entry.idle_since = Instant::now();
            }
        }
        drop(table);
        if !busy {
            self.changed.notify_one();
        }
    }

    fn close(&self, id: u64) {
        let mut table = self.lock();
        if let Some(entry) = table.open.remove(&id) {
            if entry.shed.is_some() {
                table.staying -= 1;
            }
            if let Some(key) = entry.client {
                if let Some(n) = table.clients.get_mut(&key) {
                    *n -= 1;
                    if *n == 0 {
                        table.clients.remove(&key);
                    }
                }
            }
        }
        self.metrics.connections_open(table.open.len());
        drop(table);
        self.changed.notify_one();
    }

    /// Open connections, and clients with one or more (for tests of the table's bounds).
    #[cfg(test)]
    fn sizes(&self) -> (usize, usize) {
        let table = self.lock();
        (table.open.len(), table.clients.len())
    }
}

/// One admitted connection's place in the table; dropping it removes the connection.
#[derive(Debug)]
pub(super) struct Slot {
    id: u64,
    connections: Arc<Connections>,
    told: Option<oneshot::Receiver<()>>,
}

impl Slot {
    /// A handle that marks requests in flight on this connection.
    pub(super) fn marker(&self) -> Marker {
        Marker {
            id: self.id,
            connections: Arc::clone(&self.connections),
        }
    }

    /// Completes once the connection has been told to close (never, if it is not).
    pub(super) async fn shed(&mut self) {
        match self.told.as_mut() {
            Some(told) => {
                if told.await.is_err() {
                    // The table dropped the sender without shedding: never close.
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending::<()>().await,
        }
        self.told = None;
    }
}

/// Marks requests in flight on one connection (held by its HTTP service).
#[derive(Debug, Clone)]
pub(super) struct Marker {
    id: u64,
    connections: Arc<Connections>,
}

impl Marker {
    /// Marks a request in flight until the returned guard is dropped.
    pub(super) fn request(&self) -> Busy {
        self.connections.set_busy(self.id, true);
        Busy {
            id: self.id,
            connections: Arc::clone(&self.connections),
        }
    }

    /// Whether a request is in flight.
    pub(super) fn is_busy(&self) -> bool {
        self.connections
            .lock()
            .open
            .get(&self.id)
            .is_some_and(|e| e.busy)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.connections.close(self.id);
    }
}

/// A request in flight on a connection; dropped when its response has been sent (or the
/// request was abandoned).
#[derive(Debug)]
pub(super) struct Busy {
    id: u64,
    connections: Arc<Connections>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.connections.set_busy(self.id, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(total: usize, per_client: usize) -> Arc<Connections> {
        Arc::new(Connections::new(
            total,
            per_client,
            vec!["10.0.0.1/32".parse().unwrap()],
            Arc::new(Metrics::default()),
        ))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    async fn was_shed(slot: &mut Slot) -> bool {
        tokio::time::timeout(std::time::Duration::from_millis(10), slot.shed())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_client_at_its_cap_sheds_its_own_oldest_idle_connection_then_is_refused() {
        let c = table(100, 2);
        let mut first = c.admit(ip("192.0.2.1")).unwrap();
        let mut second = c.admit(ip("192.0.2.1")).unwrap();
        let mut other = c.admit(ip("192.0.2.2")).unwrap();
        let _busy = second.marker().request();
        let third = c.admit(ip("192.0.2.1")).unwrap();
        assert!(was_shed(&mut first).await, "the idle one makes room");
        assert!(!was_shed(&mut second).await, "a busy one is never shed");
        assert!(!was_shed(&mut other).await, "another client is untouched");
        drop(first);
        let _busy_too = third.marker().request();
        assert_eq!(
            c.admit(ip("192.0.2.1")).err(),
            Some(Rejected::Refused),
            "all busy: refused"
        );
        // An IPv6 client is its /64.
        let _a = c.admit(ip("2001:db8::1")).unwrap();
        let mut b = c.admit(ip("2001:db8::2")).unwrap();
        let _b_busy = b.marker().request();
        let _c = c.admit(ip("2001:db8::3")).unwrap();
        assert!(!was_shed(&mut b).await);
        // A trusted proxy is not limited.
        let proxy: Vec<_> = (0..10)
            .filter_map(|_| c.admit(ip("10.0.0.1")).ok())
            .collect();
        assert_eq!(proxy.len(), 10);
    }

    #[tokio::test]
    async fn at_the_global_cap_the_longest_idle_connection_is_shed() {
        let c = table(2, 10);
        let mut old = c.admit(ip("192.0.2.1")).unwrap();
        let mut young = c.admit(ip("192.0.2.2")).unwrap();
        // `old` just finished a request: it is now the most recently idle.
        drop(old.marker().request());
        let _new = c.admit(ip("192.0.2.3")).unwrap();
        assert!(was_shed(&mut young).await);
        assert!(!was_shed(&mut old).await);
    }

    #[tokio::test]
    async fn the_table_forgets_closed_connections_and_clients() {
        let c = table(10, 10);
        let slots: Vec<_> = (1..=5)
            .filter_map(|i| c.admit(ip(&format!("192.0.2.{i}"))).ok())
            .collect();
        assert_eq!(c.sizes(), (5, 5));
        drop(slots);
        assert_eq!(c.sizes(), (0, 0));
        assert!(c.has_room());
    }

    #[tokio::test]
    async fn with_every_connection_busy_there_is_no_room_until_one_is_idle() {
        let c = table(1, 10);
        let slot = c.admit(ip("192.0.2.1")).unwrap();
        let busy = slot.marker().request();
        assert!(!c.has_room());
        assert_eq!(c.admit(ip("192.0.2.2")).err(), Some(Rejected::Full));
        assert_eq!(c.sizes(), (1, 1), "a rejected connection leaves no trace");
        let waiting = tokio::spawn({
            let c = Arc::clone(&c);
            async move { c.room().await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        drop(busy);
        assert!(
            tokio::time::timeout(std::time::Duration::from_secs(1), waiting)
                .await
                .is_ok()
        );
    }
}
