//! Test support for Spoor's end-to-end tests: a real collector on a free loopback port, a
//! real chromedriver, and real headless Chromium profiles; [`cluster`]: real ClickHouse, one
//! server or the replicated cluster of `scripts/cluster.sh`.
//!
//! Everything started here is stopped by `Drop` as well as by the explicit `stop`/`close`
//! calls, so a failing test leaves no process behind: chromedriver runs in its own process
//! group, and the whole group (with the browsers it launched) is killed.

pub mod cluster;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fantoccini::{Client, ClientBuilder};
use spoor_collector::Collector;
use spoor_collector::config::Config;
use spoor_collector::http::auth::Admin;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The Chromium flag giving the test browsers a desktop Chrome user agent. Headless
/// Chromium announces itself as `HeadlessChrome`, which the collector filters as a bot
/// (`tests/tests/bots.rs`); the tests stand in for a person's browser, so they say what a
/// desktop Chrome says.
pub const BROWSER_USER_AGENT: &str = "--user-agent=Mozilla/5.0 (X11; Linux x86_64) \
    AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// The admin token a [`RunningCollector`] starts with (unless the test sets another);
/// [`RunningCollector::get_json`] and friends present the configured one.
pub const ADMIN_TOKEN: &str = "e2e-harness-admin-token-0123456789";

/// A collector serving the demo site and the built beacon on `127.0.0.1:<free port>`, with
/// a fresh database in a temporary directory. It can be stopped and started again on the
/// same port and database, as an outage looks to a browser.
pub struct RunningCollector {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The SQLite file it writes.
    pub db: PathBuf,
    config: Config,
    server: Option<Server>,
    /// The running collector's admin state, to issue sign-in codes.
    admin: Option<Arc<Admin>>,
    _dir: tempfile::TempDir,
}

/// One serving run of the collector.
struct Server {
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningCollector {
    /// Starts the collector. Fails when the beacon has not been built.
    pub async fn start() -> anyhow::Result<RunningCollector> {
        RunningCollector::start_with(|_| {}).await
    }

    /// Starts the collector with `adjust` applied to its configuration (all but `listen`).
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> anyhow::Result<RunningCollector> {
        let root = repo_root();
        let beacon = root.join("beacon/pkg");
        for file in ["spoor.js", "spoor_bg.wasm"] {
            if !beacon.join(file).is_file() {
                bail!(
                    "{} is missing: run scripts/build-beacon.sh first",
                    beacon.join(file).display()
                );
            }
        }
        let dir = tempfile::tempdir()?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let mut config = Config {
            listen: addr,
            db: dir.path().join("spoor.db"),
            www: Some(root.join("www")),
            beacon: Some(beacon),
            admin_token: Some(ADMIN_TOKEN.parse().map_err(anyhow::Error::msg)?),
            ..Config::default()
        };
        adjust(&mut config);
        config.listen = addr; // the port is the one already bound
        let mut collector = RunningCollector {
            base_url: format!("http://{addr}"),
            db: config.db.clone(),
            config,
            server: None,
            admin: None,
            _dir: dir,
        };
        collector.serve(listener).await?;
        Ok(collector)
    }

    async fn serve(&mut self, listener: TcpListener) -> anyhow::Result<()> {
        let collector = Collector::open(self.config.clone()).await?;
        self.admin = Some(Arc::clone(&collector.state().admin));
        let (shutdown, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(collector.serve(listener, async {
            let _ = rx.await;
        }));
        self.server = Some(Server { shutdown, task });
        Ok(())
    }

    /// Stops serving (gracefully: what was acknowledged is committed); the port then
    /// refuses connections until [`RunningCollector::resume`].
    pub async fn pause(&mut self) -> anyhow::Result<()> {
        if let Some(server) = self.server.take() {
            let _ = server.shutdown.send(());
            server.task.await??;
        }
        Ok(())
    }

    /// Serves again on the same port and database.
    pub async fn resume(&mut self) -> anyhow::Result<()> {
        let listener = TcpListener::bind(self.config.listen).await?;
        self.serve(listener).await
    }

    /// `GET base_url + path` as JSON, with the configured admin token.
    pub async fn get_json(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let url = format!("{}{path}", self.base_url);
        let body = http_get(&url, self.token()).await?;
        serde_json::from_str(&body).with_context(|| format!("{url} answered {body:?}"))
    }

    /// `GET base_url + path` as text (for `/metrics`), with the configured admin token.
    pub async fn get_text(&self, path: &str) -> anyhow::Result<String> {
        http_get(&format!("{}{path}", self.base_url), self.token()).await
    }

    /// `GET base_url + path` as text with no credential at all.
    pub async fn get_text_anonymous(&self, path: &str) -> anyhow::Result<String> {
        http_get(&format!("{}{path}", self.base_url), None).await
    }

    fn token(&self) -> Option<&str> {
        self.config.admin_token.as_ref().map(|t| t.reveal())
    }

    /// A fresh one-time URL that signs a browser in to the dashboard.
    pub fn signin_url(&self) -> anyhow::Result<String> {
        let admin = self
            .admin
            .as_ref()
            .context("the collector is not serving")?;
        let code = admin.sessions.issue_code()?;
        Ok(format!("{}/dashboard/signin?code={code}", self.base_url))
    }

    /// Polls `/api/summary?site=demo` until `field` reaches `at_least`, or fails after
    /// `timeout` with the last answer.
    pub async fn wait_for_count(
        &self,
        field: &str,
        at_least: u64,
        timeout: Duration,
    ) -> anyhow::Result<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let summary = self.get_json("/api/summary?site=demo").await?;
            if summary[field].as_u64().unwrap_or(0) >= at_least {
                return Ok(summary);
            }
            if Instant::now() > deadline {
                bail!("{field} did not reach {at_least} within {timeout:?}: {summary}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Rows of `sql` read straight from the database, each as a JSON object keyed by
    /// column name, so a test can print what it got when an assertion fails.
    pub fn rows(&self, sql: &str) -> anyhow::Result<Vec<serde_json::Value>> {
        let db = rusqlite::Connection::open(&self.db)?;
        let mut stmt = db.prepare(sql)?;
        let names: Vec<String> = stmt.column_names().map(str::to_string).collect();
        let rows = stmt.query_map([], |row| {
            let mut object = serde_json::Map::new();
            for (i, name) in names.iter().enumerate() {
                let value = match row.get_ref(i)? {
                    rusqlite::types::ValueRef::Null => serde_json::Value::Null,
                    rusqlite::types::ValueRef::Integer(n) => n.into(),
                    rusqlite::types::ValueRef::Real(x) => x.into(),
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                        String::from_utf8_lossy(t).into_owned().into()
                    }
                };
                object.insert(name.clone(), value);
            }
            Ok(serde_json::Value::Object(object))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stops the collector gracefully and waits for its writer to finish.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.pause().await
    }
}

impl Drop for RunningCollector {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            let _ = server.shutdown.send(());
        }
    }
}

/// `GET url` over plain HTTP, with `token` as a bearer credential when given; the body of
/// a `200`, else an error. Bounded in time.
async fn http_get(url: &str, token: Option<&str>) -> anyhow::Result<String> {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<hyper::body::Bytes>>();
    let mut request = hyper::Request::get(url);
    if let Some(token) = token {
        request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request.body(http_body_util::Empty::new())?;
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request)).await??;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    let body = String::from_utf8_lossy(&body).into_owned();
    if status != hyper::StatusCode::OK {
        bail!("GET {url}: {status} {body}");
    }
    Ok(body)
}

/// A chromedriver process on a free loopback port, in its own process group.
pub struct ChromeDriver {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
}

impl ChromeDriver {
    /// Starts `$CHROMEDRIVER` (default `/usr/bin/chromedriver`) and waits until it answers;
    /// one that does not answer within 20 s (a port taken between being found free and
    /// bound, or a machine busy with parallel tests) is killed and another started on
    /// another port, three times at most.
    pub async fn start() -> anyhow::Result<ChromeDriver> {
        let mut last = None;
        for _ in 0..3 {
            match ChromeDriver::start_once().await {
                Ok(driver) => return Ok(driver),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("chromedriver did not start")))
    }

    async fn start_once() -> anyhow::Result<ChromeDriver> {
        use std::os::unix::process::CommandExt;
        let binary =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {binary} (apt-get install chromium-driver)"))?;
        // Dropped on every way out, so a driver that did not answer is killed.
        let driver = ChromeDriver {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while http_get(&format!("{}/status", driver.url), None)
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                bail!("chromedriver did not answer on port {port}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(driver)
    }

    /// Opens a headless Chromium with a fresh, empty profile.
    pub async fn browser(&self) -> anyhow::Result<Browser> {
        self.browser_with_prefs(serde_json::json!({})).await
    }

    /// Opens a headless Chromium with a fresh profile and these Chromium preferences
    /// (for example `{"enable_do_not_track": true}`).
    pub async fn browser_with_prefs(&self, prefs: serde_json::Value) -> anyhow::Result<Browser> {
        self.open(prefs, Some(BROWSER_USER_AGENT), &[]).await
    }

    /// Opens a headless Chromium that keeps its own user agent, which announces
    /// `HeadlessChrome`, as automated browsers out there do.
    pub async fn browser_announcing_headless(&self) -> anyhow::Result<Browser> {
        self.open(serde_json::json!({}), None, &[]).await
    }

    /// Opens a headless Chromium with a fresh profile that resolves every host under the
    /// given domains (`example.com`) to 127.0.0.1, with no network involved, so a test can
    /// put a page and a collector on different sites by name. Automatic HTTPS upgrades are
    /// off: the test servers speak plain http.
    pub async fn browser_resolving(&self, domains: &[&str]) -> anyhow::Result<Browser> {
        let rules: Vec<String> = domains
            .iter()
            .map(|d| format!("MAP *.{d} 127.0.0.1"))
            .collect();
        let args = [
            format!("--host-resolver-rules={}", rules.join(", ")),
            "--disable-features=HttpsUpgrades".to_string(),
        ];
        self.open(serde_json::json!({}), Some(BROWSER_USER_AGENT), &args)
            .await
    }

    async fn open(
        &self,
        prefs: serde_json::Value,
        user_agent: Option<&str>,
        extra_args: &[String],
    ) -> anyhow::Result<Browser> {
        let profile = tempfile::tempdir()?;
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,900",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain(user_agent.map(str::to_string))
        .chain(extra_args.iter().cloned())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": chromium_binary(), "args": args, "prefs": prefs }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .context("opening a Chromium session")?;
        Ok(Browser {
            client,
            _profile: profile,
        })
    }
}

fn chromium_binary() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // Kill the whole group: chromedriver and every browser it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser profile driven through WebDriver.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Ends the session (the browser exits).
    pub async fn close(self) -> anyhow::Result<()> {
        self.client.close().await?;
        Ok(())
    }
}

/// A site's own web server on a loopback port, apart from the collector: it answers every
/// `GET` with one HTML page (and `/blank` with an empty one), so a test can embed the beacon
/// from a collector on another origin (see [`ChromeDriver::browser_resolving`] for names).
/// Stopped when dropped.
pub struct PageServer {
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl PageServer {
    /// Serves `html` for every path.
    pub async fn start(html: String) -> anyhow::Result<PageServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let router = axum::Router::new()
            .route(
                "/blank",
                axum::routing::get(|| async {
                    axum::response::Html("<!doctype html><title>blank</title>")
                }),
            )
            .fallback(move || {
                let html = html.clone();
                async move { axum::response::Html(html) }
            });
        let (shutdown, stop) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stop.await;
                })
                .await;
        });
        Ok(PageServer {
            port,
            shutdown: Some(shutdown),
            task,
        })
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.task.abort();
    }
}
