//! From accepted request to durable row: a bounded queue and one batching writer.
//!
//! A handler hands its events to [`Ingest::submit`] and waits. The writer task takes the
//! first waiting job, gathers more until it has `batch_max_events` events or
//! `batch_max_wait` has passed, commits them all in one transaction, and only then answers
//! every waiting handler. So one fsync serves many requests (group commit), and nothing is
//! acknowledged before it is on disk. When the queue is full, `submit` fails at once with
//! [`IngestError::Full`] rather than letting memory grow.
//!
//! Faults: a request waits at most `store_deadline` for its commit, then gets
//! [`IngestError::Timeout`] (a 503): its events stay queued and may still be committed,
//! which is harmless because the client retries with the same event ids and the store
//! skips ids it has. A commit that fails (file full, read-only, locked beyond SQLite's busy
//! timeout) answers every request of the batch with the error, stores none of it, and the
//! writer goes on with the next batch, so the collector recovers by itself once the store
//! can write again. Memory is bounded by the queue: at most `queue_capacity` requests of at
//! most one batch each wait, plus the batch being committed.
//!
//! Shutdown: when every [`Ingest`] handle is dropped the queue closes; the writer commits
//! what is still queued and ends, which the owner awaits through the writer's join handle.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::IngestConfig;
use crate::event::Event;
use crate::metrics::Metrics;
use crate::store::{InsertOutcome, Store, StoreError};

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

/// Events from one request and where to send the outcome.
struct Job {
    events: Vec<Event>,
    done: oneshot::Sender<Result<InsertOutcome, Arc<StoreError>>>,
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
    pub fn start(store: Arc<dyn Store>, config: IngestConfig) -> (Ingest, JoinHandle<()>) {
        Ingest::start_observed(store, config, Arc::new(Metrics::default()))
    }

    /// [`Ingest::start`], recording each commit's size and latency in `metrics`.
    pub fn start_observed(
        store: Arc<dyn Store>,
        config: IngestConfig,
        metrics: Arc<Metrics>,
    ) -> (Ingest, JoinHandle<()>) {
        let (queue, jobs) = mpsc::channel(config.queue_capacity);
        let writer = tokio::spawn(write_batches(jobs, store, config, metrics));
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
        let (done, outcome) = oneshot::channel();
        self.queue
            .try_send(Job { events, done })
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

async fn write_batches(
    mut jobs: mpsc::Receiver<Job>,
    store: Arc<dyn Store>,
    config: IngestConfig,
    metrics: Arc<Metrics>,
) {
    while let Some(first) = jobs.recv().await {
        let deadline = Instant::now() + config.batch_max_wait;
        let mut count = first.events.len();
        let mut batch = vec![first];
        while count < config.batch_max_events {
            match tokio::time::timeout_at(deadline, jobs.recv()).await {
                Ok(Some(job)) => {
                    count += job.events.len();
                    batch.push(job);
                }
                Ok(None) | Err(_) => break,
            }
        }
        let started = Instant::now();
        commit(&store, batch).await;
        metrics.committed(count, started.elapsed());
    }
    tracing::debug!("ingest queue closed and drained");
}

/// Commits every job of `batch` in one transaction and answers each with its own counts.
async fn commit(store: &Arc<dyn Store>, batch: Vec<Job>) {
    let (groups, waiters): (Vec<Vec<Event>>, Vec<_>) =
        batch.into_iter().map(|j| (j.events, j.done)).unzip();
    let store = Arc::clone(store);
    let result = tokio::task::spawn_blocking(move || {
        let slices: Vec<&[Event]> = groups.iter().map(Vec::as_slice).collect();
        store.insert_groups(&slices)
    })
    .await
    .unwrap_or_else(|e| Err(StoreError::Task(e.to_string())));
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
