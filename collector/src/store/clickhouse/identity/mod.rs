//! [`IdentityState`] on ClickHouse: daily salts and secrets chosen the same by every
//! collector, credentials, the identity memory behind the writer's caches (`memory`),
//! links (`links`, written by `apply`), persons kept at write time (`persons`) and the
//! reads behind them (`views`).

mod apply;
mod ids;
mod links;
mod memory;
mod persons;
pub(in crate::store::clickhouse) mod salts_ahead;
mod views;

use super::ClickHouseStore;
use super::client::{backend, quote};
use crate::identity::graph::Mode;
use crate::identity::resolver::Memory;
use crate::store::{IdentityState, LinkView, Person, StoreError, StoreFuture, random_bytes};

/// How long after a salt or secret candidate was created a reader trusts the earliest
/// candidate as final, on one server: longer than any candidate's insert takes there.
const WINDOW_ONE_SERVER: std::time::Duration = std::time::Duration::from_secs(1);

/// The same on a cluster, where an insert goes through a `Distributed` table to a shard
/// and takes about a second under load (a refused one is retried, not waited for).
const WINDOW_CLUSTER: std::time::Duration = std::time::Duration::from_secs(5);

/// The earliest candidate of a salt or secret, and when it was created (collector time).
#[derive(serde::Deserialize)]
struct Candidate {
    value: String,
    #[serde(rename = "earliest")]
    created: i64,
}

impl ClickHouseStore {
    /// How long after a candidate's creation any racing candidate has landed.
    fn candidate_window(&self) -> std::time::Duration {
        if self.inner.layout.cluster.is_some() {
            WINDOW_CLUSTER
        } else {
            WINDOW_ONE_SERVER
        }
    }

    /// The earliest created (then the smallest) of the candidates collectors inserted
    /// under `(kind, name)`.
    async fn chosen(&self, kind: &str, name: &str) -> Result<Option<Candidate>, StoreError> {
        let rows: Vec<Candidate> = self
            .client()
            .rows(
                format!(
                    "SELECT argMin(value, (created, value)) AS value, min(created) AS earliest FROM {} \
                     WHERE kind = {} AND name = {} AND deleted = 0 HAVING count() > 0",
                    self.table("secrets"),
                    quote(kind),
                    quote(name)
                ),
                &self.consistent_read(),
            )
            .await?;
        Ok(rows.into_iter().next())
    }

    /// The secret or salt filed under `(kind, name)`, the same for every collector: the
    /// earliest created (then the smallest) of the candidates, once it is older than
    /// [`candidate_window`](Self::candidate_window), inserting `candidate` first when there is none.
    ///
    /// Collectors that find none at about the same time each insert theirs. A candidate is
    /// created before the earliest one became visible to its collector, and lands within
    /// that window of its creation; so once the earliest seen is that old, no
    /// candidate can land that was created before it, and every reader from then on takes
    /// the same. A reader that finds a younger one waits out its window. (Trusting the
    /// earliest seen at once split a day's cookieless visitors in two on a busy cluster,
    /// where a racing insert took longer than the fixed wait the store used to make.)
    pub(in crate::store::clickhouse) async fn chosen_or_create(
        &self,
        kind: &str,
        name: &str,
        candidate: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let window = i64::try_from(self.candidate_window().as_millis()).unwrap_or(i64::MAX);
        let mut inserted = false;
        // A candidate dated ahead by a skewed clock is taken after a few waits.
        let mut waits = 0;
        loop {
            match self.chosen(kind, name).await? {
                Some(c) => {
                    let age = now_ms().saturating_sub(c.created);
                    if age >= window || waits >= 3 {
                        return hex_decode(&c.value);
                    }
                    waits += 1;
                    let wait = u64::try_from(window - age.max(0)).unwrap_or(0);
                    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                }
                None if inserted => {
                    return Err(backend(format!(
                        "{kind} {name}: inserted but not read back"
                    )));
                }
                None => {
                    self.insert_candidate(kind, name, candidate).await?;
                    inserted = true;
                }
            }
        }
    }

    /// Inserts `candidate` for `(kind, name)`, created now.
    async fn insert_candidate(
        &self,
        kind: &str,
        name: &str,
        candidate: &[u8],
    ) -> Result<(), StoreError> {
        self.client()
            .command(
                format!(
                    "INSERT INTO {} (name, value, created, kind, deleted, version) VALUES ({}, {}, {}, {}, 0, 0)",
                    self.table("secrets"),
                    quote(name),
                    quote(&hex_encode(candidate)),
                    now_ms(),
                    quote(kind)
                ),
                &self.state_settings(),
            )
            .await
    }
}

impl IdentityState for ClickHouseStore {
    fn daily_salt(&self, day: i64) -> StoreFuture<'_, [u8; 32]> {
        Box::pin(async move {
            let candidate = random_bytes::<32>()?;
            let v = self
                .chosen_or_create("salt", &day.to_string(), &candidate)
                .await?;
            v.try_into()
                .map_err(|_| backend(format!("salt of day {day}: not 32 bytes")))
        })
    }

    fn expire_salts(&self, today: i64) -> StoreFuture<'_, usize> {
        Box::pin(async move {
            #[derive(serde::Deserialize)]
            struct N {
                n: u64,
            }
            let before = today - 1;
            let n = self
                .client()
                .rows::<N>(
                    format!(
                        "SELECT uniqExact(name) AS n FROM {} WHERE kind = 'salt' AND toInt64OrZero(name) < {before}",
                        self.table("secrets")
                    ),
                    &[],
                )
                .await?
                .first()
                .map_or(0, |r| r.n);
            if n > 0 {
                for (table, condition) in [
                    (
                        "secrets",
                        format!("kind = 'salt' AND toInt64OrZero(name) < {before}"),
                    ),
                    ("fingerprint_seen", format!("day < {before}")),
                    ("cookie_ids", format!("day < {before}")),
                ] {
                    self.client()
                        .command(
                            format!(
                                "ALTER TABLE {} DELETE WHERE {condition}",
                                self.local_table(table)
                            ),
                            &[],
                        )
                        .await?;
                }
            }
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    fn secret(&self, name: &str) -> StoreFuture<'_, [u8; 64]> {
        let name = name.to_string();
        Box::pin(async move {
            let candidate = random_bytes::<64>()?;
            let v = self.chosen_or_create("secret", &name, &candidate).await?;
            v.try_into()
                .map_err(|_| backend(format!("secret {name}: not 64 bytes")))
        })
    }

    fn credential(&self, name: &str) -> StoreFuture<'_, Option<Vec<u8>>> {
        let name = name.to_string();
        Box::pin(async move {
            #[derive(serde::Deserialize)]
            struct Newest {
                value: String,
                deleted: u8,
            }
            let rows: Vec<Newest> = self
                .client()
                .rows(
                    format!(
                        "SELECT argMax(value, version) AS value, toUInt8(argMax(deleted, version)) AS deleted \
                         FROM {} WHERE kind = 'credential' AND name = {} HAVING count() > 0",
                        self.table("secrets"),
                        quote(&name)
                    ),
                    &self.consistent_read(),
                )
                .await?;
            match rows.first() {
                Some(r) if r.deleted == 0 => Ok(Some(hex_decode(&r.value)?)),
                _ => Ok(None),
            }
        })
    }

    fn set_credential(&self, name: &str, value: Option<&[u8]>) -> StoreFuture<'_, ()> {
        let name = name.to_string();
        let value = value.map(<[u8]>::to_vec);
        Box::pin(async move {
            let version = now_ms().max(0) as u64 * 1000 + u64::from(random_bytes::<2>()?[0]);
            let (kind, hex, deleted) = match &value {
                Some(v) => ("credential", hex_encode(v), 0),
                None => ("credential", String::new(), 1),
            };
            self.client()
                .command(
                    format!(
                        "INSERT INTO {} (name, value, created, kind, deleted, version) VALUES ({}, {}, {}, {}, {deleted}, {version})",
                        self.table("secrets"),
                        quote(&name),
                        quote(&hex),
                        now_ms(),
                        quote(kind)
                    ),
                    &self.state_settings(),
                )
                .await?;
            if value.is_none() {
                // A deleted secret of the same name is made anew on its next read. 18.16
                // has no `mutations_sync`: the mutation is waited for in `system.mutations`.
                self.client()
                    .command(
                        format!(
                            "ALTER TABLE {} DELETE WHERE kind = 'secret' AND name = {}",
                            self.local_table("secrets"),
                            quote(&name)
                        ),
                        &[],
                    )
                    .await?;
                self.mutated().await?;
            }
            Ok(())
        })
    }

    fn identity_memory(
        &self,
        site: &str,
        client_id: Option<&str>,
        fingerprint: &str,
        day: i64,
    ) -> StoreFuture<'_, Memory> {
        let (site, client_id, fingerprint) = (
            site.to_string(),
            client_id.map(str::to_string),
            fingerprint.to_string(),
        );
        Box::pin(async move {
            self.memory(&site, client_id.as_deref(), &fingerprint, day)
                .await
        })
    }

    fn fingerprint_shared(&self, site: &str, fingerprint: &str, day: i64) -> StoreFuture<'_, bool> {
        let (site, fingerprint) = (site.to_string(), fingerprint.to_string());
        Box::pin(async move { self.shared(&site, &fingerprint, day).await })
    }

    fn cookie_ids(&self, site: &str, visitor: &str, day: i64) -> StoreFuture<'_, u32> {
        let (site, visitor) = (site.to_string(), visitor.to_string());
        Box::pin(async move { self.ids_of_cookie(&site, &visitor, day).await })
    }

    fn person(&self, site: &str, visitor: &str, mode: Mode) -> StoreFuture<'_, Option<Person>> {
        let (site, visitor) = (site.to_string(), visitor.to_string());
        Box::pin(async move { self.person_of(&site, &visitor, mode).await })
    }

    fn explain(
        &self,
        site: &str,
        a: &str,
        b: &str,
        mode: Mode,
    ) -> StoreFuture<'_, Option<Vec<LinkView>>> {
        let (site, a, b) = (site.to_string(), a.to_string(), b.to_string());
        Box::pin(async move { self.explain_pair(&site, &a, &b, mode).await })
    }

    fn refused(&self, site: &str, a: &str, b: &str, mode: Mode) -> StoreFuture<'_, Vec<LinkView>> {
        let (site, a, b) = (site.to_string(), a.to_string(), b.to_string());
        Box::pin(async move { self.refused_between(&site, &a, &b, mode).await })
    }

    fn event_persons(&self, site: &str, mode: Mode) -> StoreFuture<'_, Vec<(String, String)>> {
        let site = site.to_string();
        Box::pin(async move { self.persons_of_events(&site, mode).await })
    }

    fn undo_link(&self, id: i64) -> StoreFuture<'_, bool> {
        Box::pin(async move { self.deactivate(id).await })
    }
}

impl ClickHouseStore {
    /// Works out again, from the links that remain, the persons of `nodes` (ends of links
    /// deleted by a purge or an erasure) and writes them.
    pub(in crate::store::clickhouse) async fn relink(
        &self,
        site: &str,
        nodes: &[&str],
    ) -> Result<(), StoreError> {
        let mut links = links::LinkCache::default();
        let mut persons = persons::PersonCache::default();
        persons.relink(self, &mut links, site, nodes).await?;
        persons.flush(self).await
    }

    /// The maintenance epoch: grows whenever a purge or an erasure deleted identity state
    /// (links, observations, counters, persons) that any collector's writer may hold in
    /// its caches. A primary-key read of `secrets` (kind `epoch`); 0 before the first.
    /// The sink's [`identity_epoch`](crate::store::EventSink::identity_epoch) answers it,
    /// so every collector's writer drops its identity caches after one.
    pub(in crate::store::clickhouse) async fn maintenance_epoch(&self) -> Result<u64, StoreError> {
        #[derive(serde::Deserialize)]
        struct Epoch {
            epoch: u64,
        }
        let rows: Vec<Epoch> = self
            .client()
            .rows(
                format!(
                    "SELECT max(version) AS epoch FROM {} WHERE kind = 'epoch' AND name = 'maintenance'",
                    self.table("secrets")
                ),
                &self.consistent_read(),
            )
            .await?;
        Ok(rows.first().map_or(0, |r| r.epoch))
    }

    /// Moves the maintenance epoch past every value it had (a version from this
    /// collector's clock, above the newest stored).
    pub(in crate::store::clickhouse) async fn bump_maintenance_epoch(
        &self,
    ) -> Result<(), StoreError> {
        let current = self.maintenance_epoch().await?;
        let epoch = ids::next_version().max(current + 1);
        self.client()
            .command(
                format!(
                    "INSERT INTO {} (name, value, created, kind, deleted, version)                      VALUES ('maintenance', '', {}, 'epoch', 0, {epoch})",
                    self.table("secrets"),
                    now_ms()
                ),
                &self.state_settings(),
            )
            .await
    }
}

/// Milliseconds since the Unix epoch by the system clock.
pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(s: &str) -> Result<Vec<u8>, StoreError> {
    if s.len() % 2 != 0 {
        return Err(backend("odd-length hex in the store".into()));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&s[i..i + 2], 16)
                .map_err(|e| backend(format!("bad hex in the store: {e}")))
        })
        .collect()
}
