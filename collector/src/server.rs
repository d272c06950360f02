//! The HTTP server loop: accepts connections up to a cap, serves each with HTTP/1.1 under
//! a header read timeout and a per-request timeout, and stops gracefully.
//!
//! `axum::serve` has neither a header timeout nor a connection cap, so a slow client
//! (slowloris: headers dribbled a byte at a time, or a body that never completes) could
//! hold connections and memory forever. Here:
//! - a connection that has not sent a complete request head within `header_read_timeout`
//!   is closed; this also closes keep-alive connections idle that long;
//! - a request (reading its body and running its handler) that takes longer than
//!   `request_timeout` is answered `503` with `Retry-After`: a beacon retries, and event
//!   ids make the retry harmless;
//! - at most `max_connections` connections are served at once; further clients wait in the
//!   kernel's accept backlog until one closes.
//!
//! HTTP/1.1 only: the collector is reached by browsers over plain http in development, or
//! through a reverse proxy (which terminates TLS and HTTP/2) in production.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::error::AppError;

/// Connection limits of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Longest wait for a complete request head, and longest idle keep-alive
    /// (`--header-read-timeout-ms`, `SPOOR_HEADER_READ_TIMEOUT_MS`; default 10000).
    pub header_read_timeout: Duration,
    /// Longest time to read a request's body and answer it (`--request-timeout-ms`,
    /// `SPOOR_REQUEST_TIMEOUT_MS`; default 30000).
    pub request_timeout: Duration,
    /// Most connections served at once (`--max-connections`, `SPOOR_MAX_CONNECTIONS`;
    /// default 1024).
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// Serves `router` on `listener` under `limits` until `shutdown` completes; then stops
/// accepting, lets every open connection finish its request in flight, and returns once
/// all are closed (dropping the router, and with it the state it holds).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (closing, closed) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
        let router = router.clone();
        let mut closed = closed.clone();
        connections.spawn(async move {
            serve_connection(stream, peer, router, limits, &mut closed).await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = closing.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ServerLimits,
    closed: &mut watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let router = router.clone();
        async move {
            request.extensions_mut().insert(ConnectInfo(peer));
            let response =
                match tokio::time::timeout(limits.request_timeout, router.oneshot(request)).await {
                    Ok(Ok(response)) => response,
                    Ok(Err(never)) => match never {},
                    Err(_) => AppError::Overloaded {
                        retry_after_secs: 1,
                    }
                    .into_response(),
                };
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = async {
            let _ = closed.wait_for(|closing| *closing).await;
        } => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        // Timeouts and clients that hang up land here; the address is not logged.
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
