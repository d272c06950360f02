//! The identity side effects of a batch of new events, as the SQLite store's `apply`
//! writes them per event (`store/sqlite/identity.rs`, the spec): withdrawn fingerprint
//! links, links (each pair and kind once in either direction; a login back to a user
//! after another user's login on the same visitor recorded again), verified links, the
//! per-cookie daily id counter, fingerprint observations, and the persons the links make.
//! Every read is by primary key (a pair's links, a visitor's own links, a fingerprint's
//! links); what the batch wrote is read back from its caches, and written at the end,
//! one insert per table.

use std::collections::{BTreeMap, BTreeSet};

use super::super::ClickHouseStore;
use super::ids::next_link_id;
use super::links::{LinkCache, LinkRow};
use super::persons::PersonCache;
use crate::event::Event;
use crate::identity::graph::LinkKind;
use crate::identity::resolver::USER_PREFIX;
use crate::identity::salt::DAY_MS;
use crate::store::StoreError;

#[derive(serde::Serialize)]
struct SeenRow<'a> {
    site: &'a str,
    day: i64,
    fingerprint: &'a str,
    visitor: &'a str,
    last_ms: i64,
}

#[derive(serde::Serialize)]
struct CookieIds<'a> {
    site: &'a str,
    visitor: &'a str,
    day: i64,
    ids: u32,
}

impl ClickHouseStore {
    /// Writes the identity side effects of `events` (new events only, in order; see
    /// [`IdentityEffects`](crate::event::IdentityEffects)): links (each pair and kind once,
    /// a login back after another user's as a new one), withdrawn fingerprint links, the
    /// fingerprint observations, the per-cookie id counters, and the persons they make.
    /// Called by the sink after the events' own rows are written.
    pub(in crate::store::clickhouse) async fn apply_identity(
        &self,
        events: &[&Event],
    ) -> Result<(), StoreError> {
        let mut links = LinkCache::default();
        let mut persons = PersonCache::default();
        let mut seen: BTreeMap<(&str, i64, &str, &str), i64> = BTreeMap::new();
        let mut counted: BTreeMap<(&str, &str, i64), u32> = BTreeMap::new();
        // The reads most links need, a few statements per site for the whole batch.
        let mut by_site: BTreeMap<&str, Vec<&crate::identity::resolver::NewLink>> = BTreeMap::new();
        for e in events {
            by_site
                .entry(e.site.as_str())
                .or_default()
                .extend(&e.identity.links);
        }
        for (site, new) in by_site {
            if new.is_empty() {
                continue;
            }
            let pairs: BTreeSet<(String, String)> =
                new.iter().map(|l| (l.a.clone(), l.b.clone())).collect();
            let pairs: Vec<(String, String)> = pairs.into_iter().collect();
            links.prefetch_pairs(self, site, &pairs).await?;
            let visitors: BTreeSet<String> = new
                .iter()
                .filter(|l| l.kind == LinkKind::Login)
                .map(|l| l.a.clone())
                .collect();
            let visitors: Vec<String> = visitors.into_iter().collect();
            links.prefetch_logins(self, site, &visitors).await?;
            let nodes: BTreeSet<&str> = new
                .iter()
                .flat_map(|l| [l.a.as_str(), l.b.as_str()])
                .collect();
            let nodes: Vec<&str> = nodes.into_iter().collect();
            persons.prefetch(self, site, &nodes).await?;
        }
        for e in events {
            let fx = &e.identity;
            let site = e.site.as_str();
            if fx.withdraw_fingerprint_links && !fx.fingerprint.is_empty() {
                let fp = fx.fingerprint.clone();
                let withdrawn: Vec<LinkRow> = links
                    .of_nodes(self, site, std::slice::from_ref(&fp))
                    .await?
                    .into_iter()
                    .filter(|l| l.kind == "fingerprint" && l.fingerprint == fp && l.active == 1)
                    .collect();
                for l in &withdrawn {
                    links.put(
                        LinkRow {
                            active: 0,
                            ..l.clone()
                        },
                        false,
                    );
                }
                for l in &withdrawn {
                    persons
                        .relink(self, &mut links, site, &[&l.a, &l.b])
                        .await?;
                }
            }
            for link in &fx.links {
                let kind = link.kind.as_str();
                let fingerprint = if matches!(link.kind, LinkKind::Fingerprint | LinkKind::Recovery)
                {
                    fx.fingerprint.clone()
                } else {
                    String::new()
                };
                let fresh = |id: i64| LinkRow {
                    site: site.to_string(),
                    id,
                    a: link.a.clone(),
                    b: link.b.clone(),
                    kind: kind.to_string(),
                    confidence: link.confidence,
                    at_ms: e.received,
                    active: 1,
                    verified: 0,
                    fingerprint: fingerprint.clone(),
                    version: 0,
                };
                if link.kind == LinkKind::Login
                    && self
                        .switched_back(&mut links, site, &link.a, &link.b)
                        .await?
                {
                    links.put(
                        LinkRow {
                            fingerprint: String::new(),
                            ..fresh(next_link_id()?)
                        },
                        true,
                    );
                    persons
                        .linked(self, site, &link.a, &link.b, link.kind, e.received)
                        .await?;
                }
                let pair = links.pair(self, site, &link.a, &link.b).await?;
                if !pair.iter().any(|l| l.kind == kind) {
                    links.put(fresh(next_link_id()?), true);
                    persons
                        .linked(self, site, &link.a, &link.b, link.kind, e.received)
                        .await?;
                    if link.kind == LinkKind::ClientId {
                        // `b` is the cookie's visitor (see the resolver).
                        let day = e.received.div_euclid(DAY_MS);
                        let k = (site, link.b.as_str(), day);
                        let n = match counted.get(&k) {
                            Some(n) => *n,
                            None => self.ids_of_cookie(site, &link.b, day).await?,
                        };
                        counted.insert(k, n + 1);
                    }
                }
                if link.verified {
                    // An undone link stays undone; by the pair, in each direction.
                    for l in links.pair(self, site, &link.a, &link.b).await? {
                        if l.kind == kind && l.verified == 0 {
                            links.put(LinkRow { verified: 1, ..l }, false);
                        }
                    }
                }
            }
            if fx.observe_fingerprint && !fx.fingerprint.is_empty() {
                let k = (
                    site,
                    e.received.div_euclid(DAY_MS),
                    fx.fingerprint.as_str(),
                    e.visitor.as_str(),
                );
                let last = seen.entry(k).or_insert(e.received);
                *last = (*last).max(e.received);
            }
        }
        let settings = self.insert_settings();
        let seen: Vec<SeenRow<'_>> = seen
            .into_iter()
            .map(|((site, day, fingerprint, visitor), last_ms)| SeenRow {
                site,
                day,
                fingerprint,
                visitor,
                last_ms,
            })
            .collect();
        let counted: Vec<CookieIds<'_>> = counted
            .into_iter()
            .map(|((site, visitor, day), ids)| CookieIds {
                site,
                visitor,
                day,
                ids,
            })
            .collect();
        self.client()
            .insert("fingerprint_seen", &seen, &settings)
            .await?;
        self.client()
            .insert("cookie_ids", &counted, &settings)
            .await?;
        // Persons before links: a link whose persons are not written yet would be
        // followed by no reader but a split's replay, which writes them anyway.
        persons.flush(self).await?;
        links.flush(self).await?;
        Ok(())
    }

    /// Whether `visitor` logging in as `user` returns to a user it logged in as before,
    /// after logging in as another: its latest login is to someone else, and its login as
    /// `user` was recorded and not undone. Reads `visitor`'s own links.
    async fn switched_back(
        &self,
        links: &mut LinkCache,
        site: &str,
        visitor: &str,
        user: &str,
    ) -> Result<bool, StoreError> {
        if !user.starts_with(USER_PREFIX) {
            return Ok(false);
        }
        let own = links.logins(self, site, visitor).await?;
        let logins: Vec<&LinkRow> = own
            .iter()
            .filter(|l| l.kind == "login" && l.a == visitor)
            .collect();
        let latest = logins.iter().max_by_key(|l| l.id).map(|l| l.b.as_str());
        if latest.is_none_or(|l| l == user) {
            return Ok(false);
        }
        let to_user: Vec<&&LinkRow> = logins.iter().filter(|l| l.b == user).collect();
        let before = !to_user.is_empty();
        let undone = to_user.iter().any(|l| l.active == 0);
        Ok(before && !undone)
    }
}
