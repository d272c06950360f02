//! `/api/…`: the query API the dashboard and site owners read.

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;

use crate::error::AppError;
use crate::state::AppState;
use crate::store::Summary;

/// Query string of `/api/summary`.
#[derive(Debug, Deserialize)]
pub struct SummaryParams {
    /// The site to report on.
    site: Option<String>,
}

/// `GET /api/summary?site=…`: page views, visitors, server sessions (with their bounce
/// rate and mean duration) and events over everything stored for the site.
pub async fn summary(
    State(state): State<AppState>,
    Query(params): Query<SummaryParams>,
) -> Result<Json<Summary>, AppError> {
    let site = params
        .site
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AppError::BadRequest("site: query parameter is required".into()))?;
    let store = state.store.clone();
    let summary = tokio::task::spawn_blocking(move || store.summary(&site))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))??;
    Ok(Json(summary))
}
