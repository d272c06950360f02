//! The identity memory the ingest writer reads on a cache miss, each by primary key:
//! whether a client id is known (a visitor with events, in `visitor_sessions`, or the end
//! of a link), who was seen behind a fingerprint on a day, and the per-cookie daily count
//! of client ids. The same answers as the SQLite store's
//! (`store/sqlite/identity.rs`: `memory`, `fingerprint_shared`, `cookie_ids`).

use super::super::ClickHouseStore;
use super::super::client::quote;
use crate::identity::resolver::Memory;
use crate::store::StoreError;

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
                    self.table("visitor_sessions"),
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
