//! `GET /healthz`: answers 200 while the collector can read its store.

use axum::extract::State;
use axum::http::StatusCode;

use crate::http::error::AppError;
use crate::state::AppState;

/// Liveness and store reachability.
pub async fn healthz(
    State(state): State<AppState>,
) -> Result<(StatusCode, &'static str), AppError> {
    state.store.ping().await?;
    Ok((StatusCode::OK, "ok\n"))
}
