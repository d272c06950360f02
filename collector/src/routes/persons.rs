//! `/api/persons/…` and `/api/links/…`: who a visitor is as a person, why (the links
//! between its visitor ids), and undoing a wrong link.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::api::{identity_mode, required_site};
use crate::error::AppError;
use crate::state::AppState;
use crate::store::Person;

/// Query string of `/api/persons/{visitor}`.
#[derive(Debug, Deserialize)]
pub struct PersonParams {
    /// The site the visitor belongs to.
    site: Option<String>,
    /// Which links make the person: `strict` or `inclusive` (default).
    identity: Option<String>,
}

/// `GET /api/persons/{visitor}?site=…&identity=…`: the person `visitor` belongs to — its
/// visitor and user ids, the links that join them, and its event timeline. `404` when the
/// site has no event nor link of that visitor.
pub async fn person(
    State(state): State<AppState>,
    Path(visitor): Path<String>,
    Query(params): Query<PersonParams>,
) -> Result<Json<Person>, AppError> {
    let mode = identity_mode(params.identity.as_deref())?;
    let site = required_site(params.site)?;
    let store = state.store.clone();
    let lookup = visitor.clone();
    let person = tokio::task::spawn_blocking(move || store.person(&site, &lookup, mode))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))??;
    person.map(Json).ok_or_else(|| {
        AppError::NotFound(format!(
            "visitor: {:?} is unknown on this site",
            visitor.chars().take(64).collect::<String>()
        ))
    })
}

/// `DELETE /api/links/{id}`: deactivates a link, so persons are counted without it.
/// `204` when done (also when it was already inactive), `404` for an unknown id.
pub async fn delete_link(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id: i64 = id
        .parse()
        .map_err(|_| AppError::BadRequest("id: a link id is an integer".into()))?;
    let store = state.store.clone();
    let found = tokio::task::spawn_blocking(move || store.deactivate_link(id))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))??;
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound(format!("link {id}: no such link")))
    }
}
