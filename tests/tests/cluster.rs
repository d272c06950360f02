//! The ClickHouse harness (`spoor_e2e::cluster`) on the real servers, with plain SQL over
//! HTTP and no Spoor store: the shipped configurations start, authenticate, cap memory,
//! compress with zstd and keep no system log; and the 2 shards x 2 replicas cluster of
//! `scripts/cluster.sh` replicates, survives a replica killed with SIGKILL while inserts go
//! on, and lets it catch up.
//!
//! Both tests skip, saying so, when `clickhouse-server` is not installed; `scripts/setup.sh`
//! installs it (with ZooKeeper), so CI runs them.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use spoor_e2e::cluster::{self, ClickHouse, Cluster, ClusterOptions};

/// Says why a test does nothing on this machine.
fn skip_without_clickhouse() -> bool {
    if cluster::clickhouse_installed() {
        return false;
    }
    eprintln!("SKIPPED: clickhouse-server is not installed (scripts/setup.sh installs it)");
    true
}

#[tokio::test]
async fn one_server_from_the_shipped_config() -> anyhow::Result<()> {
    if skip_without_clickhouse() {
        return Ok(());
    }
    let started = Instant::now();
    let server = ClickHouse::start().await?;
    eprintln!(
        "one ClickHouse server answered /ping after {} ms",
        started.elapsed().as_millis()
    );

    // No passwordless user: a query without credentials, or with a wrong password, is
    // refused.
    let (status, _) =
        cluster::request(&format!("{}/?query=SELECT+1", server.url), None, None).await?;
    assert_ne!(status, 200, "a query without credentials was answered");
    let (status, _) = cluster::request(&server.url, Some("wrong"), Some("SELECT 1")).await?;
    assert_ne!(status, 200, "a wrong password was accepted");

    // The profile's memory caps and quiet query log are in force.
    let settings = server
        .query(
            "SELECT name, value FROM system.settings WHERE name IN \
             ('max_memory_usage', 'max_memory_usage_for_all_queries', 'log_queries') \
             ORDER BY name FORMAT TSV",
        )
        .await?;
    assert_eq!(
        settings,
        "log_queries\t0\nmax_memory_usage\t1000000000\nmax_memory_usage_for_all_queries\t1500000000\n"
    );

    // Parts are written with zstd: the method byte of a compressed block (after its 16-byte
    // checksum) is 0x90 for zstd, 0x82 for lz4, ClickHouse's default.
    server.query("CREATE DATABASE e2e").await?;
    server
        .query("CREATE TABLE e2e.t (id UInt64, v String) ENGINE = MergeTree ORDER BY id")
        .await?;
    server
        .query("INSERT INTO e2e.t SELECT number, toString(number) FROM numbers(10000)")
        .await?;
    assert_eq!(server.query("SELECT count() FROM e2e.t").await?, "10000\n");
    let part = std::fs::read_dir(server.dir.join("data/data/e2e/t"))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("v.bin").is_file())
        .context("no part of e2e.t on disk")?;
    let bin = std::fs::read(part.join("v.bin"))?;
    assert_eq!(bin.get(16), Some(&0x90), "v.bin's first block is not zstd");

    // System logs stay empty: flushing creates no query_log or part_log table.
    server.query("SYSTEM FLUSH LOGS").await?;
    let logs = server
        .query(
            "SELECT count() FROM system.tables WHERE database = 'system' \
             AND name IN ('query_log', 'query_thread_log', 'part_log', 'trace_log', 'metric_log')",
        )
        .await?;
    assert_eq!(logs, "0\n", "a system log table was created");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_replicates_and_a_killed_replica_catches_up() -> anyhow::Result<()> {
    if skip_without_clickhouse() {
        return Ok(());
    }
    let started = Instant::now();
    let cluster = Cluster::start(ClusterOptions::default()).await?;
    eprintln!(
        "ZooKeeper and 4 ClickHouse servers answered after {} ms",
        started.elapsed().as_millis()
    );
    // The macros of each server, as the replicated tables' paths will read them.
    for (i, want) in ["1 r1", "1 r2", "2 r1", "2 r2"].iter().enumerate() {
        let macros = cluster
            .query(i, "SELECT groupArray(substitution) FROM (SELECT * FROM system.macros ORDER BY macro DESC) FORMAT TSV")
            .await?;
        assert_eq!(macros.trim(), format!("['{}']", want.replace(' ', "','")));
    }

    cluster
        .query(0, "CREATE DATABASE IF NOT EXISTS e2e ON CLUSTER spoor")
        .await?;
    cluster
        .query(
            0,
            "CREATE TABLE e2e.rows_local ON CLUSTER spoor (id UInt64, v String) \
             ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/e2e/rows', '{replica}') \
             ORDER BY id",
        )
        .await?;
    cluster
        .query(
            0,
            "CREATE TABLE e2e.rows ON CLUSTER spoor AS e2e.rows_local \
             ENGINE = Distributed(spoor, e2e, rows_local, intHash64(id))",
        )
        .await?;

    // Acknowledged only once both replicas of each shard have the rows.
    cluster
        .query_with(
            1,
            &[("insert_distributed_sync", "1"), ("insert_quorum", "2")],
            "INSERT INTO e2e.rows SELECT number, toString(number) FROM numbers(1000)",
        )
        .await?;
    check_every_replica(&cluster, 0..1000, &[0, 1, 2, 3]).await?;

    // Shard 1 loses a replica. Its survivor takes the next rows alone: a quorum of 2 is
    // impossible now (ClickHouse refuses it, Code 285, once the dead replica's ZooKeeper
    // session has expired), so these go without one, synchronously.
    cluster.kill_replica(1).await?;
    cluster
        .query_with(
            0,
            &[("insert_distributed_sync", "1")],
            "INSERT INTO e2e.rows SELECT number, toString(number) FROM numbers(1000, 1000)",
        )
        .await?;
    check_every_replica(&cluster, 0..2000, &[0, 2, 3]).await?;

    cluster.restart_replica(1).await?;
    let caught_up = Instant::now();
    wait_caught_up(&cluster, 1, Duration::from_secs(45)).await?;
    eprintln!(
        "the restarted replica caught up {} ms after it answered",
        caught_up.elapsed().as_millis()
    );
    check_every_replica(&cluster, 0..2000, &[0, 1, 2, 3]).await?;
    Ok(())
}

/// The rows of `e2e.rows_local` on replica `i`, as (id, v) pairs.
async fn local_rows(cluster: &Cluster, i: usize) -> anyhow::Result<BTreeSet<(u64, String)>> {
    let text = cluster
        .query(
            i,
            "SELECT id, v FROM e2e.rows_local FINAL ORDER BY id FORMAT TSV",
        )
        .await?;
    text.lines()
        .map(|line| {
            let (id, v) = line.split_once('\t').context("a row without a tab")?;
            Ok((id.parse()?, v.to_string()))
        })
        .collect()
}

/// Polls [`replicas_agree`] until it holds: a write without a quorum reaches the other
/// replica of its shard asynchronously, so a replica may lag a moment behind its twin.
async fn check_every_replica(
    cluster: &Cluster,
    ids: std::ops::Range<u64>,
    live: &[usize],
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match replicas_agree(cluster, ids.clone(), live).await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Each live replica reads every row through the Distributed table, each live replica of a
/// shard holds the same rows, and the shards split `ids` between them without overlap.
async fn replicas_agree(
    cluster: &Cluster,
    ids: std::ops::Range<u64>,
    live: &[usize],
) -> anyhow::Result<()> {
    let want: BTreeSet<(u64, String)> = ids.clone().map(|n| (n, n.to_string())).collect();
    let sum: u64 = ids.clone().sum();
    for &i in live {
        let total = cluster
            .query(i, "SELECT count(), sum(id) FROM e2e.rows FORMAT TSV")
            .await?;
        if total != format!("{}\t{sum}\n", want.len()) {
            bail!("replica {i} reads {total:?} through the Distributed table");
        }
    }
    let mut shards = Vec::new();
    for shard in [[0, 1], [2, 3]] {
        let mut rows = None;
        for i in shard.into_iter().filter(|i| live.contains(i)) {
            let got = local_rows(cluster, i).await?;
            match &rows {
                None => rows = Some(got),
                Some(twin) if *twin != got => bail!("replica {i} differs from its twin"),
                Some(_) => {}
            }
        }
        let rows = rows.context("a shard with no live replica")?;
        if rows.is_empty() {
            bail!("shard {shard:?} got no rows");
        }
        shards.push(rows);
    }
    if !shards[0].is_disjoint(&shards[1]) {
        bail!("a row is on both shards");
    }
    let all: BTreeSet<_> = shards[0].union(&shards[1]).cloned().collect();
    if all != want {
        bail!(
            "the shards hold {} rows, not exactly the {} sent",
            all.len(),
            want.len()
        );
    }
    Ok(())
}

/// Polls `system.replicas` on replica `i` until its replication queue is empty, nothing is
/// delayed, both replicas are active and it holds as many rows as its twin.
async fn wait_caught_up(cluster: &Cluster, i: usize, timeout: Duration) -> anyhow::Result<()> {
    let twin = i ^ 1;
    let deadline = Instant::now() + timeout;
    loop {
        let state = cluster
            .query(
                i,
                "SELECT is_readonly, queue_size, absolute_delay, active_replicas \
                 FROM system.replicas WHERE database = 'e2e' AND table = 'rows_local' FORMAT TSV",
            )
            .await?;
        let count = cluster
            .query(i, "SELECT count() FROM e2e.rows_local")
            .await?;
        let twin_count = cluster
            .query(twin, "SELECT count() FROM e2e.rows_local")
            .await?;
        if state == "0\t0\t0\t2\n" && count == twin_count {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "replica {i} did not catch up within {timeout:?}: \
                 is_readonly, queue_size, absolute_delay, active_replicas = {state:?}; \
                 {count:?} rows against its twin's {twin_count:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `POST /collect` of one cookieless page view numbered `n`; the status code.
async fn post_page_view(base: &str, n: u32) -> anyhow::Result<u16> {
    use http_body_util::Full;
    use hyper::body::Bytes;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let now = spoor_collector::clock::now_ms();
    let body = format!(
        r#"{{"site":"demo","events":[{{"id":"00000000-0000-4000-8000-{n:012x}","type":"pageview","url":"http://127.0.0.1/p{n}","ts":{now},"screen":"1280x720"}}]}}"#
    );
    let request = hyper::Request::post(format!("{base}/collect"))
        .header("Content-Type", "text/plain")
        .header("User-Agent", "ClusterTest/1.0")
        .body(Full::new(Bytes::from(body)))?;
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request)).await??;
    Ok(response.status().as_u16())
}

/// Events stored by collector `i` of a cluster started with `sqlite`.
fn stored(cluster: &Cluster, i: usize) -> anyhow::Result<i64> {
    let db = rusqlite::Connection::open(cluster.collector_db(i))?;
    Ok(db.query_row("SELECT count(*) FROM events", [], |row| row.get(0))?)
}

/// The nginx and collector half of `scripts/cluster.sh up`, each collector on its own
/// SQLite file (`--sqlite`, so it runs before the ClickHouse store exists): nginx spreads
/// requests round-robin with no stickiness, and a collector killed with SIGKILL costs no
/// request: nginx passes them to the survivors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_round_robins_and_passes_over_a_dead_collector() -> anyhow::Result<()> {
    if skip_without_clickhouse() {
        return Ok(());
    }
    let cluster = Cluster::start(ClusterOptions {
        collectors: 3,
        sqlite: true,
        ..ClusterOptions::default()
    })
    .await?;
    let front = cluster.front.clone().context("no front")?;

    for n in 0..12 {
        assert_eq!(post_page_view(&front, n).await?, 204, "page view {n}");
    }
    let counts: Vec<i64> = (0..3)
        .map(|i| stored(&cluster, i))
        .collect::<Result<_, _>>()?;
    assert_eq!(counts, [4, 4, 4], "12 requests in turn over 3 collectors");

    cluster.kill_collector(1).await?;
    for n in 12..24 {
        assert_eq!(post_page_view(&front, n).await?, 204, "page view {n}");
    }
    assert_eq!(
        stored(&cluster, 0)? + stored(&cluster, 2)?,
        20,
        "the survivors took every request sent while collector 1 was dead"
    );

    // `up` brings it back on its port and file, which still hold its 4 events.
    cluster.restart_collector(1).await?;
    assert_eq!(stored(&cluster, 1)?, 4);
    Ok(())
}
