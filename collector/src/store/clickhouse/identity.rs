//! [`IdentityState`] on ClickHouse: daily salts and secrets chosen the same by every
//! collector, credentials, the identity memory behind the writer's caches, and persons.

use super::ClickHouseStore;
use super::client::{backend, quote};
use crate::identity::graph::Mode;
use crate::identity::resolver::Memory;
use crate::store::{IdentityState, LinkView, Person, StoreError, StoreFuture, random_bytes};

/// Not written yet on this engine.
fn unsupported<T>(what: &str) -> StoreFuture<'static, T> {
    let e: StoreError = backend(format!("{what}: not yet on ClickHouse"));
    Box::pin(async move { Err(e) })
}

/// How long a collector that created a secret waits before reading back which one won:
/// longer than any insert in flight from a collector that started at the same moment.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(750);

#[derive(serde::Deserialize)]
struct Value {
    value: String,
}

impl ClickHouseStore {
    /// The secret or salt filed under `(kind, name)`: the earliest created (then the
    /// smallest) of the candidates collectors inserted, creating one when there is none.
    async fn chosen(&self, kind: &str, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let rows: Vec<Value> = self
            .client()
            .rows(
                format!(
                    "SELECT argMin(value, (created, value)) AS value FROM {} \
                     WHERE kind = {} AND name = {} AND deleted = 0 HAVING count() > 0",
                    self.table("secrets"),
                    quote(kind),
                    quote(name)
                ),
                &self.consistent_read(),
            )
            .await?;
        rows.first().map(|r| hex_decode(&r.value)).transpose()
    }

    /// [`ClickHouseStore::chosen`], inserting `candidate` first when there is none and
    /// reading back which candidate won once racing collectors had time to insert theirs.
    async fn chosen_or_create(
        &self,
        kind: &str,
        name: &str,
        candidate: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        if let Some(v) = self.chosen(kind, name).await? {
            return Ok(v);
        }
        let now = now_ms();
        self.client()
            .command(
                format!(
                    "INSERT INTO {} (name, value, created, kind, deleted, version) VALUES ({}, {}, {now}, {}, 0, 0)",
                    self.table("secrets"),
                    quote(name),
                    quote(&hex_encode(candidate)),
                    quote(kind)
                ),
                &self.insert_settings(),
            )
            .await?;
        tokio::time::sleep(SETTLE).await;
        self.chosen(kind, name)
            .await?
            .ok_or_else(|| backend(format!("{kind} {name}: inserted but not read back")))
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
                    &self.insert_settings(),
                )
                .await?;
            if value.is_none() {
                // A deleted secret of the same name is made anew on its next read.
                self.client()
                    .command(
                        format!(
                            "ALTER TABLE {} DELETE WHERE kind = 'secret' AND name = {}",
                            self.local_table("secrets"),
                            quote(&name)
                        ),
                        &[("mutations_sync", "1".to_string())],
                    )
                    .await?;
            }
            Ok(())
        })
    }

    fn identity_memory(
        &self,
        _site: &str,
        _client_id: Option<&str>,
        _fingerprint: &str,
        _day: i64,
    ) -> StoreFuture<'_, Memory> {
        // TODO(chidentity): read the identity tables; until then nothing is remembered.
        Box::pin(async move { Ok(Memory::default()) })
    }

    fn fingerprint_shared(
        &self,
        _site: &str,
        _fingerprint: &str,
        _day: i64,
    ) -> StoreFuture<'_, bool> {
        Box::pin(async move { Ok(false) })
    }

    fn cookie_ids(&self, _site: &str, _visitor: &str, _day: i64) -> StoreFuture<'_, u32> {
        Box::pin(async move { Ok(0) })
    }

    fn person(&self, _site: &str, _visitor: &str, _mode: Mode) -> StoreFuture<'_, Option<Person>> {
        unsupported("person")
    }

    fn explain(
        &self,
        _site: &str,
        _a: &str,
        _b: &str,
        _mode: Mode,
    ) -> StoreFuture<'_, Option<Vec<LinkView>>> {
        unsupported("explain")
    }

    fn refused(
        &self,
        _site: &str,
        _a: &str,
        _b: &str,
        _mode: Mode,
    ) -> StoreFuture<'_, Vec<LinkView>> {
        unsupported("refused")
    }

    fn event_persons(&self, _site: &str, _mode: Mode) -> StoreFuture<'_, Vec<(String, String)>> {
        unsupported("event_persons")
    }

    fn undo_link(&self, _id: i64) -> StoreFuture<'_, bool> {
        unsupported("undo_link")
    }
}

impl ClickHouseStore {
    /// Writes the identity side effects of `events` (new events only, in order; see
    /// [`IdentityEffects`](crate::event::IdentityEffects)): links (each pair and kind once,
    /// a login back after another user's as a new one), withdrawn fingerprint links, the
    /// fingerprint observations, the per-cookie id counters, and the persons they make.
    /// Called by the sink after the events' own rows are written.
    // TODO(chidentity): everything; until then nothing is written.
    pub(super) async fn apply_identity(
        &self,
        _events: &[&crate::event::Event],
    ) -> Result<(), StoreError> {
        Ok(())
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
