//! The identity memory the writer resolves against, kept in memory across commits: which
//! client ids the store knows, who was seen behind each fingerprint today and yesterday
//! (up to two visitors, and when the one was last seen), and how many client ids each
//! cookie's visitor was linked to today.
//!
//! Three layers, read top down: the batch's [`Overlay`] (what the requests resolved so far
//! in the batch being built will write), the [`HotIdentity`] caches (what is committed, for
//! the keys used lately), and the store, read once on a miss (and the answer cached: it is
//! committed data). The overlay reaches the caches only after the batch is committed
//! ([`Overlay::commit_into`]); a failed commit drops it, so the caches never hold what the
//! store does not. Entries a commit could not account for exactly (a batch with a
//! duplicate event, whose effects the store skipped; a client id linked again, which the
//! store may already have counted) are dropped from the caches, to be read again.
//!
//! Only the writer adds to the store's identity memory, so the caches stay true, except
//! when erasure or retention deletes from it, or another process writes to the store: the
//! store says when ([`BlockingSink::identity_epoch`]) and the writer empties its caches then.
//!

use std::collections::{HashMap, HashSet};

use super::hot::{Bounded, Key, Keys};
use crate::event::Event;
use crate::identity::graph::LinkKind;
use crate::identity::resolver::Memory;
use crate::identity::salt::DAY_MS;
use crate::store::{BlockingSink, MemoryAsk, StoreError};

const KNOWN: u8 = 0;
const SEEN: u8 = 1;
const COOKIE: u8 = 2;
const PAIR: u8 = 3;

/// Who was seen behind one fingerprint on one day: the two smallest visitor ids (as the
/// store answers, see [`Memory::behind_fingerprint`]) and the latest time among them. The
/// time is exact while one visitor is listed, the only case the rule reads it.
#[derive(Debug, Clone, Default, PartialEq)]
struct Seen {
    visitors: Vec<String>,
    last_ms: Option<i64>,
}

impl Seen {
    fn observe(&mut self, visitor: &str, at_ms: i64) {
        if !self.visitors.iter().any(|v| v == visitor) {
            self.visitors.push(visitor.to_string());
            self.visitors.sort();
            self.visitors.truncate(2);
        }
        self.last_ms = Some(self.last_ms.map_or(at_ms, |t| t.max(at_ms)));
    }
}

/// The caches, kept by the writer across commits.
pub(crate) struct HotIdentity {
    keys: Keys,
    /// Whether the store knows a client id (an event's visitor or a link's end).
    known: Bounded<bool>,
    seen: Bounded<Seen>,
    /// Client ids linked to a cookie's visitor on a day.
    cookie_ids: Bounded<u32>,
    /// The store's [`BlockingSink::identity_epoch`] the caches agree with.
    epoch: Option<u64>,
}

impl HotIdentity {
    /// Caches for about `visitors` active visitors.
    pub(crate) fn new(visitors: usize) -> HotIdentity {
        HotIdentity {
            keys: Keys::new(),
            known: Bounded::new(visitors),
            // One per network and user agent a day: at most one per visitor.
            seen: Bounded::new(visitors),
            cookie_ids: Bounded::new(visitors),
            epoch: None,
        }
    }

    /// Empties the caches when `epoch` (the store's now) differs from theirs.
    pub(crate) fn sync(&mut self, epoch: u64) {
        if self.epoch != Some(epoch) {
            self.known.clear();
            self.seen.clear();
            self.cookie_ids.clear();
            self.epoch = Some(epoch);
        }
    }

    /// Entries held, over all caches.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.known.len() + self.seen.len() + self.cookie_ids.len()
    }

    /// Bytes the caches' tables take (see [`Bounded::table_bytes`]); the two visitor ids a
    /// fingerprint entry holds are not counted (one entry per network and browser, not per
    /// visitor).
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.known.table_bytes() + self.seen.table_bytes() + self.cookie_ids.table_bytes()
    }
}

/// What the requests of the batch being built will write, in the caches' terms; see the
/// module docs.
#[derive(Default)]
pub(crate) struct Overlay {
    known: HashSet<Key>,
    seen: HashMap<Key, Seen>,
    cookie_ids: HashMap<Key, u32>,
    /// `(site, client id, cookie visitor)` pairs linked in the batch: the store records
    /// (and counts) each once.
    linked: HashSet<Key>,
    /// Keys the commit cannot account for exactly: dropped from the caches.
    unsure: HashSet<Key>,
    /// Every key the overlay took in, in order (see [`Overlay::taint`]).
    log: Vec<Key>,
}

/// The identity memory as a request of the batch sees it: overlay, caches, store.
pub(crate) struct View<'a> {
    pub(crate) store: &'a dyn BlockingSink,
    pub(crate) hot: &'a mut HotIdentity,
    pub(crate) overlay: &'a mut Overlay,
}

impl View<'_> {
    /// What bears on resolving an event of `site` with `client_id` behind `fingerprint` on
    /// Unix day `day` (without `shared_yesterday` and `cookie_ids_today`, which the caller
    /// reads when they matter).
    pub(crate) fn memory(
        &mut self,
        site: &str,
        client_id: Option<&str>,
        fingerprint: &str,
        day: i64,
    ) -> Result<Memory, StoreError> {
        let known = match client_id {
            None => Some(false),
            Some(id) => {
                let key = self.hot.keys.of(KNOWN, &[site, id], 0);
                if self.overlay.known.contains(&key) {
                    Some(true)
                } else {
                    self.hot.known.get(key).copied()
                }
            }
        };
        let seen_key = self.hot.keys.of(SEEN, &[site, fingerprint], day);
        let seen = match self.overlay.seen.get(&seen_key) {
            Some(s) => Some(s.clone()),
            None => self.hot.seen.get(seen_key).cloned(),
        };
        let (known, seen) = match (known, seen) {
            (Some(k), Some(s)) => (k, s),
            (known, seen) => {
                let ask = if known.is_none() { client_id } else { None };
                // What is cached is not read again (an empty fingerprint is not read).
                let fp = if seen.is_none() { fingerprint } else { "" };
                let m = self.store.identity_memory(site, ask, fp, day)?;
                let stored = Seen {
                    visitors: m.behind_fingerprint,
                    last_ms: m.last_seen_ms,
                };
                if let (None, Some(id)) = (known, client_id) {
                    let key = self.hot.keys.of(KNOWN, &[site, id], 0);
                    self.hot.known.insert(key, m.client_id_known);
                }
                if seen.is_none() {
                    self.hot.seen.insert(seen_key, stored.clone());
                }
                (known.unwrap_or(m.client_id_known), seen.unwrap_or(stored))
            }
        };
        Ok(Memory {
            client_id_known: known,
            behind_fingerprint: seen.visitors,
            last_seen_ms: seen.last_ms,
            shared_yesterday: false,
            cookie_ids_today: 0,
        })
    }

    /// Reads at once, into the caches, what [`View::memory`] would read from the store for
    /// each of `asks` (`(site, client id, fingerprint, day)`): only what neither the batch
    /// nor the caches hold, in one [`BlockingSink::identity_memories`] call.
    pub(crate) fn prefetch(
        &mut self,
        asks: &[(String, Option<String>, String, i64)],
    ) -> Result<(), StoreError> {
        let mut missing: Vec<MemoryAsk> = Vec::new();
        let mut wanted: HashSet<MemoryAsk> = HashSet::new();
        for (site, client_id, fingerprint, day) in asks {
            let known_missing = client_id.as_ref().is_some_and(|id| {
                let key = self.hot.keys.of(KNOWN, &[site, id], 0);
                !self.overlay.known.contains(&key) && self.hot.known.get(key).is_none()
            });
            let seen_key = self.hot.keys.of(SEEN, &[site, fingerprint], *day);
            let seen_missing = !fingerprint.is_empty()
                && !self.overlay.seen.contains_key(&seen_key)
                && self.hot.seen.get(seen_key).is_none();
            let ask = MemoryAsk {
                site: site.clone(),
                client_id: client_id.clone().filter(|_| known_missing),
                fingerprint: if seen_missing {
                    fingerprint.clone()
                } else {
                    String::new()
                },
                day: *day,
            };
            if (ask.client_id.is_some() || !ask.fingerprint.is_empty())
                && wanted.insert(ask.clone())
            {
                missing.push(ask);
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let answers = self.store.identity_memories(&missing)?;
        for (ask, m) in missing.iter().zip(answers) {
            if let Some(id) = &ask.client_id {
                let key = self.hot.keys.of(KNOWN, &[&ask.site, id], 0);
                self.hot.known.insert(key, m.client_id_known);
            }
            if !ask.fingerprint.is_empty() {
                let key = self
                    .hot
                    .keys
                    .of(SEEN, &[&ask.site, &ask.fingerprint], ask.day);
                self.hot.seen.insert(
                    key,
                    Seen {
                        visitors: m.behind_fingerprint,
                        last_ms: m.last_seen_ms,
                    },
                );
            }
        }
        Ok(())
    }

    /// Whether two or more id visitors were seen behind `fingerprint` on `day`.
    pub(crate) fn shared(
        &mut self,
        site: &str,
        fingerprint: &str,
        day: i64,
    ) -> Result<bool, StoreError> {
        Ok(self
            .memory(site, None, fingerprint, day)?
            .behind_fingerprint
            .len()
            >= 2)
    }

    /// Client ids linked to `visitor` (a cookie's) on `day`, the batch's links included.
    pub(crate) fn cookie_ids(
        &mut self,
        site: &str,
        visitor: &str,
        day: i64,
    ) -> Result<u32, StoreError> {
        let key = self.hot.keys.of(COOKIE, &[site, visitor], day);
        if let Some(n) = self.overlay.cookie_ids.get(&key) {
            return Ok(*n);
        }
        if let Some(n) = self.hot.cookie_ids.get(key) {
            return Ok(*n);
        }
        let n = self.store.cookie_ids(site, visitor, day)?;
        self.hot.cookie_ids.insert(key, n);
        Ok(n)
    }

    /// Whether the `client-id` link from `id` to `cookie` is the batch's first: then the
    /// store counts it for the cookie's day (unless it had the link already).
    pub(crate) fn first_link(&mut self, site: &str, id: &str, cookie: &str) -> bool {
        let key = self.hot.keys.of(PAIR, &[site, id, cookie], 0);
        self.overlay.linked.insert(key)
    }

    /// Takes in the effects of `events`, to be written with them: the ids they make known,
    /// the fingerprints they are seen behind, the client ids they link to a cookie.
    /// `fresh` names the client ids the store did not know before the batch: a link from
    /// one of those is new to the store, so it is counted exactly; one from a known id may
    /// have been counted before, so its cookie's counter is read again after the commit.
    pub(crate) fn record(
        &mut self,
        events: &[Event],
        fresh: &HashSet<String>,
    ) -> Result<(), StoreError> {
        for e in events {
            let day = e.received.div_euclid(DAY_MS);
            let key = self.hot.keys.of(KNOWN, &[&e.site, &e.visitor], 0);
            self.overlay.known.insert(key);
            self.overlay.log.push(key);
            for link in &e.identity.links {
                for end in [&link.a, &link.b] {
                    let key = self.hot.keys.of(KNOWN, &[&e.site, end], 0);
                    self.overlay.known.insert(key);
                    self.overlay.log.push(key);
                }
                if link.kind == LinkKind::ClientId {
                    let pair = self.hot.keys.of(PAIR, &[&e.site, &link.a, &link.b], 0);
                    // Links the resolver made were claimed with `first_link`; others
                    // (a server-side batch's) are claimed here.
                    self.overlay.linked.insert(pair);
                    let key = self.hot.keys.of(COOKIE, &[&e.site, &link.b], day);
                    self.overlay.log.push(key);
                    if !fresh.contains(&link.a) {
                        self.overlay.unsure.insert(key);
                    }
                }
            }
            if e.identity.observe_fingerprint && !e.identity.fingerprint.is_empty() {
                let key = self
                    .hot
                    .keys
                    .of(SEEN, &[&e.site, &e.identity.fingerprint], day);
                if !self.overlay.seen.contains_key(&key) {
                    let m = self.memory(&e.site, None, &e.identity.fingerprint, day)?;
                    let base = Seen {
                        visitors: m.behind_fingerprint,
                        last_ms: m.last_seen_ms,
                    };
                    self.overlay.seen.insert(key, base);
                }
                self.overlay.log.push(key);
                if let Some(seen) = self.overlay.seen.get_mut(&key) {
                    seen.observe(&e.visitor, e.received);
                }
            }
        }
        Ok(())
    }

    /// Counts one more client id linked to `visitor` on `day` in the batch.
    pub(crate) fn count_link(
        &mut self,
        site: &str,
        visitor: &str,
        day: i64,
    ) -> Result<(), StoreError> {
        let n = self.cookie_ids(site, visitor, day)?;
        let key = self.hot.keys.of(COOKIE, &[site, visitor], day);
        self.overlay.cookie_ids.insert(key, n + 1);
        Ok(())
    }
}

impl Overlay {
    /// Where the log of touched keys stands, to mark a group's keys later.
    pub(crate) fn mark(&self) -> usize {
        self.log.len()
    }

    /// Marks every key touched between two marks (one group's) as unsure: the group
    /// holding a duplicate event had that event's effects skipped by the store, and which
    /// one it was is not known here.
    pub(crate) fn taint(&mut self, group: std::ops::Range<usize>) {
        let touched = self.log.get(group).unwrap_or_default();
        self.unsure.extend(touched.iter().copied());
    }

    /// After the batch is committed: its effects become the caches' (the unsure ones are
    /// dropped from them instead, to be read again).
    pub(crate) fn commit_into(self, hot: &mut HotIdentity) {
        for k in self.known {
            if !self.unsure.contains(&k) {
                hot.known.insert(k, true);
            }
        }
        for (k, v) in self.seen {
            if !self.unsure.contains(&k) {
                hot.seen.insert(k, v);
            }
        }
        for (k, v) in self.cookie_ids {
            if !self.unsure.contains(&k) {
                hot.cookie_ids.insert(k, v);
            }
        }
        for k in self.unsure {
            hot.known.remove(k);
            hot.seen.remove(k);
            hot.cookie_ids.remove(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::resolver::NewLink;
    use crate::store::sqlite::SqliteStore;

    /// What one active visitor costs the caches: `visitors` visitors, each with a client id
    /// linked to its cookie today (a known-id entry and a counter each), committed through
    /// the overlay as the writer does; the tables' bytes (see [`Bounded::table_bytes`])
    /// over the visitors.
    #[test]
    fn an_active_visitor_costs_at_most_128_bytes_of_cache() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let visitors = 20_000;
        let mut hot = HotIdentity::new(visitors);
        for chunk in 0..visitors / 500 {
            let mut overlay = Overlay::default();
            let mut view = View {
                store: &store,
                hot: &mut hot,
                overlay: &mut overlay,
            };
            let events: Vec<Event> = (0..500)
                .map(|i| {
                    let n = chunk * 500 + i;
                    let mut e =
                        crate::store::sqlite::tests::event(n as u128, &format!("c{n}"), "s");
                    e.identity.links.push(NewLink {
                        a: format!("id{n}"),
                        b: e.visitor.clone(),
                        kind: LinkKind::ClientId,
                        confidence: 0.95,
                        verified: false,
                    });
                    e
                })
                .collect();
            let fresh = events
                .iter()
                .map(|e| format!("id{}", e.visitor.trim_start_matches('c')))
                .collect();
            for e in &events {
                view.count_link(&e.site, &e.visitor, e.received.div_euclid(DAY_MS))?;
            }
            view.record(&events, &fresh)?;
            overlay.commit_into(&mut hot);
        }
        assert!(hot.len() >= visitors, "{} entries", hot.len());
        let per_visitor = hot.bytes() / visitors;
        eprintln!(
            "identity caches: {} bytes for {visitors} visitors, {per_visitor} bytes each",
            hot.bytes()
        );
        assert!(per_visitor <= 128, "{per_visitor} bytes per visitor");
        Ok(())
    }
}
