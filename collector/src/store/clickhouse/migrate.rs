//! Schema versions: numbered files in `collector/migrations/clickhouse/`, applied in order
//! at start-up, on one server or `ON CLUSTER` (`--clickhouse-cluster`), the version
//! reached kept in `schema_migrations`. Every statement is idempotent (`IF NOT EXISTS`),
//! so collectors starting together, or a start cut short half-way through a file, apply
//! it again harmlessly.
//!
//! The files are written once for both layouts with a few placeholders, which
//! [`Layout::render`] fills in:
//!
//! | placeholder | one server | cluster `C` |
//! | --- | --- | --- |
//! | `{db}` | the database | the database |
//! | `{on_cluster}` | nothing | `ON CLUSTER C` |
//! | `{table:T}` | `db.T` | `db.T_local` (the shard's replicated table) |
//! | `{engine:X(args)}` | `X(args)` | `ReplicatedX('/clickhouse/tables/{shard}/db/T_local', '{replica}', args)` |
//! | `{distributed:EXPR}` | nothing | then `db.T`, a `Distributed(C, db, T_local, EXPR)` table |
//! | `{local:T}` (any number) | `db.T` | `db.T_local` (a view reads and fills shard tables) |
//!
//! 18.16 refuses to ALTER (or DROP) ON CLUSTER the Distributed table of a replicated
//! shard table, and has no `ADD COLUMN IF NOT EXISTS`: a table whose columns change is
//! made anew under a new name, its rows copied.
//!
//! So on a cluster every table is read and written through its `Distributed` table, under
//! the same name as on one server, and the store's queries do not know the layout.
//! The SQL keeps to what Debian's ClickHouse 18.16 runs as well as current releases: no
//! DateTime64, LowCardinality, window functions or column TTLs.

use super::client::{Client, backend};
use crate::store::StoreError;

/// The schema versions, in order.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/clickhouse/0001_events.sql"),
    include_str!("../../../migrations/clickhouse/0002_identity.sql"),
    include_str!("../../../migrations/clickhouse/0003_reports.sql"),
    include_str!("../../../migrations/clickhouse/0004_persons.sql"),
    include_str!("../../../migrations/clickhouse/0005_rollups.sql"),
    include_str!("../../../migrations/clickhouse/0006_visitor_hours.sql"),
];

/// The schema version the code expects.
pub const VERSION: u32 = MIGRATIONS.len() as u32;

/// One server, or the named cluster of shards and replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The database.
    pub db: String,
    /// The cluster's name in the servers' `remote_servers`, if on a cluster.
    pub cluster: Option<String>,
}

impl Layout {
    /// The statements of one migration file with its placeholders filled in, in order.
    pub fn render(&self, file: &str) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for statement in split_statements(file) {
            let (sql, distributed) = self.render_statement(&statement)?;
            out.push(sql);
            out.extend(distributed);
        }
        Ok(out)
    }

    fn render_statement(&self, statement: &str) -> Result<(String, Option<String>), StoreError> {
        let db = &self.db;
        let mut sql = statement.replace("{db}", db);
        sql = sql.replace(
            "{on_cluster}",
            &self
                .cluster
                .as_ref()
                .map(|c| format!("ON CLUSTER {c}"))
                .unwrap_or_default(),
        );
        while let Some((start, end, name)) = take_placeholder(&sql, "local")? {
            let local = match &self.cluster {
                Some(_) => format!("{db}.{name}_local"),
                None => format!("{db}.{name}"),
            };
            sql.replace_range(start..end, &local);
        }
        let table = take_placeholder(&sql, "table")?;
        if let Some((start, end, name)) = &table {
            let full = match &self.cluster {
                Some(_) => format!("{db}.{name}_local"),
                None => format!("{db}.{name}"),
            };
            sql.replace_range(*start..*end, &full);
        }
        if let Some((start, end, engine)) = take_placeholder(&sql, "engine")? {
            let rendered = match (&self.cluster, &table) {
                (Some(_), Some((_, _, name))) => replicated(&engine, db, name)?,
                (Some(_), None) => return Err(bad(statement, "an engine without a {table:…}")),
                (None, _) => engine,
            };
            sql.replace_range(start..end, &rendered);
        }
        let mut distributed = None;
        if let Some((start, end, shard_by)) = take_placeholder(&sql, "distributed")? {
            sql.replace_range(start..end, "");
            if let (Some(cluster), Some((_, _, name))) = (&self.cluster, &table) {
                distributed = Some(format!(
                    "CREATE TABLE IF NOT EXISTS {db}.{name} ON CLUSTER {cluster} \
                     AS {db}.{name}_local \
                     ENGINE = Distributed({cluster}, {db}, {name}_local, {shard_by})"
                ));
            }
        }
        Ok((sql.trim().to_string(), distributed))
    }
}

/// `X(args)` as its replicated engine on the table `name`'s shard.
fn replicated(engine: &str, db: &str, name: &str) -> Result<String, StoreError> {
    let open = engine
        .find('(')
        .ok_or_else(|| bad(engine, "an engine without arguments' parentheses"))?;
    let (kind, args) = engine.split_at(open);
    // One pair of parentheses: the arguments may hold their own (a tuple of columns).
    let args = args
        .strip_prefix('(')
        .and_then(|a| a.strip_suffix(')'))
        .ok_or_else(|| bad(engine, "an engine whose arguments do not end its text"))?
        .trim();
    let path = format!("'/clickhouse/tables/{{shard}}/{db}/{name}_local', '{{replica}}'");
    Ok(if args.is_empty() {
        format!("Replicated{kind}({path})")
    } else {
        format!("Replicated{kind}({path}, {args})")
    })
}

/// Finds `{key:VALUE}` in `sql` (the value may hold parentheses, not braces): its byte
/// range and value.
fn take_placeholder(sql: &str, key: &str) -> Result<Option<(usize, usize, String)>, StoreError> {
    let open = format!("{{{key}:");
    let Some(start) = sql.find(&open) else {
        return Ok(None);
    };
    let rest = &sql[start + open.len()..];
    let close = rest
        .find('}')
        .ok_or_else(|| bad(sql, "an unclosed placeholder"))?;
    let value = rest[..close].trim().to_string();
    Ok(Some((start, start + open.len() + close + 1, value)))
}

/// The statements of a file: split at `;` ending a line, comments dropped.
fn split_statements(file: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    for line in file.lines() {
        let code = match line.find("--") {
            Some(i) => &line[..i],
            None => line,
        };
        if code.trim().is_empty() {
            continue;
        }
        current.push_str(code);
        current.push('\n');
        if code.trim_end().ends_with(';') {
            let statement = current.trim().trim_end_matches(';').to_string();
            statements.push(statement);
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        statements.push(current.trim().to_string());
    }
    statements
}

fn bad(sql: &str, what: &str) -> StoreError {
    backend(format!("migration: {what} in: {sql}"))
}

/// Creates the database and applies every migration newer than the stored version.
pub async fn migrate(client: &Client, layout: &Layout) -> Result<u32, StoreError> {
    let on_cluster = layout
        .cluster
        .as_ref()
        .map(|c| format!(" ON CLUSTER {c}"))
        .unwrap_or_default();
    client
        .execute(
            format!("CREATE DATABASE IF NOT EXISTS {}{on_cluster}", layout.db),
            &[],
            false,
        )
        .await?;
    let tracking = "CREATE TABLE IF NOT EXISTS {table:schema_migrations} {on_cluster} (\n\
                        version UInt32,\n    applied Int64\n\
                    ) ENGINE = {engine:ReplacingMergeTree()} ORDER BY version\n\
                    {distributed:version};";
    for sql in layout.render(tracking)? {
        client.command(sql, &[]).await?;
    }
    #[derive(serde::Deserialize)]
    struct Version {
        v: u32,
    }
    let stored = client
        .rows::<Version>(
            format!(
                "SELECT toUInt32(max(version)) AS v FROM {}.schema_migrations",
                layout.db
            ),
            &[],
        )
        .await?
        .first()
        .map_or(0, |r| r.v);
    if stored > VERSION {
        return Err(backend(format!(
            "the database is at schema version {stored}, newer than this collector's {VERSION}"
        )));
    }
    for (index, file) in MIGRATIONS.iter().enumerate().skip(stored as usize) {
        for sql in layout.render(file)? {
            client.command(sql, &[]).await?;
        }
        let version = index + 1;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        client
            .command(
                format!(
                    "INSERT INTO {}.schema_migrations (version, applied) VALUES ({version}, {now})",
                    layout.db
                ),
                &[],
            )
            .await?;
    }
    Ok(VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "-- a comment\n\
        CREATE TABLE IF NOT EXISTS {table:t} {on_cluster} (\n  a String -- why\n)\n\
        ENGINE = {engine:ReplacingMergeTree(v)} ORDER BY a\n{distributed:cityHash64(a)};\n\
        ALTER TABLE {db}.t {on_cluster} DELETE WHERE a = '';\n";

    #[test]
    fn one_server_gets_plain_tables() {
        let layout = Layout {
            db: "spoor".into(),
            cluster: None,
        };
        let sql = layout.render(FILE).unwrap();
        assert_eq!(sql.len(), 2);
        assert!(
            sql[0].starts_with("CREATE TABLE IF NOT EXISTS spoor.t  ("),
            "{}",
            sql[0]
        );
        assert!(sql[0].contains("ENGINE = ReplacingMergeTree(v) ORDER BY a"));
        assert!(!sql[0].contains('{') && !sql[0].contains("why"));
        assert_eq!(sql[1], "ALTER TABLE spoor.t  DELETE WHERE a = ''");
    }

    #[test]
    fn a_cluster_gets_replicated_shards_under_distributed_tables() {
        let layout = Layout {
            db: "spoor".into(),
            cluster: Some("spoor".into()),
        };
        let sql = layout.render(FILE).unwrap();
        assert_eq!(sql.len(), 3);
        assert!(sql[0].starts_with("CREATE TABLE IF NOT EXISTS spoor.t_local ON CLUSTER spoor ("));
        assert!(sql[0].contains(
            "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/spoor/t_local', '{replica}', v)"
        ));
        assert_eq!(
            sql[1],
            "CREATE TABLE IF NOT EXISTS spoor.t ON CLUSTER spoor AS spoor.t_local \
             ENGINE = Distributed(spoor, spoor, t_local, cityHash64(a))"
        );
        assert_eq!(
            sql[2],
            "ALTER TABLE spoor.t ON CLUSTER spoor DELETE WHERE a = ''"
        );
    }

    #[test]
    fn views_name_shard_tables_and_engines_keep_their_own_parentheses() {
        let file = "CREATE TABLE IF NOT EXISTS {table:n} {on_cluster} (a String) ENGINE = Null\n\
                    {distributed:rand()};\n\
                    CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.v {on_cluster} TO {local:t} AS \
                    SELECT a FROM {local:n};\n\
                    CREATE TABLE IF NOT EXISTS {table:s} {on_cluster} (a String, x Int64) \
                    ENGINE = {engine:SummingMergeTree((x))} ORDER BY a;\n";
        let cluster = Layout {
            db: "spoor".into(),
            cluster: Some("c".into()),
        }
        .render(file)
        .unwrap();
        assert_eq!(cluster.len(), 4, "{cluster:#?}");
        assert!(cluster[0].ends_with("ENGINE = Null"));
        assert!(cluster[1].contains("ENGINE = Distributed(c, spoor, n_local, rand())"));
        assert!(cluster[3].contains(
            "ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/spoor/s_local', \
             '{replica}', (x))"
        ));
        let view = cluster.iter().find(|s| s.contains("VIEW")).unwrap();
        assert!(
            view.contains("TO spoor.t_local AS SELECT a FROM spoor.n_local"),
            "{view}"
        );
        let one = Layout {
            db: "spoor".into(),
            cluster: None,
        }
        .render(file)
        .unwrap();
        assert_eq!(one.len(), 3, "{one:#?}");
        assert!(one[1].contains("TO spoor.t AS SELECT a FROM spoor.n"));
        assert!(one[2].contains("ENGINE = SummingMergeTree((x))"));
    }

    #[test]
    fn every_shipped_migration_renders_for_both_layouts() {
        for cluster in [None, Some("c".to_string())] {
            let layout = Layout {
                db: "spoor".into(),
                cluster,
            };
            for file in MIGRATIONS {
                for sql in layout.render(file).unwrap() {
                    assert!(
                        !sql.contains("{table")
                            && !sql.contains("{engine")
                            && !sql.contains("{distributed"),
                        "{sql}"
                    );
                }
            }
        }
    }
}
