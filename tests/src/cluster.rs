//! Real ClickHouse for tests, from the configurations Spoor ships (`deploy/clickhouse/`):
//! [`ClickHouse`], one server in a temporary directory (what the store's conformance tests
//! run against), and [`Cluster`], ZooKeeper and four servers as 2 shards x 2 replicas (and
//! collectors behind nginx when asked), started by `scripts/cluster.sh up` in a state
//! directory of its own, so the tests run exactly what a newcomer runs.
//!
//! Both log in as the `spoor` user with a password made for the run (the shipped
//! `users.xml` has no passwordless user), on free loopback ports, and stop what they
//! started when dropped, also when a test panics.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use crate::repo_root;

/// The ClickHouse user the shipped `users.xml` defines (`SPOOR_CLICKHOUSE_USER`).
pub const USER: &str = "spoor";

/// The server binary: `$CLICKHOUSE_SERVER`, else Debian's path.
fn server_binary() -> PathBuf {
    std::env::var_os("CLICKHOUSE_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/clickhouse-server"))
}

/// Whether `clickhouse-server` is installed; the ClickHouse tests skip (saying so) when it
/// is not. `scripts/setup.sh` installs it, so CI always runs them.
pub fn clickhouse_installed() -> bool {
    server_binary().is_file()
}

/// One ClickHouse server from `deploy/clickhouse/single/` and `deploy/clickhouse/users.xml`,
/// in a temporary directory on free loopback ports; killed and removed when dropped. It
/// answers in about half a second.
pub struct ClickHouse {
    /// The HTTP interface, `http://127.0.0.1:PORT`.
    pub url: String,
    /// The `spoor` user's password.
    pub password: String,
    /// The server's directory: `config.xml`, `users.xml`, `data/`, `log/`.
    pub dir: PathBuf,
    child: Child,
    _temp: tempfile::TempDir,
}

impl ClickHouse {
    /// Starts the server and waits until `GET /ping` answers `Ok.`.
    pub async fn start() -> anyhow::Result<ClickHouse> {
        let temp = tempfile::tempdir()?;
        let dir = temp.path().to_path_buf();
        let password = random_secret()?;
        std::fs::create_dir_all(dir.join("log"))?;
        std::fs::write(dir.join("users.xml"), users_xml(&password)?)?;
        // Two tries: a port found free can be taken by someone else before the server binds.
        let mut last_error = None;
        for _ in 0..2 {
            let (http, tcp) = (free_port()?, free_port()?);
            let config = render(
                &std::fs::read_to_string(deploy().join("single/config.xml"))?,
                &[
                    ("DIR", &dir.display().to_string()),
                    ("LISTEN_HOST", "127.0.0.1"),
                    ("HTTP_PORT", &http.to_string()),
                    ("TCP_PORT", &tcp.to_string()),
                ],
            )?;
            std::fs::write(dir.join("config.xml"), config)?;
            let mut child = Command::new(server_binary())
                .arg(format!(
                    "--config-file={}",
                    dir.join("config.xml").display()
                ))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting clickhouse-server (scripts/setup.sh installs it)")?;
            let url = format!("http://127.0.0.1:{http}");
            match wait_until_ready(&url, &mut child, &dir.join("log")).await {
                Ok(()) => {
                    return Ok(ClickHouse {
                        url,
                        password,
                        dir,
                        child,
                        _temp: temp,
                    });
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("clickhouse-server did not start")))
    }

    /// The `--store` value of a collector on this server, database `database`.
    pub fn store(&self, database: &str) -> String {
        format!("clickhouse:{}/{database}", self.url)
    }

    /// Runs `sql` as the `spoor` user; the body of the answer.
    pub async fn query(&self, sql: &str) -> anyhow::Result<String> {
        query(&self.url, &self.password, &[], sql).await
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Options of [`Cluster::start`].
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// The state directory `scripts/cluster.sh` works in; `None`: a temporary one, removed
    /// on drop. A given directory is kept (its processes are still stopped).
    pub state: Option<PathBuf>,
    /// How many collectors, behind nginx; 0 (the default): ZooKeeper and ClickHouse only.
    pub collectors: usize,
    /// The collectors each on a SQLite file of their own (`scripts/cluster.sh --sqlite`)
    /// instead of the cluster: for the nginx and collector half alone.
    pub sqlite: bool,
    /// The collector binary; `None`: `target/debug/spoor-collector`, which
    /// `cargo test --workspace` builds (`cargo build -p spoor-collector` does too).
    pub collector_bin: Option<PathBuf>,
    /// Extra environment for the collectors (`SPOOR_SITES`, `SPOOR_INGEST_KEYS`, …): the
    /// script passes every `SPOOR_*` variable on to them.
    pub collector_env: Vec<(String, String)>,
}

/// ZooKeeper and four ClickHouse servers, 2 shards x 2 replicas in the cluster `spoor`,
/// and as many collectors behind nginx as asked, started by `scripts/cluster.sh up`.
/// Replica `i` (0 to 3) is server `i + 1` of the script: shard `i / 2 + 1`, replica
/// `r{i % 2 + 1}`; collector `i` is the script's collector `i + 1`. Every process is killed
/// when the value is dropped.
pub struct Cluster {
    /// The HTTP interfaces of the four servers, `http://127.0.0.1:PORT`, by replica index.
    pub urls: Vec<String>,
    /// The `spoor` user's password.
    pub password: String,
    /// The collectors' base URLs, `http://127.0.0.1:PORT`, by index.
    pub collectors: Vec<String>,
    /// nginx in front of the collectors, `http://127.0.0.1:PORT`, when there are any.
    pub front: Option<String>,
    /// The script's state directory: each part's configuration, data, log and pid file.
    pub state: PathBuf,
    options: ClusterOptions,
    _temp: Option<tempfile::TempDir>,
}

impl Cluster {
    /// Starts the cluster and waits until ZooKeeper, every server, every collector and
    /// nginx answer (about 1.5 s without collectors).
    pub async fn start(options: ClusterOptions) -> anyhow::Result<Cluster> {
        let (state, temp) = match &options.state {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                (dir.clone(), None)
            }
            None => {
                let temp = tempfile::tempdir()?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        // One start at a time in this process: `scripts/cluster.sh` picks ports nothing
        // listens on, and two clusters starting together (the tests of one binary run in
        // parallel) could pick the same one before either listens ("Address already in
        // use", seen once in CI). Once up, a cluster's ports are taken for the next.
        static STARTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _one_at_a_time = STARTING.lock().await;
        // Built before the script runs, so that a failing start still stops what it began.
        let mut cluster = Cluster {
            urls: Vec::new(),
            password: String::new(),
            collectors: Vec::new(),
            front: None,
            state,
            options,
            _temp: temp,
        };
        cluster.up().await?;
        let ports = read_ports(&cluster.state.join("ports.env"))?;
        let url = |key: String| -> anyhow::Result<String> {
            let port = ports
                .get(&key)
                .with_context(|| format!("{key} is not in ports.env"))?;
            Ok(format!("http://127.0.0.1:{port}"))
        };
        for n in 1..=4 {
            cluster.urls.push(url(format!("CH{n}_HTTP"))?);
        }
        for n in 1..=cluster.options.collectors {
            cluster.collectors.push(url(format!("COLLECTOR{n}"))?);
        }
        if cluster.options.collectors > 0 {
            cluster.front = Some(url("FRONT".to_string())?);
        }
        cluster.password = std::fs::read_to_string(cluster.state.join("clickhouse-password"))?
            .trim()
            .to_string();
        Ok(cluster)
    }

    /// The `--store` value of a collector on the whole cluster, database `database`: every
    /// server, to fail over between.
    pub fn store(&self, database: &str) -> String {
        let urls: Vec<String> = self
            .urls
            .iter()
            .map(|u| format!("{u}/{database}"))
            .collect();
        format!("clickhouse:{}", urls.join(","))
    }

    /// Runs `sql` on replica `i` as the `spoor` user, with these ClickHouse settings as URL
    /// parameters (`insert_quorum=2`, …); the body of the answer.
    pub async fn query_with(
        &self,
        i: usize,
        settings: &[(&str, &str)],
        sql: &str,
    ) -> anyhow::Result<String> {
        let url = self.urls.get(i).context("no such replica")?;
        query(url, &self.password, settings, sql).await
    }

    /// Runs `sql` on replica `i`.
    pub async fn query(&self, i: usize, sql: &str) -> anyhow::Result<String> {
        self.query_with(i, &[], sql).await
    }

    /// Kills replica `i` with SIGKILL, as a crash would, and waits until it is gone.
    pub async fn kill_replica(&self, i: usize) -> anyhow::Result<()> {
        if i >= self.urls.len() {
            bail!("no replica {i}");
        }
        self.kill(&format!("ch{}", i + 1)).await
    }

    /// Starts replica `i` again on its ports and data (`scripts/cluster.sh up` starts
    /// whatever is not running) and waits until it answers.
    pub async fn restart_replica(&self, i: usize) -> anyhow::Result<()> {
        if i >= self.urls.len() {
            bail!("no replica {i}");
        }
        self.up().await
    }

    /// Kills collector `i` with SIGKILL and waits until it is gone.
    pub async fn kill_collector(&self, i: usize) -> anyhow::Result<()> {
        if i >= self.collectors.len() {
            bail!("no collector {i}");
        }
        self.kill(&format!("collector{}", i + 1)).await
    }

    /// Starts collector `i` again on its port, and waits until it answers.
    pub async fn restart_collector(&self, i: usize) -> anyhow::Result<()> {
        if i >= self.collectors.len() {
            bail!("no collector {i}");
        }
        self.up().await
    }

    /// The collectors' shared admin token (`STATE/admin-token`), for `/api/*` through
    /// [`Cluster::front`] as `Authorization: Bearer <token>`.
    pub fn admin_token(&self) -> anyhow::Result<String> {
        let path = self.state.join("admin-token");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(text.lines().next().unwrap_or_default().trim().to_string())
    }

    /// The SQLite file of collector `i` (with [`ClusterOptions::sqlite`]).
    pub fn collector_db(&self, i: usize) -> PathBuf {
        self.state.join(format!("collector{}/spoor.db", i + 1))
    }

    /// SIGKILL to the process of `STATE/<part>/pid`, then waits until it has exited.
    async fn kill(&self, part: &str) -> anyhow::Result<()> {
        let pid_file = self.state.join(part).join("pid");
        let pid = std::fs::read_to_string(&pid_file)
            .with_context(|| format!("reading {}", pid_file.display()))?;
        let pid = pid.trim().to_string();
        let status = Command::new("kill").args(["-KILL", &pid]).status()?;
        if !status.success() {
            bail!("kill -KILL {pid} ({part}) failed");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while running(&pid) {
            if Instant::now() > deadline {
                bail!("{part} (pid {pid}) did not die");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// `scripts/cluster.sh up` with this cluster's options, in a blocking thread; its
    /// output when it fails.
    async fn up(&self) -> anyhow::Result<()> {
        let mut command = Command::new(repo_root().join("scripts/cluster.sh"));
        command.arg("up").arg("--state").arg(&self.state);
        if self.options.collectors == 0 {
            command.arg("--no-collectors");
        } else {
            command
                .arg("--collectors")
                .arg(self.options.collectors.to_string());
            if self.options.sqlite {
                command.arg("--sqlite");
            }
            let bin = self
                .options
                .collector_bin
                .clone()
                .unwrap_or_else(|| repo_root().join("target/debug/spoor-collector"));
            if !bin.is_file() {
                bail!(
                    "no collector binary at {}: cargo build -p spoor-collector",
                    bin.display()
                );
            }
            command.env("SPOOR_COLLECTOR_BIN", bin);
            command.envs(self.options.collector_env.iter().cloned());
        }
        command.stdin(Stdio::null());
        let output = tokio::task::spawn_blocking(move || command.output()).await??;
        if !output.status.success() {
            bail!(
                "scripts/cluster.sh up failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }
}

impl Drop for Cluster {
    /// SIGKILL to every process the script started (a test's data is thrown away, so
    /// there is nothing to shut down gracefully for), then the state directory goes.
    /// nginx alone gets SIGTERM first: its worker outlives a master killed with SIGKILL.
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(&self.state) else {
            return;
        };
        for entry in entries.flatten() {
            if let Ok(pid) = std::fs::read_to_string(entry.path().join("pid")) {
                let pid = pid.trim();
                if entry.file_name() == "nginx" && running(pid) {
                    let _ = Command::new("kill").args(["-TERM", pid]).status();
                    for _ in 0..50 {
                        if !running(pid) {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                }
                if running(pid) {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            }
        }
    }
}

/// Whether process `pid` exists and is not a zombie.
fn running(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name: "1234 (name) S …".
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// `deploy/clickhouse/`.
fn deploy() -> PathBuf {
    repo_root().join("deploy/clickhouse")
}

/// The shipped `users.xml` for this password.
fn users_xml(password: &str) -> anyhow::Result<String> {
    let sha: String = Sha256::digest(password.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    render(
        &std::fs::read_to_string(deploy().join("users.xml"))?,
        &[("SPOOR_PASSWORD_SHA256", &sha)],
    )
}

/// Replaces each `@NAME@` of a `deploy/` template; fails when one is left, so a template
/// and this harness cannot drift apart silently (`scripts/cluster.sh` checks the same).
pub fn render(template: &str, values: &[(&str, &str)]) -> anyhow::Result<String> {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("@{name}@"), value);
    }
    // Each stretch between two consecutive `@` that is a NAME is a placeholder left over.
    let parts: Vec<&str> = out.split('@').collect();
    let between = parts
        .get(1..parts.len().saturating_sub(1))
        .unwrap_or_default();
    let placeholder = between.iter().find(|s| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    });
    match placeholder {
        Some(name) => bail!("the template's @{name}@ is not filled in"),
        None => Ok(out),
    }
}

/// A free port on 127.0.0.1 (free when asked; the caller binds it soon after).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// 32 hex digits from the kernel's random source.
fn random_secret() -> anyhow::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// `NAME=VALUE` lines.
fn read_ports(path: &Path) -> anyhow::Result<HashMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect())
}

/// Polls `GET url/ping` until it answers `Ok.`; fails when the server exits first (with the
/// end of its error log) or after 30 s.
async fn wait_until_ready(url: &str, child: &mut Child, log: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((200, body)) = request(&format!("{url}/ping"), None, None).await {
            if body == "Ok.\n" || body == "Ok." {
                return Ok(());
            }
        }
        let errors = || {
            let text =
                std::fs::read_to_string(log.join("clickhouse-server.err.log")).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(10)..].join("\n")
        };
        if let Some(status) = child.try_wait()? {
            bail!("clickhouse-server exited ({status}): {}", errors());
        }
        if Instant::now() > deadline {
            bail!("clickhouse-server did not answer {url}/ping: {}", errors());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `POST sql` to a server as the `spoor` user, settings as URL parameters; the body of a
/// `200`, else an error with ClickHouse's message.
async fn query(
    url: &str,
    password: &str,
    settings: &[(&str, &str)],
    sql: &str,
) -> anyhow::Result<String> {
    let params: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let target = format!("{url}/?{}", params.join("&"));
    match request(&target, Some(password), Some(sql)).await? {
        (200, body) => Ok(body),
        (status, body) => bail!("{status} from ClickHouse for {sql:?}: {}", body.trim()),
    }
}

/// One HTTP request to a ClickHouse server: `POST body` when given, else `GET`; with the
/// `spoor` user's credentials when a password is given. Status and body; bounded in time.
pub async fn request(
    url: &str,
    password: Option<&str>,
    body: Option<&str>,
) -> anyhow::Result<(u16, String)> {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let mut builder = match body {
        Some(_) => hyper::Request::post(url),
        None => hyper::Request::get(url),
    };
    if let Some(password) = password {
        // Both headers work on 18.16 and on current releases.
        builder = builder
            .header("X-ClickHouse-User", USER)
            .header("X-ClickHouse-Key", password);
    }
    let request = builder.body(Full::new(Bytes::from(body.unwrap_or_default().to_string())))?;
    let response = tokio::time::timeout(Duration::from_secs(30), client.request(request))
        .await
        .with_context(|| format!("{url} did not answer within 30 s"))??;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}
