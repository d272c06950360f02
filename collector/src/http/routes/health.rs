//! `GET /healthz`: answers 200 while the collector can read its store.

use axum::extract::State;
use axum::http::StatusCode;

use crate::http::error::AppError;
use crate::state::AppState;

/// Liveness and store reachability.
pub async fn healthz(
    State(state): State<AppState>,
) -> Result<(StatusCode, &'static str), AppError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store.ping())
        .await
        .map_err(|e| AppError::Internal(e.to_string()))??;
    Ok((StatusCode::OK, "ok\n"))
}
