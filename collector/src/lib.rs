//! Spoor's collector: receives beacons, decides who sent them, stores them durably and
//! answers reports.
//!
//! # Layout, as a request travels
//! - [`http`]: the HTTP surface — the accept loop and connection caps (`http::server`), the
//!   router ([`app`], `http::router`) with the admin gate around it (`http::auth`), CORS
//!   and the rate limit in front of `/collect`, the extractors (`http::extract`: client
//!   address behind trusted proxies, https), the handlers (`http::routes`: `collect`,
//!   `ingest`, `api`, `persons`, `privacy`, `reports`, `health`), the embedded site and
//!   beacon (`http::assets`) and the error boundary (`http::error`).
//! - [`payload`]: the `/collect` wire format and its validation into [`event`]s — each
//!   type's fields, custom props, browser context and UTM tags from the page URL, stored
//!   URLs cut to what may be kept.
//! - [`enrich`]: what is added from the request — User-Agent classes, source classes,
//!   GeoIP countries.
//! - [`identity`]: who sent an event — resolution order, fingerprints, salts, the cookie,
//!   verified logins, and persons (links between visitor ids, anchored on users).
//! - [`session`]: server-side sessions — the pure rules that assign each event to a visit
//!   (idle timeout, midnight in the site's time zone, new campaign; bounce, duration).
//! - [`ingest`]: the `/collect` pipeline as named steps (`envelope`, `origin`, `bots`,
//!   `privacy`, `validate`, `enrich`, `submit`; each refusal a typed `Refusal` that names
//!   both its metrics label and its answer), then the bounded queue and the batching
//!   writer, which resolves identity (`resolve`) from its caches and commits
//!   (acknowledge after commit).
//! - [`peers`]: many collectors behind a load balancer, each visitor owned by one: the
//!   routing key, the rendezvous ring, the signed forward to the owner and its internal
//!   endpoint, liveness.
//! - [`store`]: the storage seam ([`Store`](store::Store): event sink, identity state,
//!   report source, maintenance) and its SQLite implementation.
//! - [`reports`]: the report model (query, filters, summary, funnels, flows, CSV), the
//!   visitor sketches, the synthetic-history generator and the benchmark;
//!   `http::routes::reports` serves them under `/api/…`.
//! - [`maintenance`]: retention (the hourly purge), export and erasure (API and CLI), and
//!   the `rebuild-reports` subcommand.
//! - [`config`]: the one [`Config`](config::Config), every option defined once.
//! - [`event`]: the event model; [`EventKind`](event::EventKind) carries each type's data.
//! - [`state`]: [`AppState`](state::AppState), shared by handlers; [`clock`]: where
//!   `/collect` reads "now" (the wall clock, or a manual clock a simulation drives);
//!   [`metrics`]: counters and histograms at `GET /metrics`; [`sites`]: the configured
//!   sites and their hostnames; [`site_secrets`]: per-site secrets (identity secrets,
//!   server-side ingest keys).
//!
//! [`app`] builds the router (tested without sockets); [`Collector`] owns a running
//! instance: its state and its writer task, and shuts them down in order.

pub mod clock;
pub mod config;
pub mod enrich;
pub mod event;
pub mod http;
pub mod identity;
pub mod ingest;
pub mod maintenance;
pub mod metrics;
pub mod payload;
pub mod peers;
pub mod reports;
pub mod session;
pub mod site_secrets;
pub mod sites;
pub mod state;
pub mod store;

pub use http::router::app;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use axum_extra::extract::cookie::Key;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::config::Config;
use crate::http::auth::{Admin, AdminToken};
use crate::http::ratelimit::RateLimiter;
use crate::http::server;
use crate::identity::salt::{EXPIRE_EVERY, SaltCache, SaltExpiry};
use crate::ingest::Ingest;
use crate::maintenance::retention::{PURGE_EVERY, Retention};
use crate::metrics::Metrics;
use crate::session::SessionRules;
use crate::state::AppState;
use crate::store::clickhouse::ClickHouseStore;
use crate::store::sqlite::{SqliteOptions, SqliteStore};
use crate::store::{Store, StoreError};

/// Name of the store secret that signs the server cookie.
const COOKIE_KEY_SECRET: &str = "cookie-key";

/// A collector ready to serve: its state and the writer task behind it.
pub struct Collector {
    state: AppState,
    writer: JoinHandle<()>,
    /// The hourly retention purge; stops when the collector is dropped.
    retention: Retention,
    /// The hourly deletion of old daily salts; stops when the collector is dropped.
    salt_expiry: SaltExpiry,
    /// The admin token made at this start, when none was configured or stored before.
    created_token: Option<AdminToken>,
    /// The probe of down peers (`--peers`); stops when the collector is dropped.
    _probe: Option<peers::liveness::Probe>,
}

impl Collector {
    /// Opens the store named in `config` (the SQLite file, or ClickHouse), cutting
    /// sessions in the configured site time zone, and starts the ingest writer.
    pub async fn open(config: Config) -> Result<Collector, StoreError> {
        let path = config.db.clone();
        let rules = SessionRules {
            zone: config.site_timezone.clone(),
            idle_timeout: config.session_idle,
        };
        if let Some(options) = config.clickhouse.clone() {
            let store = ClickHouseStore::open(options, rules).await?;
            return Collector::with_store(config, Arc::new(store)).await;
        }
        let options = SqliteOptions {
            synchronous: config.sqlite_synchronous,
            busy_timeout: config.ingest.store_deadline,
            max_pages: config.sqlite_max_pages,
        };
        let store = tokio::task::spawn_blocking(move || SqliteStore::open_with(&path, options))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??
            .with_session_rules(rules);
        Collector::with_store(config, Arc::new(store)).await
    }

    /// Starts a collector over any store (tests use an in-memory one).
    pub async fn with_store(
        config: Config,
        store: Arc<dyn Store>,
    ) -> Result<Collector, StoreError> {
        Collector::with_store_and_clock(config, store, Clock::wall()).await
    }

    /// Starts a collector over any store that reads the time from `clock` (the accuracy
    /// simulator replays a month of traffic on a manual clock).
    pub async fn with_store_and_clock(
        config: Config,
        store: Arc<dyn Store>,
        clock: Clock,
    ) -> Result<Collector, StoreError> {
        let key_bytes = store.secret(COOKIE_KEY_SECRET).await?;
        let cookie_key =
            Key::try_from(key_bytes.as_slice()).map_err(|e| StoreError::Random(e.to_string()))?;
        let configured = config.admin_token.clone();
        let (admin, created_token) = Admin::open(&*store, configured).await?;
        let metrics = Arc::new(Metrics::default());
        let peers = match &config.peers {
            Some(list) => Some(Arc::new(peers::Peers::new(
                list.clone(),
                peers::auth::PeerKey::new(store.secret(peers::auth::KEY_SECRET).await?.to_vec()),
                Arc::clone(&metrics),
                config.ingest.store_deadline,
            ))),
            None => None,
        };
        let sink: Arc<dyn store::BlockingSink> = match &peers {
            Some(p) => Arc::new(peers::epoch::PeeredSink {
                inner: store.blocking(),
                liveness: p.liveness(),
            }),
            None => store.blocking(),
        };
        let probe = peers.as_ref().map(peers::Peers::start_probing);
        let (ingest, writer) = Ingest::start_observed(sink, config.ingest, Arc::clone(&metrics));
        let rate_limiter = Arc::new(RateLimiter::new(config.rate_limit));
        let retention = Retention::start(
            Arc::clone(&store),
            clock.clone(),
            config.retention,
            PURGE_EVERY,
        );
        let salts = Arc::new(SaltCache::new(Arc::clone(&store)));
        let salt_expiry = SaltExpiry::start(Arc::clone(&salts), clock.clone(), EXPIRE_EVERY);
        let state = AppState::new(state::Shared {
            config: Arc::new(config),
            salts,
            store,
            ingest,
            cookie_key,
            clock,
            rate_limiter,
            metrics,
            admin: Arc::new(admin),
            peers,
        });
        Ok(Collector {
            state,
            writer,
            retention,
            salt_expiry,
            created_token,
            _probe: probe.map(peers::liveness::Probe),
        })
    }

    /// The admin token this start made (no token was configured and none was stored):
    /// the only time it can be shown, since the store keeps its hash alone.
    pub fn created_token(&self) -> Option<&AdminToken> {
        self.created_token.as_ref()
    }

    /// A new one-time code for `/dashboard/signin?code=…` (valid an hour, once).
    pub fn signin_code(&self) -> Result<String, StoreError> {
        self.state.admin.sessions.issue_code()
    }

    /// The shared state (for tests that drive [`app`] directly).
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves on `listener` until `shutdown` completes, then stops accepting connections,
    /// lets in-flight requests finish, closes the ingest queue and waits for the writer to
    /// commit what it holds. All of that must end within the configured shutdown deadline;
    /// past it, this returns a `TimedOut` error (whatever was not committed was not
    /// acknowledged either, so clients retry it).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        self.serve_with_metrics(listener, None, shutdown).await
    }

    /// [`Collector::serve`], and `/metrics` alone, without credentials, on
    /// `metrics_listener` when given (`--metrics-listen`); both stop together.
    pub async fn serve_with_metrics(
        self,
        listener: TcpListener,
        metrics_listener: Option<TcpListener>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Collector {
            state,
            writer,
            retention,
            salt_expiry,
            created_token: _,
            _probe,
        } = self;
        // Purging stops with the server (dropping the handle aborts the task).
        let _retention = retention;
        let _salt_expiry = salt_expiry;
        let deadline = state.config.shutdown_deadline;
        let limits = state.config.server;
        let (metrics_stop, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
        if let Some(metrics_listener) = metrics_listener {
            let open = Router::new()
                .route("/metrics", get(metrics::metrics))
                .with_state(state.clone());
            tokio::spawn(server::serve(metrics_listener, open, limits, async {
                let _ = metrics_stopped.await;
            }));
        }
        let clients = server::Clients {
            exempt: state.config.trusted_proxies.clone(),
            metrics: Arc::clone(&state.metrics),
        };
        let router = app(state);
        let (stopping, stop_requested) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            let _ = stopping.send(());
            let _ = metrics_stop.send(());
        };
        let drain = async move {
            server::serve_observed(listener, router, limits, clients, signal).await?;
            writer.await.map_err(std::io::Error::other)
        };
        tokio::pin!(drain);
        tokio::select! {
            biased;
            served = &mut drain => return served,
            _ = stop_requested => {}
        }
        match tokio::time::timeout(deadline, drain).await {
            Ok(drained) => drained?,
            Err(_) => {
                tracing::error!(
                    deadline_ms = deadline.as_millis() as u64,
                    "shutdown deadline passed before the queue was committed"
                );
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "shutdown deadline passed before the queue was committed",
                ));
            }
        }
        tracing::info!("collector stopped");
        Ok(())
    }
}
