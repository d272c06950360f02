//! The client side of a forward: `POST /internal/ingest` to the owner, signed
//! ([`auth`](super::auth)), over pooled HTTP/1.1 connections, bounded in time; and the
//! probe that asks a down peer whether it is back.
//!
//! A forward that cannot connect, or gets no answer within the owner's store deadline and
//! a second more (the owner answers 503 itself once its own deadline passes), is
//! [`Failure::Unreachable`]: its sender marks the peer down and tries the next. Any answer
//! is returned as it came.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::auth::{NONCE_HEADER, PeerKey, SIGNATURE_HEADER, TIME_HEADER, VIEW_HEADER};

/// The internal endpoint's path.
pub const PATH: &str = "/internal/ingest";

/// Longest a connection to a peer may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Longest a probe waits.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a forward got no answer.
#[derive(Debug)]
pub enum Failure {
    /// No connection, or no answer in time.
    Unreachable(String),
}

/// An answer from the peer.
#[derive(Debug)]
pub struct Reply {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

/// A pool of connections to the peers.
#[derive(Clone)]
pub struct ForwardClient {
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl ForwardClient {
    /// A client whose forwards wait at most `timeout` for their answer.
    pub fn new(timeout: Duration) -> ForwardClient {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        ForwardClient { client, timeout }
    }

    /// Sends `body` to the peer at `base` (`http://host:port`, whose `Host` is
    /// `authority`), signed under `key` at `now_ms` with this collector's `view`.
    pub async fn forward(
        &self,
        base: &str,
        authority: &str,
        key: &PeerKey,
        view: (usize, u64),
        body: Bytes,
        now_ms: i64,
    ) -> Result<Reply, Failure> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|e| Failure::Unreachable(e.to_string()))?;
        let signed = key.sign(authority, PATH, now_ms, nonce, view, &body);
        let request = Request::post(format!("{base}{PATH}"))
            .header(header::HOST, authority)
            .header(header::CONTENT_TYPE, "application/json")
            .header(TIME_HEADER, signed.time)
            .header(NONCE_HEADER, signed.nonce)
            .header(SIGNATURE_HEADER, signed.signature)
            .header(VIEW_HEADER, signed.view)
            .body(Full::new(body))
            .map_err(|e| Failure::Unreachable(e.to_string()))?;
        self.send(request, self.timeout).await
    }

    /// Whether the peer at `base` answers `GET /healthz` with 200 now.
    pub async fn probe(&self, base: &str) -> bool {
        let Ok(request) = Request::get(format!("{base}/healthz")).body(Full::new(Bytes::new()))
        else {
            return false;
        };
        matches!(
            self.send(request, PROBE_TIMEOUT).await,
            Ok(Reply {
                status: StatusCode::OK,
                ..
            })
        )
    }

    async fn send(&self, request: Request<Full<Bytes>>, limit: Duration) -> Result<Reply, Failure> {
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| Failure::Unreachable(e.to_string()))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| Failure::Unreachable(e.to_string()))?
                .to_bytes();
            Ok(Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(limit, exchange)
            .await
            .unwrap_or_else(|_| Err(Failure::Unreachable(format!("no answer within {limit:?}"))))
    }
}
