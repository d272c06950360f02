//! `spoor-collector`: wires configuration, the listener and shutdown signals to the
//! library's [`Collector`](spoor_collector::Collector). Everything else lives in the library.
//!
//! `spoor-collector export …` and `spoor-collector erase …` run the privacy subcommands
//! ([`erasure::Command`](spoor_collector::erasure::Command)), `spoor-collector
//! rebuild-reports …` the report rebuild ([`rebuild::Command`](spoor_collector::rebuild::Command)),
//! instead of the server. Exit
//! status: 0 when the server stopped after draining (or a subcommand succeeded), 1 on an
//! error, including a shutdown deadline that passed, 2 on bad flags.

use anyhow::Context;
use clap::Parser;
use spoor_collector::Collector;
use spoor_collector::config::{Config, LoadError};
use spoor_collector::erasure::Command;
use spoor_collector::rebuild::Command as Rebuild;
use spoor_collector::routes::assets;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let privacy = Command::is_requested(&args);
    if privacy || Rebuild::is_requested(&args) {
        // Logs go to stderr, so stdout carries the JSON alone.
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
        let env = |k: &str| std::env::var(k).ok();
        let json = if privacy {
            let command = Command::try_parse_from(&args).unwrap_or_else(|e| e.exit());
            tokio::task::spawn_blocking(move || command.run(env)).await??
        } else {
            let command = Rebuild::try_parse_from(&args).unwrap_or_else(|e| e.exit());
            tokio::task::spawn_blocking(move || command.run(env)).await??
        };
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
        db = %config.db.display(),
        www = %shown(&config.www),
        beacon = %shown(&config.beacon),
        "spoor collector listening"
    );
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
    if let Err(e) = collector.serve(listener, shutdown_signal()).await {
        // Exit now: returning would drop the runtime, which waits for a commit that may be
        // stuck on a locked store for the whole busy timeout.
        tracing::error!(error = %e, "collector stopped with an error");
        std::process::exit(1);
    }
    Ok(())
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
