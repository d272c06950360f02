//! The collector's router: every route, the layers in front of `/collect`, and the admin
//! gate around all of it.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};

use super::routes::{api, collect, health, ingest, persons, privacy, reports};
use super::{assets, auth, cors, ratelimit};
use crate::metrics;
use crate::state::AppState;

/// The collector's router over `state`.
pub fn app(state: AppState) -> Router {
    let assets = assets::router(&state);
    let body_limit = state.config.limits.max_body_bytes;
    Router::new()
        .route(
            "/collect",
            post(collect::collect)
                .layer(DefaultBodyLimit::max(body_limit))
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    ratelimit::layer,
                ))
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    cors::layer,
                )),
        )
        .route(
            "/ingest",
            post(ingest::ingest).layer(DefaultBodyLimit::max(body_limit)),
        )
        .route(
            crate::peers::forward::PATH,
            // A job's wire form is wordier than the batch it came from.
            post(crate::peers::endpoint::internal_ingest)
                .layer(DefaultBodyLimit::max(body_limit.saturating_mul(8))),
        )
        .route("/api/summary", get(api::summary))
        .route("/api/persons/{visitor}", get(persons::person))
        .route("/api/persons/{visitor}/explain", get(persons::explain))
        .route("/api/links/{id}", delete(persons::delete_link))
        .route("/api/export", get(privacy::export))
        .route("/api/erase", delete(privacy::erase))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::metrics))
        .route("/dashboard/signin", get(auth::session::signin))
        .merge(reports::router())
        .merge(assets)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::count_requests,
        ))
        // Keep last: the admin gate must wrap every route above it (see `routes::auth`).
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        .with_state(state)
}
