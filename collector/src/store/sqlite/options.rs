//! How the SQLite file is opened: the durability of a commit (`synchronous`), how long a
//! write waits for a lock held by someone else (`busy_timeout`), and an optional cap on the
//! file's size (`max_page_count`).
//!
//! These are the knobs of the durability model described in `docs/OPERATIONS.md`: with
//! `FULL` (the default) a commit that returned survives a power cut; with `NORMAL` a commit
//! survives a crash of the collector but the last transactions may be lost on power loss.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// SQLite's `synchronous` setting for the writer connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// fsync the WAL on every commit: an acknowledged event survives power loss.
    #[default]
    Full,
    /// fsync only at checkpoints: faster commits; an acknowledged event survives a crash
    /// of the process but the last commits may be lost if the machine loses power.
    Normal,
}

impl Synchronous {
    /// The PRAGMA value.
    pub fn as_str(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

impl fmt::Display for Synchronous {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Synchronous {
    type Err = String;

    fn from_str(s: &str) -> Result<Synchronous, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "full" => Ok(Synchronous::Full),
            "normal" => Ok(Synchronous::Normal),
            _ => Err("expected \"full\" or \"normal\"".into()),
        }
    }
}

/// Options of [`SqliteStore::open_with`](super::SqliteStore::open_with).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Durability of a commit.
    pub synchronous: Synchronous,
    /// How long a write waits for another connection's lock before failing with
    /// `SQLITE_BUSY`. The collector sets it to its store deadline, so a stalled commit fails
    /// about when the requests waiting on it have already been answered `503`.
    pub busy_timeout: Duration,
    /// Largest size of the database file in pages (`PRAGMA max_page_count`); `None` keeps
    /// SQLite's own limit. A write that would grow the file beyond it fails with
    /// `SQLITE_FULL`, which the collector answers `503` until space is freed.
    pub max_pages: Option<u64>,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
            max_pages: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synchronous_reads_both_modes_in_any_case() {
        assert_eq!("FULL".parse::<Synchronous>(), Ok(Synchronous::Full));
        assert_eq!(" normal ".parse::<Synchronous>(), Ok(Synchronous::Normal));
        assert!("off".parse::<Synchronous>().is_err());
        assert_eq!(Synchronous::default().to_string(), "FULL");
    }
}
