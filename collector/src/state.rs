//! [`AppState`]: what every handler shares.

use std::sync::Arc;

use axum::extract::FromRef;
use axum_extra::extract::cookie::Key;

use crate::clock::Clock;
use crate::config::Config;
use crate::http::auth::Admin;
use crate::http::ratelimit::RateLimiter;
use crate::identity::salt::SaltCache;
use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::store::Store;

/// Shared state of the collector: one pointer, so the clone that axum makes for every
/// layer and extractor of every request is one reference count, not one per field (the
/// fields' clones and drops had been about 2% of a single-event `/collect`).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// The state over `shared`.
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    /// The configuration the collector started with.
    pub config: Arc<Config>,
    /// Where events are read from for reports (writes go through `ingest`).
    pub store: Arc<dyn Store>,
    /// The queue to the batching writer.
    pub ingest: Ingest,
    /// Today's fingerprint salt.
    pub salts: Arc<SaltCache>,
    /// The key that signs the server cookie; persisted in the store.
    pub cookie_key: Key,
    /// Where `/collect` reads "now": the wall clock, or a simulated one.
    pub clock: Clock,
    /// Token buckets per client for `/collect`.
    pub rate_limiter: Arc<RateLimiter>,
    /// Counters, gauges and histograms served at `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The admin gate's credentials and dashboard sessions.
    pub admin: Arc<Admin>,
    /// The other collectors jobs are forwarded to (`--peers`); `None`: this one alone.
    pub peers: Option<Arc<crate::peers::Peers>>,
}

impl FromRef<AppState> for Key {
    fn from_ref(state: &AppState) -> Key {
        state.cookie_key.clone()
    }
}
