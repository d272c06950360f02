//! The binary's subcommands for an operator at the server, which open the database file
//! directly instead of serving: `export` and `erase` (everything stored about a visitor,
//! person or user, see [`erasure`](super::erasure); the running collector may keep
//! serving) and `rebuild-reports` (clears the report data and computes it again from the
//! stored events, sessions and links with [`SqliteStore::rebuild_reports`], the code that
//! backfills a file upgraded from before the reports; stop the collector first). Each
//! prints its result as JSON. With `SPOOR_STORE=clickhouse:…` in the environment (and no
//! `--db`), they work on that ClickHouse store, with the server's credentials and cluster
//! (`SPOOR_CLICKHOUSE_USER`, `…_PASSWORD`, `…_CLUSTER`), while the collectors go on
//! serving: `export` and `erase` as the API's (an erasure bumps the maintenance epoch, so
//! every writer drops its caches), and `rebuild-reports --site S [--from DATE] [--to
//! DATE]` reconciles those UTC days' rollups with their events
//! ([`ClickHouseStore::reconcile_day`]).

use std::future::Future;
use std::path::PathBuf;

use super::erasure::Subject;
use crate::reports::range::{DAY_MS, parse_date};
use crate::session::SessionRules;
use crate::store::clickhouse::client::Endpoint;
use crate::store::clickhouse::{ClickHouseOptions, ClickHouseStore, Reconciled};
use crate::store::sqlite::SqliteStore;
use crate::store::{Maintenance, StoreError};

/// `spoor-collector export|erase|rebuild-reports …`.
#[derive(Debug, clap::Parser)]
#[command(name = "spoor-collector")]
pub struct Command {
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// The subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Print everything stored about a visitor, person or user as JSON.
    Export(Target),
    /// Delete everything stored about a visitor, person or user; print the counts as JSON.
    Erase(Target),
    /// Clear the report rollups and compute them again from the stored events; print the
    /// counts as JSON. Stop the collector first: it cannot write meanwhile. On ClickHouse
    /// (SPOOR_STORE), reconcile the rollups of --site's days --from..--to with their
    /// events instead, the collectors serving on.
    RebuildReports(Rebuild),
}

/// What `rebuild-reports` rebuilds.
#[derive(Debug, clap::Args)]
pub struct Rebuild {
    /// The database.
    #[command(flatten)]
    pub database: Database,
    /// ClickHouse only: the site whose rollups to reconcile
    #[arg(long)]
    pub site: Option<String>,
    /// ClickHouse only: the first UTC day (YYYY-MM-DD) [default: today]
    #[arg(long)]
    pub from: Option<String>,
    /// ClickHouse only: the last UTC day (YYYY-MM-DD) [default: --from]
    #[arg(long)]
    pub to: Option<String>,
}

/// The database file a subcommand opens (with `SPOOR_STORE=clickhouse:…` and no `--db`:
/// that ClickHouse store).
#[derive(Debug, clap::Args)]
pub struct Database {
    /// SQLite database file [default: the ClickHouse store of $SPOOR_STORE, else $SPOOR_DB, else the server's --db default]
    #[arg(long)]
    pub db: Option<PathBuf>,
}

/// The database and the subject of `export` or `erase`.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// The database.
    #[command(flatten)]
    pub database: Database,
    /// The site
    #[arg(long)]
    pub site: String,
    /// A visitor id (that visitor alone)
    #[arg(long)]
    pub visitor: Option<String>,
    /// A visitor id (the whole person it belongs to)
    #[arg(long)]
    pub person: Option<String>,
    /// A site user id (the person that logged in as it)
    #[arg(long)]
    pub user: Option<String>,
}

impl Command {
    /// True when `args` (program name first) name one of these subcommands rather than
    /// the server.
    pub fn is_requested(args: &[std::ffi::OsString]) -> bool {
        args.get(1)
            .is_some_and(|a| a == "export" || a == "erase" || a == "rebuild-reports")
    }

    /// Runs the subcommand against the database; returns the JSON to print. `env` reads
    /// `SPOOR_DB` when `--db` is not given.
    pub fn run(self, env: impl Fn(&str) -> Option<String>) -> Result<String, CommandError> {
        let json = match self.action {
            Action::Export(t) => {
                serde_json::to_string_pretty(&t.run(&env, |store, site, subject| async move {
                    store.export(&site, &subject).await
                })?)
            }
            Action::Erase(t) => {
                serde_json::to_string_pretty(&t.run(&env, |store, site, subject| async move {
                    store.erase(&site, &subject).await
                })?)
            }
            Action::RebuildReports(rebuild) => match clickhouse_store(&rebuild.database, &env) {
                Some(spec) => serde_json::to_string_pretty(&rebuild.on_clickhouse(&spec, &env)?),
                None => {
                    let store = rebuild.database.open(env)?;
                    serde_json::to_string_pretty(&store.rebuild_reports()?)
                }
            },
        };
        json.map_err(|e| CommandError::Usage(e.to_string()))
    }
}

/// The `clickhouse:…` spec of `SPOOR_STORE`, unless `--db` names a file.
fn clickhouse_store(database: &Database, env: &impl Fn(&str) -> Option<String>) -> Option<String> {
    clickhouse_spec(database.db.as_deref(), env)
}

/// The `clickhouse:…` spec of `SPOOR_STORE` (read by `env`), unless `db` names a file:
/// the store an operator's command works on.
pub fn clickhouse_spec(
    db: Option<&std::path::Path>,
    env: &impl Fn(&str) -> Option<String>,
) -> Option<String> {
    if db.is_some() {
        return None;
    }
    env("SPOOR_STORE").and_then(|s| s.strip_prefix("clickhouse:").map(str::to_string))
}

/// Opens the ClickHouse store `spec` names, with the credentials and cluster of the
/// server's environment (`SPOOR_CLICKHOUSE_USER`, `…_PASSWORD`, `…_CLUSTER`).
pub async fn open_clickhouse(
    spec: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<ClickHouseStore, CommandError> {
    let endpoint = Endpoint::parse(
        spec,
        env("SPOOR_CLICKHOUSE_USER"),
        env("SPOOR_CLICKHOUSE_PASSWORD"),
    )
    .map_err(CommandError::Usage)?;
    let options = ClickHouseOptions {
        endpoint,
        cluster: env("SPOOR_CLICKHOUSE_CLUSTER"),
        insert_quorum: 1,
    };
    Ok(ClickHouseStore::open(options, SessionRules::default()).await?)
}

impl Rebuild {
    /// Reconciles the named days of the ClickHouse store `spec` (with the credentials and
    /// cluster of the server's environment), one day after another.
    fn on_clickhouse(
        self,
        spec: &str,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<Reconciled>, CommandError> {
        let site = self.site.ok_or_else(|| {
            CommandError::Usage("rebuild-reports on ClickHouse needs --site".into())
        })?;
        let day = |flag: &str, value: Option<String>, default: i64| match value {
            None => Ok(default),
            Some(v) => parse_date(&v).ok_or_else(|| {
                CommandError::Usage(format!("--{flag} {v}: not a date (YYYY-MM-DD)"))
            }),
        };
        let from = day("from", self.from, crate::clock::now_ms().div_euclid(DAY_MS))?;
        let to = day("to", self.to, from)?;
        if to < from {
            return Err(CommandError::Usage("--to is before --from".into()));
        }
        on_clickhouse(spec, env, |store| async move {
            let mut done = Vec::new();
            for d in from..=to {
                done.push(store.reconcile_day(&site, d).await?);
            }
            Ok(done)
        })
    }
}

/// Opens the ClickHouse store `spec` names ([`open_clickhouse`]) and runs `job` on it
/// ([`block_on`]).
fn on_clickhouse<T, Job, Done>(
    spec: &str,
    env: &impl Fn(&str) -> Option<String>,
    job: Job,
) -> Result<T, CommandError>
where
    Job: FnOnce(ClickHouseStore) -> Done,
    Done: Future<Output = Result<T, StoreError>>,
{
    block_on(async {
        let store = open_clickhouse(spec, env).await?;
        Ok(job(store).await?)
    })
}

/// Runs `work` on the binary's runtime (it runs subcommands on a blocking thread of it),
/// or on one of its own.
fn block_on<T>(work: impl Future<Output = Result<T, CommandError>>) -> Result<T, CommandError> {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime.block_on(work),
        Err(_) => tokio::runtime::Runtime::new()
            .map_err(|e| CommandError::Usage(e.to_string()))?
            .block_on(work),
    }
}

impl Database {
    /// The store of the file named by `--db`, else `SPOOR_DB` (read by `env`), else the
    /// server's default ([`database_path`](crate::config::database_path)); it must exist
    /// (a subcommand never creates one).
    fn open(self, env: impl Fn(&str) -> Option<String>) -> Result<SqliteStore, CommandError> {
        let db = crate::config::database_path(self.db, env);
        if !db.exists() {
            return Err(CommandError::Usage(format!(
                "{}: no such database",
                db.display()
            )));
        }
        Ok(SqliteStore::open(&db)?)
    }
}

impl Target {
    /// The site and the one subject named.
    fn subject(self) -> Result<(String, Subject), CommandError> {
        let subject = Subject::from_parts(self.visitor, self.person, self.user)
            .map_err(CommandError::Usage)?;
        Ok((self.site, subject))
    }

    /// Runs `job` with the store the subcommand works on (the ClickHouse store of
    /// `SPOOR_STORE` unless `--db` is given, else the SQLite file), the site and the one
    /// subject named.
    fn run<T, Job, Done>(
        self,
        env: &impl Fn(&str) -> Option<String>,
        job: Job,
    ) -> Result<T, CommandError>
    where
        Job: FnOnce(Box<dyn Maintenance>, String, Subject) -> Done,
        Done: Future<Output = Result<T, StoreError>>,
    {
        let spec = clickhouse_store(&self.database, env);
        let database = Database {
            db: self.database.db.clone(),
        };
        let (site, subject) = self.subject()?;
        match spec {
            Some(spec) => on_clickhouse(&spec, env, |store| job(Box::new(store), site, subject)),
            None => {
                let store = database.open(env)?;
                block_on(async { Ok(job(Box::new(store), site, subject).await?) })
            }
        }
    }
}

/// Why a subcommand failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The arguments do not name one subject or an existing database.
    #[error("{0}")]
    Usage(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
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

        let db = path.display().to_string();
        let by_flag = Command::try_parse_from(args(&[call[0], call[1], "--db", &db]))?;
        // Named on the command line, the file is rebuilt whatever SPOOR_STORE says.
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

    #[test]
    fn a_file_named_on_the_command_line_is_read_whatever_spoor_store_says()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("spoor.db");
        SqliteStore::open(&path)?.insert_events(&[event(1, "v1", "s1")])?;
        let db = path.display().to_string();
        // Nothing listens there: reading the file must not try it.
        let env = |k: &str| {
            (k == "SPOOR_STORE").then(|| "clickhouse:http://127.0.0.1:9/spoor".to_string())
        };
        let export = [
            "spoor-collector",
            "export",
            "--site",
            "demo",
            "--visitor",
            "v1",
            "--db",
            &db,
        ];
        let json = Command::try_parse_from(args(&export))?.run(env)?;
        assert!(json.contains("\"v1\""), "{json}");
        Ok(())
    }

    #[test]
    fn subcommands_are_told_apart_from_server_flags() {
        assert!(Command::is_requested(&args(&["spoor-collector", "erase"])));
        assert!(!Command::is_requested(&args(&[
            "spoor-collector",
            "--db",
            "x"
        ])));
        assert!(!Command::is_requested(&args(&["spoor-collector"])));
    }
}
