//! The WAL checkpointer: a thread with a connection of its own that copies the write-ahead
//! log into the database file, so that no commit of the writer waits for a checkpoint.
//!
//! SQLite's automatic checkpoint runs on the connection that committed, inside its commit:
//! every [`SOFT_PAGES`] pages the writer stopped to copy them all and fsync the database
//! file, tens of milliseconds in which every request waiting on the ingest queue waited
//! too (the tail of `scripts/bench.sh`'s latencies). Here the writer's WAL hook, called
//! after each of its commits with the WAL's size in pages, only wakes this thread once the
//! WAL holds [`SOFT_PAGES`]; the thread runs a `PASSIVE` checkpoint, which copies what is
//! committed while the writer goes on appending, and the writer starts the WAL over at
//! the first commit after a checkpoint that copied everything. Should the thread fall
//! behind (a WAL of [`HARD_PAGES`]), the writer checkpoints itself, as SQLite would, so
//! the WAL stays bounded.
//!
//! A checkpoint is the only time the database file is written and fsynced; the WAL is
//! fsynced at each commit (`synchronous=full`), so an acknowledged event is durable
//! whatever this thread has done.

use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use rusqlite::Connection;
use rusqlite::wal::CheckpointMode;

use super::options::SqliteOptions;
use crate::store::StoreError;

/// WAL pages (4 KiB each) after which the checkpointer is woken. The pages the write path
/// changes most (the newest leaf of each index, the day's rollup rows, the recent sessions)
/// are the same few hundred from one commit to the next, so checkpointing every 10,000
/// pages copies each about a tenth as often per event as SQLite's default of 1,000; the
/// WAL file grows to about 40 MB.
pub(super) const SOFT_PAGES: i32 = 10_000;

/// WAL pages at which the writer checkpoints on its own commit path, because the
/// checkpointer has not kept up (or has stopped).
pub(super) const HARD_PAGES: i32 = 4 * SOFT_PAGES;

/// The thread and the means to wake it; dropping it stops the thread.
pub(super) struct Checkpointer {
    wake: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a connection to `path` for the checkpointer's thread, starts it, and installs
    /// the WAL hook on `writer` that wakes it (replacing SQLite's automatic checkpoint).
    pub(super) fn start(
        path: &Path,
        options: &SqliteOptions,
        writer: &mut Connection,
    ) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(options.busy_timeout)?;
        conn.pragma_update(None, "synchronous", options.synchronous.as_str())?;
        // One pending wake-up is enough: a checkpoint copies everything committed before it.
        let (wake, woken) = mpsc::sync_channel::<()>(1);
        let hook_wake = wake.clone();
        writer.wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, pages| {
            if pages >= HARD_PAGES {
                // Passive on the writer, between its commits: it copies everything, so the
                // next commit starts the WAL over.
                if let Err(e) = wal.checkpoint_v2(CheckpointMode::PASSIVE) {
                    tracing::warn!(error = %e, pages, "WAL checkpoint on the writer failed");
                }
            } else if pages >= SOFT_PAGES {
                // Full: a wake-up is pending already. Disconnected: the thread is gone,
                // and the writer's own checkpoint at `HARD_PAGES` takes over.
                let _ = hook_wake.try_send(());
            }
            Ok(())
        }))?;
        let thread = std::thread::Builder::new()
            .name("spoor-checkpoint".into())
            .spawn(move || run(&conn, &woken))
            .map_err(|e| StoreError::Task(format!("cannot start the WAL checkpointer: {e}")))?;
        Ok(Checkpointer {
            wake: Some(wake),
            thread: Some(thread),
        })
    }
}

/// Checkpoints each time it is woken, until every sender is gone.
fn run(conn: &Connection, woken: &Receiver<()>) {
    while woken.recv().is_ok() {
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        }) {
            Ok((frames, copied)) => tracing::debug!(frames, copied, "WAL checkpoint"),
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; the writer will do it"),
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // The writer's hook holds a sender too; it goes with the writer connection, which
        // `Shared` drops before this (field order), so the thread's `recv` ends.
        self.wake.take();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::warn!("the WAL checkpointer panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::sqlite::tests::event;

    /// `(frames in the WAL, frames copied into the file)`, read from the WAL index (the
    /// `-shm` file: `mxFrame` of its header, `nBackfill` after the header's two copies)
    /// without a connection, so the probe checkpoints nothing itself.
    fn wal_state(path: &Path) -> Result<(u32, u32), StoreError> {
        let shm = std::fs::read(path.with_extension("db-shm"))
            .map_err(|e| StoreError::Task(e.to_string()))?;
        let word = |at: usize| {
            shm.get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_ne_bytes)
                .ok_or_else(|| StoreError::Task("short -shm file".into()))
        };
        Ok((word(16)?, word(96)?))
    }

    /// Past [`SOFT_PAGES`] the WAL is copied into the file by the checkpointer's thread:
    /// the writer's commit does not wait for it (its hook only wakes the thread), and the
    /// WAL then starts over from its beginning instead of growing.
    #[test]
    fn the_checkpointer_copies_the_wal_and_the_writer_starts_it_over() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Task(e.to_string()))?;
        let path = dir.path().join("spoor.db");
        let store = SqliteStore::open(&path)?;
        let wal = path.with_extension("db-wal");
        let mut id = 0u128;
        // Write until the WAL has passed the soft bound once: each batch is a new session of
        // a new visitor, so each commit adds pages.
        let mut grown = 0;
        while grown < u64::try_from(SOFT_PAGES).unwrap_or(0) * 4096 {
            let batch: Vec<_> = (0..200)
                .map(|_| {
                    id += 1;
                    event(id, &format!("v{id}"), &format!("s{id}"))
                })
                .collect();
            store.insert_events(&batch)?;
            grown = std::fs::metadata(&wal).map_or(0, |m| m.len());
        }
        // The thread catches up; another commit then starts the WAL over.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            id += 1;
            store.insert_events(&[event(id, "again", "again")])?;
            let (frames, copied) = wal_state(&path)?;
            if frames < u32::try_from(SOFT_PAGES / 2).unwrap_or(0) && copied <= frames {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the WAL was never copied and started over: {frames} frames, {copied} copied"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}
