//! `/api/persons/…` and `/api/links/…`: who a visitor is as a person, why (the links
//! between its visitor ids), why two are not (a link refused because it would join two
//! users), and undoing a wrong link.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::api::{identity_mode, required_site};
use crate::http::error::AppError;
use crate::identity::resolver::USER_PREFIX;
use crate::state::AppState;
use crate::store::{LinkView, Person};

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
    let person = state.store.person(&site, &visitor, mode).await?;
    person.map(Json).ok_or_else(|| {
        AppError::NotFound(format!(
            "visitor: {:?} is unknown on this site",
            visitor.chars().take(64).collect::<String>()
        ))
    })
}

/// Query string of `/api/persons/{visitor}/explain`.
#[derive(Debug, Deserialize)]
pub struct ExplainParams {
    /// The site the visitors belong to.
    site: Option<String>,
    /// The other visitor id.
    other: Option<String>,
    /// Which links count: `strict` or `inclusive` (default).
    identity: Option<String>,
}

/// Why two visitors are, or are not, one person.
#[derive(Debug, Serialize)]
pub struct Explanation {
    /// The visitor in the path.
    pub visitor: String,
    /// The visitor asked about.
    pub other: String,
    /// The reading of the link graph used.
    pub identity: &'static str,
    /// Whether they are one person under that reading.
    pub same_person: bool,
    /// A shortest chain of active links from `visitor` to `other`, each with its evidence,
    /// confidence and time (empty when they are not one person, or are the same id).
    pub chain: Vec<LinkView>,
    /// Links that would have joined them but are not followed, because they would join
    /// two users into one person (a browser shared without `spoor.reset()`).
    pub refused: Vec<LinkView>,
    /// Why they were split, in words, when `refused` is not empty.
    pub reason: Option<String>,
}

/// The reason given for `refused` links: which browser logged in as which user, when.
fn reason(refused: &[LinkView]) -> Option<String> {
    let first = refused.first()?;
    let (browser, other) = if first.b.starts_with(USER_PREFIX) {
        (&first.a, &first.b)
    } else {
        (&first.b, &first.a)
    };
    Some(format!(
        "{browser} is also linked to {other} (a {} link at {} ms), which belongs to another \
         user; links that would join two users are not followed",
        first.kind, first.at_ms
    ))
}

/// `GET /api/persons/{visitor}/explain?site=…&other=…&identity=…`: whether `visitor` and
/// `other` are counted as one person, and the chain of evidence that joins them.
pub async fn explain(
    State(state): State<AppState>,
    Path(visitor): Path<String>,
    Query(params): Query<ExplainParams>,
) -> Result<Json<Explanation>, AppError> {
    let mode = identity_mode(params.identity.as_deref())?;
    let site = required_site(params.site)?;
    let other = params.other.filter(|o| !o.is_empty()).ok_or_else(|| {
        AppError::BadRequest("other: the visitor to compare with is required".into())
    })?;
    let chain = state.store.explain(&site, &visitor, &other, mode).await?;
    let refused = match chain {
        Some(_) => Vec::new(),
        None => state.store.refused(&site, &visitor, &other, mode).await?,
    };
    Ok(Json(Explanation {
        visitor,
        other,
        identity: mode.as_str(),
        same_person: chain.is_some(),
        chain: chain.unwrap_or_default(),
        reason: reason(&refused),
        refused,
    }))
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
    let found = state.store.undo_link(id).await?;
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound(format!("link {id}: no such link")))
    }
}
