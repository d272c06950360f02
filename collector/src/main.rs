//! `spoor-collector`: wires configuration, the listener and shutdown signals to the
//! library's [`Collector`](spoor_collector::Collector). Everything else lives in the library.
//!
//! `spoor-collector export …`, `erase …` and `rebuild-reports …` run the operator's
//! subcommands ([`cli::Command`](spoor_collector::maintenance::cli::Command)) instead of
//! the server; `spoor-collector admin-token --reset` replaces the generated admin
//! token. At every start the terminal (stderr) shows a one-time sign-in URL for the
//! dashboard, and on the first start without a configured token, the token made. Exit
//! status: 0 when the server stopped after draining (or a subcommand succeeded), 1 on an
//! error, including a shutdown deadline that passed, 2 on bad flags.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use spoor_collector::Collector;
use spoor_collector::config::{Config, LoadError};
use spoor_collector::http::assets;
use spoor_collector::maintenance::cli::{self, Command};
use spoor_collector::store::sqlite::SqliteStore;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    if args.get(1).is_some_and(|a| a == "admin-token") {
        let command = AdminTokenCommand::try_parse_from(&args[1..]).unwrap_or_else(|e| e.exit());
        return command.run().await;
    }
    if Command::is_requested(&args) {
        // Logs go to stderr, so stdout carries the JSON alone.
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
        let env = |k: &str| std::env::var(k).ok();
        let command = Command::try_parse_from(&args).unwrap_or_else(|e| e.exit());
        let json = tokio::task::spawn_blocking(move || command.run(env)).await??;
        println!("{json}");
        return Ok(());
    }
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let config = match Config::load(args, |k| std::env::var(k).ok()) {
        Ok(config) => config,
        Err(LoadError::Flags(e)) => e.exit(),
        Err(e) => return Err(e.into()),
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let shown = |dir: &Option<std::path::PathBuf>| {
        dir.as_ref()
            .map_or_else(|| "embedded".to_string(), |d| d.display().to_string())
    };
    tracing::info!(
        addr = %listener.local_addr()?,
        store = %match &config.clickhouse {
            Some(c) => format!("clickhouse:{}/{}", c.endpoint.urls.join(","), c.endpoint.database),
            None => format!("sqlite:{}", config.db.display()),
        },
        www = %shown(&config.www),
        beacon = %shown(&config.beacon),
        "spoor collector listening"
    );
    let metrics_listener = match config.metrics_listen {
        Some(addr) => {
            let l = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the metrics address {addr}"))?;
            tracing::info!(addr = %l.local_addr()?, "serving /metrics without credentials");
            Some(l)
        }
        None => None,
    };
    let base = signin_base(&config, listener.local_addr()?);
    match &config.beacon {
        None if !assets::embedded::has_beacon() => tracing::error!(
            "THIS COLLECTOR HAS NO BEACON: it was compiled before scripts/build-beacon.sh \
             ran, so /spoor.js answers 503 and no page can send events; build the beacon \
             and the collector again, or start with --beacon DIR"
        ),
        Some(dir) => {
            if let Some(file) = assets::dir::missing(dir, &["spoor.js", "spoor_bg.wasm"]) {
                tracing::warn!(
                    missing = %file.display(),
                    "the --beacon directory lacks the built beacon: /spoor.js answers 404"
                );
            }
        }
        None => {}
    }
    let collector = Collector::open(config).await.context("opening the store")?;
    announce(&collector, &base)?;
    if let Err(e) = collector
        .serve_with_metrics(listener, metrics_listener, shutdown_signal())
        .await
    {
        // Exit now: returning would drop the runtime, which waits for a commit that may be
        // stuck on a locked store for the whole busy timeout.
        tracing::error!(error = %e, "collector stopped with an error");
        std::process::exit(1);
    }
    Ok(())
}

/// Shows the operator, on the terminal and not in the log, how to sign in: the token made
/// at this start (the only time it can be shown) and a one-time sign-in URL.
fn announce(collector: &Collector, base: &str) -> anyhow::Result<()> {
    let code = collector.signin_code().context("making a sign-in code")?;
    if let Some(token) = collector.created_token() {
        eprintln!(
            "\nSpoor made an admin token (shown this once; only its hash is stored):\n  {}\n\
             Use it as `Authorization: Bearer <token>` for /api and /metrics. Replace it with \
             `spoor-collector admin-token --reset`.",
            token.reveal()
        );
    }
    eprintln!(
        "\nOpen the dashboard, signed in (this link works once, for 1 hour):\n  \
         {base}/dashboard/signin?code={code}\n"
    );
    Ok(())
}

/// Where the printed sign-in URL points: the listen address (loopback when it listens on
/// every interface) or `localhost` when the public hostnames allow it, else `https://` the
/// first public hostname (a proxy in front terminates TLS).
fn signin_base(config: &Config, addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let local = SocketAddr::new(ip, addr.port());
    let allowed = |host: &str| config.public_hosts.allows(host, config.listen);
    if allowed(&local.ip().to_string()) {
        format!("http://{local}")
    } else if allowed("localhost") {
        format!("http://localhost:{}", addr.port())
    } else {
        let name = config.public_hosts.first().unwrap_or("localhost");
        format!("https://{name}")
    }
}

/// `spoor-collector admin-token`: manages the admin token kept (hashed) in the store.
#[derive(Debug, Parser)]
#[command(
    name = "spoor-collector admin-token",
    about = "Replace the admin token the collector made (its hash is in the store)"
)]
struct AdminTokenCommand {
    /// Make a new token, print it once, store its hash in place of the old one and sign
    /// every dashboard session out (restart the collector to apply)
    #[arg(long, required = true)]
    reset: bool,
    /// SQLite database file [default: the ClickHouse store of $SPOOR_STORE, else $SPOOR_DB, else the server's --db default]
    #[arg(long)]
    db: Option<PathBuf>,
}

impl AdminTokenCommand {
    async fn run(self) -> anyhow::Result<()> {
        let env = |k: &str| std::env::var(k).ok();
        let reset = spoor_collector::http::auth::token::reset;
        let (token, of) = match cli::clickhouse_spec(self.db.as_deref(), &env) {
            Some(spec) => {
                let store = cli::open_clickhouse(&spec, &env).await?;
                (
                    reset(&store).await?,
                    "the ClickHouse store of SPOOR_STORE".to_string(),
                )
            }
            None => {
                let db = spoor_collector::config::database_path(self.db, env);
                let store =
                    SqliteStore::open(&db).with_context(|| format!("opening {}", db.display()))?;
                (reset(&store).await?, db.display().to_string())
            }
        };
        eprintln!("New admin token for {of} (shown this once; restart the collectors to use it):");
        println!("{}", token.reveal());
        Ok(())
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: draining the ingest queue");
}
