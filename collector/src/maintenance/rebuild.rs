//! The binary's `rebuild-reports` subcommand, for an operator at the server: clears the
//! report data of a database file and computes it again from the stored events, sessions
//! and links ([`SqliteStore::rebuild_reports`], the code that backfills a file upgraded
//! from before the reports), then prints the counts as JSON.

use std::path::PathBuf;

use crate::maintenance::erasure::{CommandError, database_file};
use crate::store::sqlite::SqliteStore;

/// `spoor-collector rebuild-reports [--db FILE]`.
#[derive(Debug, clap::Parser)]
#[command(name = "spoor-collector")]
pub struct Command {
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// The one action.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Clear the report rollups and compute them again from the stored events; print the
    /// counts as JSON. Stop the collector first: it cannot write meanwhile.
    RebuildReports(Target),
}

/// The database of the subcommand.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// SQLite database file [default: $SPOOR_DB, else the server's --db default]
    #[arg(long)]
    pub db: Option<PathBuf>,
}

impl Command {
    /// True when `args` (program name first) name this subcommand.
    pub fn is_requested(args: &[std::ffi::OsString]) -> bool {
        args.get(1).is_some_and(|a| a == "rebuild-reports")
    }

    /// Rebuilds the reports of the database; returns the JSON to print. `env` reads
    /// `SPOOR_DB` when `--db` is not given.
    pub fn run(self, env: impl Fn(&str) -> Option<String>) -> Result<String, CommandError> {
        let Action::RebuildReports(target) = self.action;
        let store = SqliteStore::open(&database_file(target.db, env)?)?;
        let done = store.rebuild_reports()?;
        serde_json::to_string_pretty(&done).map_err(|e| CommandError::Usage(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::store::sqlite::tests::event;

    fn args(a: &[&str]) -> Vec<std::ffi::OsString> {
        a.iter().map(Into::into).collect()
    }

    #[test]
    fn the_subcommand_rebuilds_the_file_named_by_flag_or_environment()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("spoor.db");
        SqliteStore::open(&path)?.insert_events(&[event(1, "v1", "s1"), event(2, "v2", "s2")])?;
        let call = ["spoor-collector", "rebuild-reports"];
        assert!(Command::is_requested(&args(&call)));
        assert!(!Command::is_requested(&args(&["spoor-collector", "erase"])));

        let db = path.display().to_string();
        let by_flag = Command::try_parse_from(args(&[call[0], call[1], "--db", &db]))?;
        let json: serde_json::Value = serde_json::from_str(&by_flag.run(|_| None)?)?;
        assert_eq!(json["events"], 2);
        assert_eq!(json["sessions"], 2);

        let by_env = Command::try_parse_from(args(&call))?;
        let json = by_env.run(|k| (k == "SPOOR_DB").then(|| db.clone()))?;
        assert!(json.contains("\"events\": 2"), "{json}");

        let missing = Command::try_parse_from(args(&call))?;
        let gone = dir.path().join("none.db").display().to_string();
        assert!(matches!(
            missing.run(|_| Some(gone.clone())),
            Err(CommandError::Usage(_))
        ));
        Ok(())
    }
}
