//! `/api/export` and `/api/erase`: a data subject's access and erasure requests, for one
//! visitor, one person or one site user id (see [`erasure`](crate::maintenance::erasure) for what is
//! covered).

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::api::required_site;
use crate::http::error::AppError;
use crate::maintenance::erasure::{Erased, Subject, SubjectExport};
use crate::state::AppState;

/// Query string of both routes: the site and exactly one of `visitor`, `person`, `user`.
#[derive(Debug, Deserialize)]
pub struct SubjectParams {
    /// The site.
    site: Option<String>,
    /// A visitor id: that visitor alone.
    visitor: Option<String>,
    /// A visitor id: the whole person it belongs to.
    person: Option<String>,
    /// A site user id: the person that logged in as it.
    user: Option<String>,
}

impl SubjectParams {
    fn into_parts(self) -> Result<(String, Subject), AppError> {
        let site = required_site(self.site)?;
        let subject = Subject::from_parts(self.visitor, self.person, self.user)
            .map_err(AppError::BadRequest)?;
        Ok((site, subject))
    }
}

/// `GET /api/export?site=…&visitor=…|person=…|user=…`: everything stored about the
/// subject as JSON; `404` when the store holds nothing about it.
pub async fn export(
    State(state): State<AppState>,
    Query(params): Query<SubjectParams>,
) -> Result<Json<SubjectExport>, AppError> {
    let (site, subject) = params.into_parts()?;
    let export = state.store.export(&site, &subject).await?;
    if export.is_empty() {
        return Err(AppError::NotFound(
            "nothing is stored about this subject on this site".into(),
        ));
    }
    Ok(Json(export))
}

/// `DELETE /api/erase?site=…&visitor=…|person=…|user=…`: deletes everything stored about
/// the subject and answers `200` with the rows deleted per table (zeros when there was
/// nothing, so a repeated request is harmless).
pub async fn erase(
    State(state): State<AppState>,
    Query(params): Query<SubjectParams>,
) -> Result<Json<Erased>, AppError> {
    let (site, subject) = params.into_parts()?;
    let erased = state.store.erase(&site, &subject).await?;
    tracing::info!(
        events = erased.events,
        sessions = erased.sessions,
        links = erased.links,
        "erasure request done"
    );
    Ok(Json(erased))
}
