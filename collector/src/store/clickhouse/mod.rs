//! The ClickHouse store (`--store clickhouse:http://HOST:PORT/DATABASE`): the same seam
//! as [`sqlite`](super::sqlite), for operators who outgrow one machine — one ClickHouse
//! server, or a sharded, replicated cluster (`--clickhouse-cluster`) behind any number of
//! collectors.
//!
//! The collector derives, ClickHouse appends: ClickHouse cannot update a row cheaply, so
//! nothing here is read, changed and written back. Events are appended once (their ids
//! checked first, [`sink`]); a server session is the set of events that carry its id,
//! grouped when a report asks ([`reports`]); identity state is rows replaced by newer
//! versions, every read taking the newest ([`identity`]). Which collector derives what is
//! decided above the store: each visitor is owned by one collector at a time
//! (`peers`), so no two collectors derive the same visitor at once.
//!
//! Layout: `client` the HTTP conversation and quoting · `migrate` the numbered SQL files ·
//! `sink` appending · `rollups` the writer's rollups and the settling of entry and exit
//! visitors · `identity` salts, secrets, links and persons · `reports` the answers ·
//! `maintenance` retention, export, erasure, health.

pub mod client;
mod identity;
mod maintenance;
pub mod migrate;
mod reports;
mod rollups;
pub use rollups::reconcile::Reconciled;
mod sink;

use std::sync::Arc;

use client::{Client, Endpoint};
use migrate::Layout;

use crate::session::SessionRules;
use crate::store::StoreError;

/// Where and how to reach ClickHouse (the parsed `--store clickhouse:…` and
/// `--clickhouse-cluster`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickHouseOptions {
    /// The servers (replicas of the same data, for failover), database and credentials.
    pub endpoint: Endpoint,
    /// The cluster's name in the servers' `remote_servers`, when on a cluster.
    pub cluster: Option<String>,
    /// Replicas of a shard that must have an insert before it is acknowledged
    /// (`insert_quorum`; capped at the shard's replicas). 2 (the default) keeps every
    /// acknowledged event on two machines, and refuses inserts while a shard has one
    /// replica alive; 1 keeps accepting them then.
    pub insert_quorum: u32,
}

/// The store over one ClickHouse database. Cheap to clone (one shared client).
#[derive(Clone)]
pub struct ClickHouseStore {
    inner: Arc<Inner>,
    /// The collector time from which every event is in the rollups (`rollup_marks`);
    /// `i64::MAX` for a handle made by [`ClickHouseStore::without_rollups`].
    since: i64,
}

struct Inner {
    client: Client,
    layout: Layout,
    rules: SessionRules,
    /// The runtime the ingest writer's blocking thread sends its statements to.
    runtime: tokio::runtime::Handle,
    /// Replicas per shard (1 on one server).
    replicas: u32,
    /// Replicas an insert must reach before it is acknowledged.
    quorum: u32,
    /// This store's claim to a job one collector runs (`rollups/reconcile.rs`): random,
    /// the same for every run of the store, so a run that failed is taken up again.
    claim: [u8; 16],
}

impl ClickHouseStore {
    /// Connects, applies the migrations (on the cluster when one is named) and answers the
    /// store. Must be called inside a tokio runtime (the one the writer will use).
    pub async fn open(
        options: ClickHouseOptions,
        rules: SessionRules,
    ) -> Result<ClickHouseStore, StoreError> {
        let layout = Layout {
            db: options.endpoint.database.clone(),
            cluster: options.cluster.clone(),
        };
        let client = Client::new(options.endpoint.clone());
        migrate::migrate(&client, &layout).await?;
        let replicas = match &layout.cluster {
            Some(cluster) => replicas_per_shard(&client, cluster).await?,
            None => 1,
        };
        let quorum = options.insert_quorum.clamp(1, replicas);
        let since = rollups_since(&client, &layout.db).await?;
        let store = ClickHouseStore {
            inner: Arc::new(Inner {
                client,
                layout,
                rules,
                runtime: tokio::runtime::Handle::current(),
                replicas,
                quorum,
                claim: crate::store::random_bytes::<16>()?,
            }),
            since,
        };
        rollups::settle::run(&store);
        identity::salts_ahead::run(&store);
        Ok(store)
    }

    /// The collector time from which every event is in the rollups: 0 on a database made
    /// with them, the latest arrival before them on one made earlier (reports of a range
    /// that starts before it are answered from the events).
    fn since(&self) -> i64 {
        self.since
    }

    /// The same store, every report answered from the events (the rollups' check, and
    /// the benchmark's baseline).
    pub fn without_rollups(&self) -> ClickHouseStore {
        ClickHouseStore {
            inner: Arc::clone(&self.inner),
            since: i64::MAX,
        }
    }

    fn client(&self) -> &Client {
        &self.inner.client
    }

    /// `db.table`: what queries read and inserts write (the Distributed table on a
    /// cluster).
    fn table(&self, name: &str) -> String {
        format!("{}.{name}", self.inner.layout.db)
    }

    /// The table mutations (`ALTER … DELETE`) and `OPTIMIZE` must name: the shards' own
    /// tables on a cluster, with `ON CLUSTER`.
    fn local_table(&self, name: &str) -> String {
        match &self.inner.layout.cluster {
            Some(c) => format!("{}.{name}_local ON CLUSTER {c}", self.inner.layout.db),
            None => self.table(name),
        }
    }

    /// Settings of an insert that must be durable before it is acknowledged: on a cluster,
    /// written to the shard synchronously and to a quorum of its replicas.
    fn insert_settings(&self) -> Vec<(&'static str, String)> {
        let mut s = Vec::new();
        if self.inner.layout.cluster.is_some() {
            s.push(("insert_distributed_sync", "1".to_string()));
            if self.inner.quorum > 1 {
                s.push(("insert_quorum", self.inner.quorum.to_string()));
            }
        }
        s
    }

    /// Settings of an insert of derived state (latest sessions, identity, funnels):
    /// written to the shard synchronously, without a quorum. ClickHouse 18.16 runs one
    /// quorum insert at a time per shard table, so only what is acknowledged to browsers
    /// (events and their ids) waits for a quorum; the state is read back from the replica
    /// it was written to (`load_balancing` `in_order` in the shipped `users.xml`), and
    /// rebuilt by a retry if a replica is lost before it copied it.
    fn state_settings(&self) -> Vec<(&'static str, String)> {
        if self.inner.layout.cluster.is_some() {
            vec![("insert_distributed_sync", "1".to_string())]
        } else {
            Vec::new()
        }
    }

    /// Settings of a read that must see every acknowledged insert (identity state).
    fn consistent_read(&self) -> Vec<(&'static str, String)> {
        if self.inner.replicas > 1 {
            vec![("select_sequential_consistency", "1".to_string())]
        } else {
            Vec::new()
        }
    }

    /// Runs `f` on the store's runtime and waits for it: the ingest writer's blocking side.
    fn block_on<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.inner.runtime.block_on(f)
    }

    /// The session rules (idle timeout, site time zone).
    fn rules(&self) -> &SessionRules {
        &self.inner.rules
    }
}

/// The rollups' `since` mark (see [`ClickHouseStore::since`]): the latest, should the
/// migration have run twice.
async fn rollups_since(client: &Client, db: &str) -> Result<i64, StoreError> {
    #[derive(serde::Deserialize)]
    struct Since {
        at: i64,
    }
    let rows: Vec<Since> = client
        .rows(
            format!("SELECT toInt64(max(at)) AS at FROM {db}.rollup_marks WHERE name = 'since'"),
            &[],
        )
        .await?;
    Ok(rows.first().map_or(0, |r| r.at))
}

/// How many replicas each shard of `cluster` has (the smallest, to be safe).
async fn replicas_per_shard(client: &Client, cluster: &str) -> Result<u32, StoreError> {
    #[derive(serde::Deserialize)]
    struct Row {
        n: u32,
    }
    let rows: Vec<Row> = client
        .rows(
            format!(
                "SELECT toUInt32(min(c)) AS n FROM (SELECT shard_num, count() AS c \
                 FROM system.clusters WHERE cluster = {} GROUP BY shard_num)",
                client::quote(cluster)
            ),
            &[],
        )
        .await?;
    Ok(rows.first().map_or(1, |r| r.n.max(1)))
}
