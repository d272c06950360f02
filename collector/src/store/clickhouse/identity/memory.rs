//! The identity memory the ingest writer reads on a cache miss, each by primary key:
//! whether a client id is known (a visitor with events, in `latest_sessions`, or the end
//! of a link), who was seen behind a fingerprint on a day, and the per-cookie daily count
//! of client ids. The same answers as the SQLite store's
//! (`store/sqlite/identity.rs`: `memory`, `fingerprint_shared`, `cookie_ids`).

use super::super::ClickHouseStore;
use super::super::client::quote;
use std::collections::{HashMap, HashSet};

use crate::identity::resolver::Memory;
use crate::store::{MemoryAsk, StoreError};

#[derive(serde::Deserialize)]
struct Count {
    n: u64,
}

#[derive(serde::Deserialize)]
struct Seen {
    visitor: String,
    last_ms: i64,
}

impl ClickHouseStore {
    /// Whether `id` is a visitor with events on `site` or an end of one of its links: two
    /// primary-key probes.
    pub(super) async fn client_id_known(&self, site: &str, id: &str) -> Result<bool, StoreError> {
        let (site, id) = (quote(site), quote(id));
        let rows: Vec<Count> = self
            .client()
            .rows(
                format!(
                    "SELECT toUInt64((SELECT count() FROM {} WHERE site = {site} AND visitor = {id}) \
                     + (SELECT count() FROM {} WHERE site = {site} AND node = {id})) AS n",
                    self.table("latest_sessions"),
                    self.table("links"),
                ),
                &self.consistent_read(),
            )
            .await?;
        Ok(rows.first().is_some_and(|r| r.n > 0))
    }

    /// The first two id visitors (by id) seen behind `fingerprint` on `day`, with when
    /// each was last seen: the rule only tells none, one and more apart.
    async fn behind(
        &self,
        site: &str,
        fingerprint: &str,
        day: i64,
    ) -> Result<Vec<Seen>, StoreError> {
        self.client()
            .rows(
                format!(
                    "SELECT visitor, max(last_ms) AS last_ms FROM {} \
                     WHERE site = {} AND day = {day} AND fingerprint = {} \
                     GROUP BY visitor ORDER BY visitor LIMIT 2",
                    self.table("fingerprint_seen"),
                    quote(site),
                    quote(fingerprint)
                ),
                &self.consistent_read(),
            )
            .await
    }

    /// [`IdentityState::identity_memory`](crate::store::IdentityState::identity_memory).
    pub(super) async fn memory(
        &self,
        site: &str,
        client_id: Option<&str>,
        fingerprint: &str,
        day: i64,
    ) -> Result<Memory, StoreError> {
        let client_id_known = match client_id {
            None => false,
            Some(id) => self.client_id_known(site, id).await?,
        };
        let seen = if fingerprint.is_empty() {
            Vec::new()
        } else {
            self.behind(site, fingerprint, day).await?
        };
        Ok(Memory {
            client_id_known,
            last_seen_ms: seen.iter().map(|s| s.last_ms).max(),
            behind_fingerprint: seen.into_iter().map(|s| s.visitor).collect(),
            shared_yesterday: false,
            cookie_ids_today: 0,
        })
    }

    /// [`BlockingSink::identity_memories`](crate::store::BlockingSink::identity_memories):
    /// every ask's answer from one query (the ids known among the asked, by primary key
    /// of `latest_sessions` and `links`; the first two visitors behind each asked
    /// fingerprint, `LIMIT 2 BY`), so a batch of new visitors costs one round trip.
    pub(in crate::store::clickhouse) async fn memories(
        &self,
        asks: &[MemoryAsk],
    ) -> Result<Vec<Memory>, StoreError> {
        let mut ids: Vec<String> = Vec::new();
        let mut fingerprints: Vec<String> = Vec::new();
        for a in asks {
            if let Some(id) = &a.client_id {
                ids.push(format!("({}, {})", quote(&a.site), quote(id)));
            }
            if !a.fingerprint.is_empty() {
                fingerprints.push(format!(
                    "({}, {}, {})",
                    quote(&a.site),
                    a.day,
                    quote(&a.fingerprint)
                ));
            }
        }
        let mut parts = Vec::new();
        if !ids.is_empty() {
            let list = ids.join(", ");
            parts.push(format!(
                "SELECT 'known' AS what, site, visitor AS key, toInt64(0) AS day, '' AS visitor_, \
                 toInt64(0) AS last_ms FROM {} WHERE (site, visitor) IN ({list}) GROUP BY site, visitor",
                self.table("latest_sessions")
            ));
            parts.push(format!(
                "SELECT 'known' AS what, site, node AS key, toInt64(0) AS day, '' AS visitor_, \
                 toInt64(0) AS last_ms FROM {} WHERE (site, node) IN ({list}) GROUP BY site, node",
                self.table("links")
            ));
        }
        if !fingerprints.is_empty() {
            parts.push(format!(
                "SELECT 'seen' AS what, site, fingerprint AS key, day, visitor AS visitor_, \
                 max(last_ms) AS last_ms FROM {} WHERE (site, day, fingerprint) IN ({}) \
                 GROUP BY site, day, fingerprint, visitor \
                 ORDER BY site, day, fingerprint, visitor LIMIT 2 BY site, day, fingerprint",
                self.table("fingerprint_seen"),
                fingerprints.join(", ")
            ));
        }
        #[derive(serde::Deserialize)]
        struct Row {
            what: String,
            site: String,
            key: String,
            day: i64,
            visitor_: String,
            last_ms: i64,
        }
        let rows: Vec<Row> = if parts.is_empty() {
            Vec::new()
        } else {
            self.client()
                .rows(parts.join("\nUNION ALL\n"), &self.consistent_read())
                .await?
        };
        let mut known: HashSet<(String, String)> = HashSet::new();
        let mut seen: HashMap<(String, i64, String), Vec<(String, i64)>> = HashMap::new();
        for r in rows {
            if r.what == "known" {
                known.insert((r.site, r.key));
            } else {
                seen.entry((r.site, r.day, r.key))
                    .or_default()
                    .push((r.visitor_, r.last_ms));
            }
        }
        Ok(asks
            .iter()
            .map(|a| {
                let mut behind = seen
                    .get(&(a.site.clone(), a.day, a.fingerprint.clone()))
                    .cloned()
                    .unwrap_or_default();
                behind.sort();
                behind.truncate(2);
                Memory {
                    client_id_known: a
                        .client_id
                        .as_ref()
                        .is_some_and(|id| known.contains(&(a.site.clone(), id.clone()))),
                    last_seen_ms: behind.iter().map(|(_, t)| *t).max(),
                    behind_fingerprint: behind.into_iter().map(|(v, _)| v).collect(),
                    shared_yesterday: false,
                    cookie_ids_today: 0,
                }
            })
            .collect())
    }

    /// [`IdentityState::fingerprint_shared`](crate::store::IdentityState::fingerprint_shared).
    pub(super) async fn shared(
        &self,
        site: &str,
        fingerprint: &str,
        day: i64,
    ) -> Result<bool, StoreError> {
        Ok(self.behind(site, fingerprint, day).await?.len() >= 2)
    }

    /// [`IdentityState::cookie_ids`](crate::store::IdentityState::cookie_ids): the newest
    /// (largest) count, one primary-key read.
    pub(super) async fn ids_of_cookie(
        &self,
        site: &str,
        visitor: &str,
        day: i64,
    ) -> Result<u32, StoreError> {
        #[derive(serde::Deserialize)]
        struct Ids {
            ids: u32,
        }
        let rows: Vec<Ids> = self
            .client()
            .rows(
                format!(
                    "SELECT max(ids) AS ids FROM {} WHERE site = {} AND visitor = {} AND day = {day} \
                     HAVING count() > 0",
                    self.table("cookie_ids"),
                    quote(site),
                    quote(visitor)
                ),
                &self.consistent_read(),
            )
            .await?;
        Ok(rows.first().map_or(0, |r| r.ids))
    }
}
