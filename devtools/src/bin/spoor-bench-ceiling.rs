//! `spoor-bench-ceiling`: the write path's ceiling for `scripts/bench.sh` (issue #12). An
//! axum server that reads each `POST /collect` body in full and answers `204`, on the same
//! runtime, HTTP stack and body limit as the collector, so the benchmark can put every
//! figure of the collector beside what the machine serves when storing costs nothing.
//! Bench-only: it checks nothing and keeps nothing but a count of bodies, printed on exit.
//!
//! `spoor-bench-ceiling --listen 127.0.0.1:8090`

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use clap::Parser;

/// Answers 204 to every POST /collect.
#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
}

/// Bodies read and answered (printed on shutdown, so the run can be checked).
type Answered = Arc<AtomicU64>;

async fn collect(State(answered): State<Answered>, body: Bytes) -> StatusCode {
    // Reading the body is what the collector must do too; its length keeps it used.
    if !body.is_empty() {
        answered.fetch_add(1, Ordering::Relaxed);
    }
    StatusCode::NO_CONTENT
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let answered = Answered::default();
    let app = Router::new()
        .route("/collect", post(collect))
        .route("/healthz", get(|| async { "ok" }))
        // The collector's default --max-body-bytes.
        .layer(DefaultBodyLimit::max(65_536))
        .with_state(answered.clone());
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    eprintln!(
        "spoor-bench-ceiling listening on {}",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    println!("answered {}", answered.load(Ordering::Relaxed));
    Ok(())
}
