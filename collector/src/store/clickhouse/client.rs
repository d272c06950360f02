//! The HTTP conversation with ClickHouse: one query per POST, rows in `JSONEachRow`, the
//! user and password of `SPOOR_CLICKHOUSE_USER` / `SPOOR_CLICKHOUSE_PASSWORD`, and failover
//! between the replicas the store was given (a connection that fails moves the client to
//! the next URL, and the query is tried there once each).
//!
//! ClickHouse 18.16 (Debian's) has no query parameters, so every value that reaches SQL
//! from a request goes through [`quote`] (a string literal) or is a number formatted by
//! Rust; nothing else is spliced into a statement.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;

use crate::store::StoreError;

/// How long a statement refused because another quorum insert is under way is tried again.
const BUSY_PATIENCE: Duration = Duration::from_secs(4);

/// How long one statement may take before the client gives up on that replica.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the store's data lives: ClickHouse's HTTP URLs (replicas of the same data, tried
/// in turn), the database, and the credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Base URLs (`http://host:port`), at least one.
    pub urls: Vec<String>,
    /// The database the store's tables live in.
    pub database: String,
    /// ClickHouse user (`default` when none is given).
    pub user: String,
    /// Its password (may be empty).
    pub password: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("urls", &self.urls)
            .field("database", &self.database)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Parses `http://HOST:PORT/DATABASE[,http://HOST:PORT/DATABASE…]` (the part after
    /// `clickhouse:` of `--store`); every URL must name the same database.
    pub fn parse(
        spec: &str,
        user: Option<String>,
        password: Option<String>,
    ) -> Result<Endpoint, String> {
        let mut urls = Vec::new();
        let mut database: Option<String> = None;
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let url = url::Url::parse(part).map_err(|e| format!("{part}: {e}"))?;
            if url.scheme() != "http" {
                return Err(format!("{part}: only http:// is supported"));
            }
            let host = url.host_str().ok_or_else(|| format!("{part}: no host"))?;
            let port = url.port().unwrap_or(8123);
            let db = url.path().trim_matches('/').to_string();
            if db.is_empty() || !db.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "{part}: the path must name the database (letters, digits, _)"
                ));
            }
            if let Some(d) = &database
                && *d != db
            {
                return Err(format!(
                    "{part}: every URL must name the same database ({d})"
                ));
            }
            database = Some(db);
            urls.push(format!("http://{host}:{port}"));
        }
        let database = database.ok_or("no ClickHouse URL given")?;
        Ok(Endpoint {
            urls,
            database,
            user: user.unwrap_or_else(|| "default".into()),
            password: password.unwrap_or_default(),
        })
    }
}

/// A ClickHouse HTTP client over one [`Endpoint`].
pub struct Client {
    endpoint: Endpoint,
    http: HyperClient<HttpConnector, Full<Bytes>>,
    /// The URL tried first (the last that answered).
    current: AtomicUsize,
}

impl Client {
    /// A client for `endpoint` (no connection is made yet).
    pub fn new(endpoint: Endpoint) -> Client {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        connector.set_nodelay(true);
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Client {
            endpoint,
            http,
            current: AtomicUsize::new(0),
        }
    }

    /// The database the tables live in.
    pub fn database(&self) -> &str {
        &self.endpoint.database
    }

    /// Runs `sql` with `settings` and answers ClickHouse's reply body. With `in_database`
    /// false the statement runs without a current database (creating it).
    pub async fn execute(
        &self,
        sql: String,
        settings: &[(&str, String)],
        in_database: bool,
    ) -> Result<Bytes, StoreError> {
        let urls = &self.endpoint.urls;
        let began = std::time::Instant::now();
        let mut pause = Duration::from_millis(10);
        loop {
            let start = self.current.load(Ordering::Relaxed);
            let mut last_error = None;
            for step in 0..urls.len() {
                let index = (start + step) % urls.len();
                match self.send(&urls[index], &sql, settings, in_database).await {
                    Ok(body) => {
                        self.current.store(index, Ordering::Relaxed);
                        return Ok(body);
                    }
                    Err(Failure::Busy(e)) => {
                        last_error = Some(e);
                        break;
                    }
                    Err(Failure::Refused(e)) => return Err(e),
                    Err(Failure::Unreachable(e)) => last_error = Some(e),
                }
            }
            let error = last_error.unwrap_or_else(|| backend("no ClickHouse URL".into()));
            // ClickHouse 18.16 takes one quorum insert at a time per shard table: another
            // collector's (or a replica's catching up) is waited for, a while.
            let busy =
                matches!(&error, StoreError::Backend { message, .. } if is_quorum_busy(message));
            if !busy || began.elapsed() + pause > BUSY_PATIENCE {
                return Err(error);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// Runs a statement that answers nothing (DDL, `INSERT … VALUES`, mutations).
    pub async fn command(
        &self,
        sql: String,
        settings: &[(&str, String)],
    ) -> Result<(), StoreError> {
        self.execute(sql, settings, true).await.map(|_| ())
    }

    /// Runs `sql` (without a `FORMAT` clause) and parses each row of its `JSONEachRow`
    /// answer as a `T`.
    pub async fn rows<T: DeserializeOwned>(
        &self,
        sql: String,
        settings: &[(&str, String)],
    ) -> Result<Vec<T>, StoreError> {
        let body = self
            .execute(format!("{sql}\nFORMAT JSONEachRow"), settings, true)
            .await?;
        body.split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| {
                serde_json::from_slice(line).map_err(|e| {
                    backend(format!(
                        "unexpected row {}: {e}",
                        String::from_utf8_lossy(line)
                    ))
                })
            })
            .collect()
    }

    /// Inserts `rows` (each one JSON object) into `table` of the store's database.
    pub async fn insert<R: serde::Serialize>(
        &self,
        table: &str,
        rows: &[R],
        settings: &[(&str, String)],
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut body = format!(
            "INSERT INTO {}.{table} FORMAT JSONEachRow\n",
            self.database()
        );
        for row in rows {
            let line = serde_json::to_string(row).map_err(|e| backend(e.to_string()))?;
            body.push_str(&line);
            body.push('\n');
        }
        self.command(body, settings).await
    }

    async fn send(
        &self,
        base: &str,
        sql: &str,
        settings: &[(&str, String)],
        in_database: bool,
    ) -> Result<Bytes, Failure> {
        let mut url =
            url::Url::parse(base).map_err(|e| Failure::Refused(backend(e.to_string())))?;
        {
            let mut q = url.query_pairs_mut();
            if in_database {
                q.append_pair("database", &self.endpoint.database);
            }
            q.append_pair("user", &self.endpoint.user);
            if !self.endpoint.password.is_empty() {
                q.append_pair("password", &self.endpoint.password);
            }
            // 64-bit integers as JSON numbers (18.16 quotes them by default).
            q.append_pair("output_format_json_quote_64bit_integers", "0");
            // A batch's ids and visitors go into `IN` lists: up to 5,000 of each.
            q.append_pair("max_query_size", "16777216");
            q.append_pair("max_ast_elements", "10000000");
            // On a cluster a report's `IN (subquery)` and `JOIN` over Distributed tables
            // run the subquery once and send its result to every shard (18.16 refuses them
            // otherwise, Code 288); one server has no Distributed table to mind.
            q.append_pair("distributed_product_mode", "global");
            q.append_pair("max_expanded_ast_elements", "10000000");
            for (name, value) in settings {
                q.append_pair(name, value);
            }
        }
        let request = hyper::Request::post(url.as_str())
            .body(Full::new(Bytes::copy_from_slice(sql.as_bytes())))
            .map_err(|e| Failure::Refused(backend(e.to_string())))?;
        let response = tokio::time::timeout(STATEMENT_TIMEOUT, self.http.request(request))
            .await
            .map_err(|_| {
                Failure::Unreachable(backend(format!(
                    "{base}: no answer within {STATEMENT_TIMEOUT:?}"
                )))
            })?
            .map_err(|e| Failure::Unreachable(backend(format!("{base}: {e}"))))?;
        let status = response.status();
        let body = tokio::time::timeout(STATEMENT_TIMEOUT, response.into_body().collect())
            .await
            .map_err(|_| Failure::Unreachable(backend(format!("{base}: reply cut off"))))?
            .map_err(|e| Failure::Unreachable(backend(format!("{base}: {e}"))))?
            .to_bytes();
        if status.is_success() {
            Ok(body)
        } else {
            let text = String::from_utf8_lossy(&body);
            let message = format!("{base}: {}", text.trim());
            if is_quorum_busy(&text) {
                Err(Failure::Busy(backend(message)))
            } else if status.is_server_error() && is_replica_trouble(&text) {
                // A replica that is read-only or lost ZooKeeper refuses what another may take.
                Err(Failure::Unreachable(backend(message)))
            } else {
                Err(Failure::Refused(backend(message)))
            }
        }
    }
}

/// Why one URL did not answer a statement.
enum Failure {
    /// The server answered with an error: another replica would say the same.
    Refused(StoreError),
    /// No answer, or a replica-local fault: the next URL may do it.
    Unreachable(StoreError),
    /// Another quorum insert into the same shard table is under way: the same URL may take
    /// it in a moment.
    Busy(StoreError),
}

/// ClickHouse 18.16's refusal of a quorum insert while another is under way (Code 286),
/// which a later try passes (unlike too few live replicas, also Code 286).
fn is_quorum_busy(text: &str) -> bool {
    text.contains("Another quorum insert has been already started")
        || text.contains("Quorum for previous write has not been satisfied yet")
}

/// Errors of one replica (not of the statement): read-only table, ZooKeeper session lost,
/// too few live replicas for the quorum from this one.
fn is_replica_trouble(text: &str) -> bool {
    [
        "Code: 242",
        "Code: 999",
        "Code: 225",
        "Code: 286",
        "Code: 319",
        "Code: 210",
    ]
    .iter()
    .any(|code| text.contains(code))
}

/// A ClickHouse error as the seam's neutral error.
pub(crate) fn backend(message: String) -> StoreError {
    StoreError::Backend {
        engine: "clickhouse",
        message,
    }
}

/// `s` as a ClickHouse string literal: quoted, with `\` and `'` escaped, so no value can
/// end the literal early.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `items` as a parenthesised list of string literals, for `IN`.
pub fn quote_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = items.into_iter().map(quote).collect();
    if quoted.is_empty() {
        "('')".into()
    } else {
        format!("({})", quoted.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_everything_that_could_end_a_literal() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("it's"), "'it\\'s'");
        assert_eq!(
            quote("a\\'); DROP TABLE x; --"),
            "'a\\\\\\'); DROP TABLE x; --'"
        );
        assert_eq!(quote("\0\n"), "'\\0\\n'");
        assert_eq!(quote_list(["a", "b'"]), "('a','b\\'')");
        assert_eq!(quote_list([]), "('')");
    }

    #[test]
    fn endpoint_parses_replicas_of_one_database() {
        let e = Endpoint::parse(
            "http://127.0.0.1:8123/spoor, http://127.0.0.1:8124/spoor",
            Some("spoor".into()),
            None,
        )
        .unwrap();
        assert_eq!(e.urls, ["http://127.0.0.1:8123", "http://127.0.0.1:8124"]);
        assert_eq!((e.database.as_str(), e.user.as_str()), ("spoor", "spoor"));
        assert!(Endpoint::parse("http://h:1/a,http://h:2/b", None, None).is_err());
        assert!(Endpoint::parse("http://h:1/", None, None).is_err());
        assert!(Endpoint::parse("https://h:1/db", None, None).is_err());
        assert!(Endpoint::parse("http://h:1/db;drop", None, None).is_err());
        assert!(Endpoint::parse("", None, None).is_err());
        assert!(
            !format!(
                "{:?}",
                Endpoint::parse("http://h:1/d", None, Some("pw".into())).unwrap()
            )
            .contains("pw")
        );
    }
}
