//! `/api/…`: the query API the dashboard and site owners read.

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;

use crate::error::AppError;
use crate::identity::graph::Mode;
use crate::state::AppState;
use crate::store::Summary;

/// Query string of `/api/summary`.
#[derive(Debug, Deserialize)]
pub struct SummaryParams {
    /// The site to report on.
    site: Option<String>,
    /// How persons are counted: `strict` or `inclusive` (default).
    identity: Option<String>,
}

/// The `identity` query parameter: which links make persons (default inclusive).
pub fn identity_mode(value: Option<&str>) -> Result<Mode, AppError> {
    match value {
        None | Some("") | Some("inclusive") => Ok(Mode::Inclusive),
        Some("strict") => Ok(Mode::Strict),
        Some(other) => Err(AppError::BadRequest(format!(
            "identity: {:?} is neither \"strict\" nor \"inclusive\"",
            other.chars().take(40).collect::<String>()
        ))),
    }
}

/// The required, non-empty `site` query parameter.
pub fn required_site(site: Option<String>) -> Result<String, AppError> {
    site.filter(|s| !s.is_empty())
        .ok_or_else(|| AppError::BadRequest("site: query parameter is required".into()))
}

/// `GET /api/summary?site=…&identity=strict|inclusive`: page views, visitors, persons,
/// server sessions (with their bounce rate and mean duration) and events over everything
/// stored for the site.
pub async fn summary(
    State(state): State<AppState>,
    Query(params): Query<SummaryParams>,
) -> Result<Json<Summary>, AppError> {
    let mode = identity_mode(params.identity.as_deref())?;
    let site = required_site(params.site)?;
    let store = state.store.clone();
    let summary = tokio::task::spawn_blocking(move || store.summary(&site, mode))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))??;
    Ok(Json(summary))
}
