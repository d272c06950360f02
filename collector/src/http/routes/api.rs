//! `/api/…`: the query API the dashboard and site owners read.

use axum::Json;
use axum::extract::{Query, State};

use crate::http::error::AppError;
use crate::identity::graph::Mode;
use crate::state::AppState;

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
/// server sessions (with their bounce rate and mean duration) and events of the site over
/// a range (default: the last 30 days), with the previous period and the change; see
/// [`reports::summary`](crate::http::routes::reports::summary) and `docs/API.md`, "Reports".
pub async fn summary(
    state: State<AppState>,
    params: Query<crate::reports::params::Params>,
) -> Result<Json<crate::reports::summary::SummaryReport>, AppError> {
    crate::http::routes::reports::summary(state, params).await
}
