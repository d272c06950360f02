//! The HTTP server loop: accepts connections under a cap per client and a global cap,
//! serves each with HTTP/1.1 under a header read timeout and a per-request timeout, and
//! stops gracefully.
//!
//! `axum::serve` has neither a header timeout nor a connection cap, so a slow client
//! (slowloris: headers dribbled a byte at a time, or a body that never completes) could
//! hold connections and memory forever. Here:
//! - a connection that has not sent a complete request head within `header_read_timeout`
//!   is closed; this also closes keep-alive connections idle that long;
//! - a request (reading its body and running its handler) that takes longer than
//!   `request_timeout` is answered `503` with `Retry-After`: a beacon retries, and event
//!   ids make the retry harmless;
//! - one client (an address, an IPv6 /64) holds at most `max_connections_per_client`
//!   connections, and the server at most `max_connections`. At either cap a new connection
//!   is served at once and an idle or unfinished one is closed to make room; a request in
//!   flight is never cut. See [`connections`] for which one, and for the exemption of
//!   trusted proxies. Only when every connection is busy do new clients wait in the
//!   kernel's accept backlog.
//!
//! HTTP/1.1 only: the collector is reached by browsers over plain http in development, or
//! through a reverse proxy (which terminates TLS and HTTP/2) in production.

mod connections;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::response::IntoResponse;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use ipnet::IpNet;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

use self::connections::{Busy, Connections, Rejected, Slot};
use crate::http::error::AppError;
use crate::metrics::Metrics;

/// Connection limits of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Longest wait for a complete request head, and longest idle keep-alive
    /// (`--header-read-timeout-ms`).
    pub header_read_timeout: Duration,
    /// Longest time to read a request's body and answer it (`--request-timeout-ms`,
    /// `SPOOR_REQUEST_TIMEOUT_MS`; default 30000).
    pub request_timeout: Duration,
    /// Most connections served at once (`--max-connections`). At the cap, a new connection closes the longest-idle idle or
    /// unfinished one; only when all are busy does it wait.
    pub max_connections: usize,
    /// Most connections one client (an address; an IPv6 /64) holds at once
    /// (`--max-connections-per-client`).
    /// At the cap, a new connection closes the client's own longest-idle one; when all of
    /// them are busy it is answered `429` and closed. Trusted proxies are exempt.
    pub max_connections_per_client: usize,
}

impl Default for ServerLimits {
    /// The options' defaults (see [`Config`](crate::config::Config)).
    fn default() -> Self {
        crate::config::Config::default().server
    }
}

/// Who the connection limits apply to, and where the server counts what they do.
#[derive(Debug, Clone, Default)]
pub struct Clients {
    /// Peers exempt from the per-client cap: the trusted proxies (`--trusted-proxies`),
    /// through which every visitor arrives.
    pub exempt: Vec<IpNet>,
    /// Where refused and shed connections and the open-connection gauge are counted.
    pub metrics: Arc<Metrics>,
}

/// Serves `router` on `listener` under `limits` until `shutdown` completes; then stops
/// accepting, lets every open connection finish its request in flight, and returns once
/// all are closed (dropping the router, and with it the state it holds). No peer is
/// exempt from the per-client cap and nothing is counted: see [`serve_observed`].
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_observed(listener, router, limits, Clients::default(), shutdown).await
}

/// [`serve`], exempting `clients.exempt` from the per-client cap and counting connections
/// in `clients.metrics`.
pub async fn serve_observed(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    clients: Clients,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let table = Arc::new(Connections::new(
        limits.max_connections,
        limits.max_connections_per_client,
        clients.exempt,
        clients.metrics,
    ));
    let (closing, closed) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    'accept: loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = table.room() => {}
        }
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
        let slot = loop {
            match table.admit(peer.ip()) {
                Ok(slot) => break slot,
                Err(Rejected::Refused) => {
                    refuse(&stream);
                    continue 'accept;
                }
                // Every connection became busy since the room was there: this one waits,
                // and no other is accepted meanwhile.
                Err(Rejected::Full) => tokio::select! {
                    () = &mut shutdown => break 'accept,
                    () = table.room() => {}
                },
            }
        };
        let router = router.clone();
        let mut closed = closed.clone();
        connections.spawn(async move {
            serve_connection(stream, peer, router, limits, slot, &mut closed).await;
        });
    }
    drop(listener);
    let _ = closing.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// What a client over its connection cap is told before its connection is closed.
const REFUSED: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\n\
    content-type: text/plain; charset=utf-8\r\nretry-after: 1\r\nconnection: close\r\n\
    content-length: 56\r\n\r\ntoo many connections from this client; retry in 1 second";

/// Answers a connection refused at its client's cap with `429` and closes it. The write
/// never waits: a few bytes fit any socket buffer, and a client that cannot take them
/// gets the close alone.
fn refuse(stream: &TcpStream) {
    let _ = stream.try_write(REFUSED);
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ServerLimits,
    mut slot: Slot,
    closed: &mut watch::Receiver<bool>,
) {
    let marker = slot.marker();
    let requests = marker.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let router = router.clone();
        // From a complete head until the response body is sent, this connection is busy
        // and never shed.
        let busy = requests.request();
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
            Ok::<_, std::convert::Infallible>(response.map(|body| UntilSent { body, _busy: busy }))
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
        () = slot.shed() => {
            if !marker.is_busy() {
                // Idle, or a head still arriving: nothing in flight to finish.
                return;
            }
            // A request began after the connection was chosen: finish it, then close.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        // Timeouts and clients that hang up land here; the address is not logged.
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// A response body that keeps its connection marked busy until it has been sent.
struct UntilSent {
    body: Body,
    _busy: Busy,
}

impl HttpBody for UntilSent {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::REFUSED;

    #[test]
    fn the_refusal_is_a_complete_http_answer() {
        let text = std::str::from_utf8(REFUSED).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 429 "));
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap();
        assert_eq!(length.parse::<usize>().unwrap(), body.len());
    }
}
