//! From accepted request to durable row: a bounded queue and one batching writer, which
//! derives in memory what it can and appends to the store.
//!
//! A handler hands its work to the writer and waits: events already resolved
//! ([`Ingest::submit`]: server-side batches, untracked browsers), or a browser's batch for
//! the writer to resolve ([`Ingest::submit_browser`], see [`resolve`]). The writer takes
//! the first waiting job and every job already queued behind it (what arrived while the
//! last commit ran: group commit without a timer), up to `batch_max_events` events, then
//! with a `batch_max_wait` above zero waits that long for more; it resolves the browser batches one after the other against
//! its identity memory (`identity_memory`: cached across commits, the store read on a
//! miss), commits all events in one transaction, and only then answers every waiting
//! handler. So one fsync serves many requests (group commit), and nothing is acknowledged
//! before it is on disk. When the queue is full, `submit` fails at once with
//! [`IngestError::Full`] rather than letting memory grow.
//!
//! Layout: the `/collect` pipeline's steps, in the order a request meets them —
//! [`envelope`] (content type, body, envelope, site) · [`origin`] · [`bots`] ·
//! [`validate`] (each event, failed events) · [`privacy`] (DNT/GPC) · [`enrich`] (user
//! agent classes, country) · [`submit`] (to the writer), each refusal a typed
//! [`Refusal`](refusal::Refusal) naming its metrics label and its answer; then `mod.rs`
//! the queue and the writer loop · [`resolve`] who sent each browser event ·
//! `identity_memory` the identity memory's caches and the batch's overlay · `hot` the
//! bounded map the caches are made of.
//!
//! Faults: a request waits at most `store_deadline` for its commit, then gets
//! [`IngestError::Timeout`] (a 503): its events stay queued and may still be committed,
//! which is harmless because the client retries with the same event ids and the store
//! skips ids it has. A commit that fails (file full, read-only, locked beyond SQLite's busy
//! timeout) answers every request of the batch with the error, stores none of it, leaves
//! the caches as they were (what the batch derived is dropped with it), and the writer
//! goes on with the next batch, so the collector recovers by itself once the store can
//! write again. Memory is bounded by the queue: at most `queue_capacity` requests of at
//! most one batch each wait, plus the batch being committed, plus the caches
//! (`hot_visitors` entries each).
//!
//! Shutdown: when every [`Ingest`] handle is dropped the queue closes; the writer commits
//! what is still queued and ends, which the owner awaits through the writer's join handle.

pub mod bots;
pub mod enrich;
pub mod envelope;
pub(crate) mod hot;
pub(crate) mod identity_memory;
pub mod origin;
pub mod privacy;
pub mod refusal;
pub mod resolve;
pub mod submit;
pub mod validate;

use std::collections::HashSet;
use std::sync::Arc;

use std::time::Instant;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::IngestConfig;
use crate::event::Event;
use crate::metrics::Metrics;
use crate::store::{BlockingSink, InsertOutcome, StoreError};
use identity_memory::{HotIdentity, Overlay, View};
pub use resolve::{BrowserBatch, CookieAnswer, Resolution};

/// Why events were not stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The queue is full; retry later.
    #[error("ingest queue full")]
    Full,
    /// The writer has stopped (the collector is shutting down).
    #[error("ingest writer stopped")]
    Closed,
    /// The store refused the batch; nothing of it was stored.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The commit did not complete within the store deadline; the events may still be
    /// stored later (a retry with the same ids is deduplicated).
    #[error("commit not done within the store deadline")]
    Timeout,
}

/// What one request asks of the writer.
enum Work {
    /// Events whose visitors are decided.
    Resolved(Vec<Event>),
    /// A browser batch to resolve first.
    Browser(BrowserBatch),
}

impl Work {
    fn len(&self) -> usize {
        match self {
            Work::Resolved(events) => events.len(),
            Work::Browser(batch) => batch.events.len(),
        }
    }
}

/// How one request's work went.
type Done = Result<(InsertOutcome, Resolution), Arc<StoreError>>;

/// One request's work and where to send the outcome.
struct Job {
    work: Work,
    done: oneshot::Sender<Done>,
}

/// A handle for submitting events; cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    queue: mpsc::Sender<Job>,
    /// Longest [`Ingest::submit`] waits for the commit.
    deadline: std::time::Duration,
}

impl Ingest {
    /// Starts the writer over `store`. The returned handle ends when every [`Ingest`] clone
    /// is dropped and the queue is drained.
    pub fn start(store: Arc<dyn BlockingSink>, config: IngestConfig) -> (Ingest, JoinHandle<()>) {
        Ingest::start_observed(store, config, Arc::new(Metrics::default()))
    }

    /// [`Ingest::start`], recording each commit's size and latency in `metrics`.
    pub fn start_observed(
        store: Arc<dyn BlockingSink>,
        config: IngestConfig,
        metrics: Arc<Metrics>,
    ) -> (Ingest, JoinHandle<()>) {
        let (queue, jobs) = mpsc::channel(config.queue_capacity);
        let runtime = tokio::runtime::Handle::current();
        let writer = tokio::task::spawn_blocking(move || {
            write_batches(jobs, &*store, config, &metrics, &runtime);
        });
        let deadline = config.store_deadline;
        (Ingest { queue, deadline }, writer)
    }

    /// Requests waiting for the writer now.
    pub fn queue_depth(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// Queues `events` and waits until they are committed, at most the store deadline.
    /// Returns how many were new.
    pub async fn submit(&self, events: Vec<Event>) -> Result<InsertOutcome, IngestError> {
        Ok(self.run(Work::Resolved(events)).await?.0)
    }

    /// Queues a browser's batch, to be resolved by the writer ([`resolve`]), and waits
    /// until it is committed, at most the store deadline. Returns how many were new and
    /// the cookie the response should set.
    pub async fn submit_browser(
        &self,
        batch: BrowserBatch,
    ) -> Result<(InsertOutcome, Resolution), IngestError> {
        self.run(Work::Browser(batch)).await
    }

    async fn run(&self, work: Work) -> Result<(InsertOutcome, Resolution), IngestError> {
        let (done, outcome) = oneshot::channel();
        self.queue
            .try_send(Job { work, done })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => IngestError::Full,
                mpsc::error::TrySendError::Closed(_) => IngestError::Closed,
            })?;
        match tokio::time::timeout(self.deadline, outcome).await {
            Ok(Ok(Ok(outcome))) => Ok(outcome),
            Ok(Ok(Err(e))) => Err(IngestError::Store(StoreError::Task(e.to_string()))),
            Ok(Err(_)) => Err(IngestError::Closed),
            Err(_) => Err(IngestError::Timeout),
        }
    }
}

/// The writer: one thread for the collector's life (a task of the runtime's blocking pool,
/// started once), which takes the batches off the queue, commits each and answers its
/// handlers. Committing on the thread that waits for the queue costs two thread switches a
/// batch (a handler wakes the writer; the writer wakes the handlers); a writer task that
/// ran each commit in its own `spawn_blocking` cost two more (a blocking-pool wake-up and
/// the task's wake-up when it finished), about a tenth of the CPU of a single-event
/// request.
fn write_batches(
    mut jobs: mpsc::Receiver<Job>,
    store: &dyn BlockingSink,
    config: IngestConfig,
    metrics: &Metrics,
    runtime: &tokio::runtime::Handle,
) {
    let mut hot = Some(HotIdentity::new(config.hot_visitors));
    while let Some(first) = jobs.blocking_recv() {
        let mut count = first.work.len();
        let mut batch = vec![first];
        // Whatever queued while the last commit ran shares this one, without waiting.
        while count < config.batch_max_events {
            match jobs.try_recv() {
                Ok(job) => {
                    count += job.work.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        if count < config.batch_max_events && !config.batch_max_wait.is_zero() {
            let deadline = tokio::time::Instant::now() + config.batch_max_wait;
            runtime.block_on(async {
                while count < config.batch_max_events {
                    match tokio::time::timeout_at(deadline, jobs.recv()).await {
                        Ok(Some(job)) => {
                            count += job.work.len();
                            batch.push(job);
                        }
                        Ok(None) | Err(_) => break,
                    }
                }
            });
        }
        let started = Instant::now();
        let caches = hot
            .take()
            .unwrap_or_else(|| HotIdentity::new(config.hot_visitors));
        hot = commit(store, caches, batch, || {
            metrics.committed(count, started.elapsed())
        });
    }
    tracing::debug!("ingest queue closed and drained");
}

/// Resolves and commits every job of `batch` in one transaction and answers each with its
/// own outcome. Returns the caches, with the batch's effects once it is committed (`None`
/// if resolving or committing panicked: the next batch starts with empty caches).
/// `observe` runs once the commit is done, before any handler is answered, so a client
/// that reads the metrics after its answer finds its commit counted.
fn commit(
    store: &dyn BlockingSink,
    hot: HotIdentity,
    batch: Vec<Job>,
    observe: impl FnOnce(),
) -> Option<HotIdentity> {
    let (works, waiters): (Vec<Work>, Vec<_>) = batch.into_iter().map(|j| (j.work, j.done)).unzip();
    // A panic must not end the writer (every later request would wait for nothing): the
    // batch fails like a refused commit, and the caches it may have left half-changed go.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let mut hot = hot;
        let result = derive_and_append(store, &mut hot, works);
        (hot, result)
    }));
    let (hot, result) = match result {
        Ok((hot, result)) => (Some(hot), result),
        Err(_) => (
            None,
            Err(StoreError::Task("the writer panicked on this batch".into())),
        ),
    };
    observe();
    match result {
        Ok(outcomes) => {
            for (waiter, outcome) in waiters.into_iter().zip(outcomes) {
                // A waiter that gave up (client gone) changes nothing: the rows are stored.
                let _ = waiter.send(Ok(outcome));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "batch commit failed; none of it was acknowledged");
            let e = Arc::new(e);
            for waiter in waiters {
                let _ = waiter.send(Err(Arc::clone(&e)));
            }
        }
    }
    hot
}

/// The identity memory resolving the browser batches of `works` reads (see
/// `resolve::resolve_batch`): each client id with today's fingerprint, and yesterday's
/// fingerprint (read when one visitor is behind today's).
fn memory_asks(works: &[Work]) -> Vec<(String, Option<String>, String, i64)> {
    let mut asks = Vec::new();
    for work in works {
        if let Work::Browser(b) = work {
            let day = b.received.div_euclid(crate::identity::salt::DAY_MS);
            let mut ids: Vec<Option<&String>> =
                b.events.iter().map(|e| e.client_id.as_ref()).collect();
            ids.dedup();
            for id in ids {
                asks.push((b.site.clone(), id.cloned(), b.fingerprint.clone(), day));
            }
            asks.push((b.site.clone(), None, b.yesterday.clone(), day - 1));
        }
    }
    asks
}

/// Resolves the browser batches of `works` in order, commits every event in one
/// transaction, then moves what the batch derived into the caches.
fn derive_and_append(
    store: &dyn BlockingSink,
    hot: &mut HotIdentity,
    works: Vec<Work>,
) -> Result<Vec<(InsertOutcome, Resolution)>, StoreError> {
    let epoch = store.identity_epoch();
    hot.sync(epoch);
    let mut overlay = Overlay::default();
    // What the browser batches will ask of the store's identity memory, read at once.
    View {
        store,
        hot: &mut *hot,
        overlay: &mut overlay,
    }
    .prefetch(&memory_asks(&works))?;
    let mut groups = Vec::with_capacity(works.len());
    let mut resolutions = Vec::with_capacity(works.len());
    let mut marks = Vec::with_capacity(works.len());
    for work in works {
        let mut view = View {
            store,
            hot: &mut *hot,
            overlay: &mut overlay,
        };
        marks.push(view.overlay.mark());
        let (events, resolution) = match work {
            Work::Resolved(events) => {
                view.record(&events, &HashSet::new())?;
                (events, Resolution::default())
            }
            Work::Browser(batch) => {
                let (events, resolution, fresh) = resolve::resolve_batch(batch, &mut view)?;
                view.record(&events, &fresh)?;
                (events, resolution)
            }
        };
        groups.push(events);
        resolutions.push(resolution);
    }
    let slices: Vec<&[Event]> = groups.iter().map(Vec::as_slice).collect();
    let outcomes = store.insert_groups(&slices)?;
    let end = overlay.mark();
    for (i, outcome) in outcomes.iter().enumerate() {
        if outcome.duplicates > 0 {
            let start = marks.get(i).copied().unwrap_or(end);
            let stop = marks.get(i + 1).copied().unwrap_or(end);
            overlay.taint(start..stop);
        }
    }
    if store.identity_epoch() == epoch {
        overlay.commit_into(hot);
    } else {
        // Erasure or retention deleted identity memory meanwhile: start over from the store.
        hot.sync(store.identity_epoch());
    }
    Ok(outcomes.into_iter().zip(resolutions).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;
    use std::time::Duration;

    fn event(id: u128) -> Event {
        crate::store::sqlite::tests::event(id, "v", "s")
    }

    fn config(queue_capacity: usize) -> IngestConfig {
        IngestConfig {
            queue_capacity,
            batch_max_events: 100,
            batch_max_wait: Duration::from_millis(20),
            store_deadline: Duration::from_secs(5),
            hot_visitors: 1000,
        }
    }

    #[tokio::test]
    async fn concurrent_requests_share_a_commit_and_get_their_own_counts() -> Result<(), IngestError>
    {
        let store = Arc::new(SqliteStore::open_in_memory()?);
        let (ingest, writer) = Ingest::start(store.clone(), config(16));
        let (a, b, c) = tokio::join!(
            ingest.submit(vec![event(1), event(2)]),
            ingest.submit(vec![event(2), event(3)]),
            ingest.submit(vec![event(4)]),
        );
        let stored: usize = [a?, b?, c?].iter().map(|o| o.stored).sum();
        assert_eq!(stored, 4, "event 2 is stored once");
        assert_eq!(
            store
                .summary("demo", crate::identity::graph::Mode::Inclusive)?
                .events,
            4
        );
        drop(ingest);
        writer.await.map_err(|e| StoreError::Task(e.to_string()))?;
        Ok(())
    }

    fn file_store(
        dir: &tempfile::TempDir,
        options: crate::store::sqlite::SqliteOptions,
    ) -> Result<Arc<SqliteStore>, StoreError> {
        Ok(Arc::new(SqliteStore::open_with(
            &dir.path().join("spoor.db"),
            options,
        )?))
    }

    fn tempdir() -> Result<tempfile::TempDir, StoreError> {
        tempfile::tempdir().map_err(|source| StoreError::Io {
            path: "tmp".into(),
            source,
        })
    }

    #[tokio::test]
    async fn a_full_store_fails_the_batch_and_the_writer_recovers_once_space_is_freed()
    -> Result<(), IngestError> {
        let dir = tempdir()?;
        let options = crate::store::sqlite::SqliteOptions {
            max_pages: Some(64),
            ..Default::default()
        };
        let store = file_store(&dir, options)?;
        let (ingest, writer) = Ingest::start(store.clone(), config(16));
        let mut acked = 0u128;
        let full = loop {
            let batch: Vec<Event> = (0..50).map(|i| event(acked + i)).collect();
            match ingest.submit(batch).await {
                Ok(o) => {
                    assert_eq!(o.stored, 50);
                    acked += 50;
                }
                Err(e) => break e,
            }
            assert!(acked < 100_000, "the page cap never stopped the writes");
        };
        assert!(matches!(full, IngestError::Store(_)), "{full:?}");
        assert!(acked > 0, "some batches fit before the cap");
        // Another connection (its own page cap) frees space; the same writer then succeeds.
        let other =
            rusqlite::Connection::open(dir.path().join("spoor.db")).map_err(StoreError::from)?;
        other
            .execute("DELETE FROM events WHERE rowid % 2 = 0", [])
            .map_err(StoreError::from)?;
        let kept: i64 = other
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .map_err(StoreError::from)?;
        let outcome = ingest.submit(vec![event(1_000_000)]).await?;
        assert_eq!(outcome.stored, 1);
        let after: i64 = other
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .map_err(StoreError::from)?;
        assert_eq!(after, kept + 1, "nothing of the refused batch was stored");
        drop(ingest);
        writer.await.map_err(|e| StoreError::Task(e.to_string()))?;
        Ok(())
    }

    #[tokio::test]
    async fn a_stalled_store_times_out_the_request_and_commits_it_later() -> Result<(), IngestError>
    {
        let dir = tempdir()?;
        let store = file_store(&dir, Default::default())?;
        let (ingest, writer) = Ingest::start(
            store.clone(),
            IngestConfig {
                store_deadline: Duration::from_millis(200),
                ..config(16)
            },
        );
        let lock =
            rusqlite::Connection::open(dir.path().join("spoor.db")).map_err(StoreError::from)?;
        lock.execute_batch("BEGIN IMMEDIATE")
            .map_err(StoreError::from)?;
        let stalled = ingest.submit(vec![event(7)]).await;
        assert!(matches!(stalled, Err(IngestError::Timeout)), "{stalled:?}");
        lock.execute_batch("ROLLBACK").map_err(StoreError::from)?;
        // The writer was still waiting on the lock (busy timeout 5 s): the event goes in.
        let retry = ingest.submit(vec![event(7), event(8)]).await?;
        assert_eq!(retry.stored + retry.duplicates, 2);
        assert_eq!(
            store
                .summary("demo", crate::identity::graph::Mode::Inclusive)?
                .events,
            2,
            "the timed-out event is stored once"
        );
        drop(ingest);
        writer.await.map_err(|e| StoreError::Task(e.to_string()))?;
        Ok(())
    }

    #[tokio::test]
    async fn requests_queued_during_a_commit_share_the_next_one() -> Result<(), IngestError> {
        let dir = tempdir()?;
        let store = file_store(&dir, Default::default())?;
        let metrics = Arc::new(Metrics::default());
        let (ingest, writer) = Ingest::start_observed(
            store.clone(),
            IngestConfig {
                batch_max_wait: Duration::ZERO,
                ..config(16)
            },
            Arc::clone(&metrics),
        );
        // Another connection holds the write lock, so the first commit waits for it.
        let lock =
            rusqlite::Connection::open(dir.path().join("spoor.db")).map_err(StoreError::from)?;
        lock.execute_batch("BEGIN IMMEDIATE")
            .map_err(StoreError::from)?;
        let submit = |id: u128| {
            let ingest = ingest.clone();
            tokio::spawn(async move { ingest.submit(vec![event(id)]).await })
        };
        let first = submit(1);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let rest: Vec<_> = (2..=6).map(submit).collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        lock.execute_batch("ROLLBACK").map_err(StoreError::from)?;
        for handle in std::iter::once(first).chain(rest) {
            let outcome = handle
                .await
                .map_err(|e| StoreError::Task(e.to_string()))??;
            assert_eq!(outcome.stored, 1);
        }
        let commits = metrics
            .render(0)
            .lines()
            .find_map(|l| l.strip_prefix("spoor_ingest_batch_events_count "))
            .and_then(|n| n.trim().parse::<u64>().ok());
        assert_eq!(
            commits,
            Some(2),
            "the first request alone, then the five that queued meanwhile, in one commit"
        );
        drop(ingest);
        writer.await.map_err(|e| StoreError::Task(e.to_string()))?;
        Ok(())
    }

    #[tokio::test]
    async fn the_wal_is_not_checkpointed_at_sqlites_default_of_1000_pages()
    -> Result<(), IngestError> {
        let dir = tempdir()?;
        let store = file_store(&dir, Default::default())?;
        let (ingest, writer) = Ingest::start(store.clone(), config(16));
        let wal = dir.path().join("spoor.db-wal");
        let wal_bytes = || std::fs::metadata(&wal).map_or(0, |m| m.len());
        // SQLite's default checkpoints at 1,000 pages and then reuses the WAL from its
        // start, so the file would stop growing near 4 MB plus one commit.
        let mut id = 0u128;
        while wal_bytes() < 12 << 20 {
            let batch: Vec<Event> = (0..100).map(|i| event(id + i)).collect();
            id += 100;
            assert_eq!(ingest.submit(batch).await?.stored, 100);
            assert!(
                id < 200_000,
                "the WAL stopped growing at {} bytes",
                wal_bytes()
            );
        }
        drop(ingest);
        writer.await.map_err(|e| StoreError::Task(e.to_string()))?;
        Ok(())
    }

    #[tokio::test]
    async fn dropping_every_handle_drains_the_queue() -> Result<(), IngestError> {
        let store = Arc::new(SqliteStore::open_in_memory()?);
        let (ingest, writer) = Ingest::start(store.clone(), config(16));
        let pending = tokio::spawn({
            let ingest = ingest.clone();
            async move { ingest.submit(vec![event(9)]).await }
        });
        drop(ingest);
        let outcome = pending
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??;
        assert_eq!(outcome.stored, 1);
        writer.await.map_err(|e| StoreError::Task(e.to_string()))?;
        assert_eq!(
            store
                .summary("demo", crate::identity::graph::Mode::Inclusive)?
                .events,
            1
        );
        Ok(())
    }
}
