//! `POST /internal/ingest`: a job a peer prepared for this collector's writer, because this
//! collector owns its key. Checked ([`auth`](super::auth): 401/403 with the reason, each
//! refusal counted), read ([`wire`](super::wire): 400 when it does not describe valid
//! events), committed by the writer like a local job (never forwarded again, so a
//! disagreement on ownership costs a split, never a loop), and answered once committed:
//! `200` with the [`Answer`] as JSON, or the writer's error (503 with `Retry-After`).
//! Without `--peers` the route answers 404.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::Refused;
use super::forward::PATH;
use super::wire::{Answer, Job, WireEvent};
use crate::http::error::AppError;
use crate::ingest::Resolution;
use crate::state::AppState;

/// Receives a forwarded job; see the module docs.
pub async fn internal_ingest(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(peers) = &state.peers else {
        return AppError::NotFound("this collector has no peers (--peers)".into()).into_response();
    };
    let metrics = &state.metrics.peers;
    if let Err(refused) = peers.verify(&headers, PATH, &body, crate::clock::now_ms()) {
        metrics.refused(refused.label());
        tracing::warn!(reason = refused.label(), "forward refused");
        let status = match refused {
            Refused::Unsigned | Refused::Signature | Refused::Stale => StatusCode::UNAUTHORIZED,
            Refused::Host | Refused::Replayed => StatusCode::FORBIDDEN,
            Refused::Busy => StatusCode::SERVICE_UNAVAILABLE,
        };
        return (status, Json(json!({ "error": refused.reason() }))).into_response();
    }
    let job: Job = match serde_json::from_slice(&body) {
        Ok(job) => job,
        Err(e) => return AppError::BadRequest(format!("not a job: {e}")).into_response(),
    };
    let committed = match job {
        Job::Browser(wire) => {
            let batch = match wire.into_batch() {
                Ok(batch) => batch,
                Err(e) => return AppError::BadRequest(e).into_response(),
            };
            let n = batch.events.len();
            state
                .ingest
                .submit_browser(batch)
                .await
                .map(|(outcome, resolution)| (n, Answer::of(outcome, resolution)))
        }
        Job::Resolved { events } => {
            let events = match events
                .into_iter()
                .map(WireEvent::into_event)
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(events) => events,
                Err(e) => return AppError::BadRequest(e).into_response(),
            };
            let n = events.len();
            state
                .ingest
                .submit(events)
                .await
                .map(|outcome| (n, Answer::of(outcome, Resolution::default())))
        }
    };
    match committed {
        Ok((n, answer)) => {
            metrics.received(n);
            (StatusCode::OK, Json(answer)).into_response()
        }
        Err(e) => AppError::from(e).into_response(),
    }
}
