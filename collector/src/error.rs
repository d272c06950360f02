//! The collector's one error type at the HTTP boundary, [`AppError`], and how each kind
//! becomes a response: a 4xx carries its reason as `{"error": "…"}` for the client to read;
//! a 5xx is logged here and answered with a generic message, so nothing internal leaks.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::ingest::IngestError;
use crate::store::StoreError;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed; the message says what to fix.
    #[error("{0}")]
    BadRequest(String),
    /// The thing asked for does not exist; the message names it.
    #[error("{0}")]
    NotFound(String),
    /// The body is larger than the collector accepts.
    #[error("body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is not in a media type the endpoint reads.
    #[error("unsupported content type {0:?}: send text/plain or application/json")]
    UnsupportedMediaType(String),
    /// The ingest queue is full; the client should retry after a pause.
    #[error("the collector is busy; retry after {retry_after_secs} s")]
    Overloaded {
        /// Suggested pause, sent as `Retry-After`.
        retry_after_secs: u32,
    },
    /// The store failed: logged in full, answered as a generic 503 (it is usually
    /// transient, and the beacon retries a 5xx).
    #[error("storage unavailable")]
    Store(#[source] StoreError),
    /// A bug or a broken invariant: logged in full, answered as a generic 500.
    #[error("internal error")]
    Internal(String),
    /// The request lacks valid credentials (the admin token); the message says what to send.
    #[error("{0}")]
    Unauthorized(String),
    /// The client may not read this, whatever it sends; the message says why.
    #[error("{0}")]
    Forbidden(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::Store(e)
    }
}

impl From<IngestError> for AppError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Full => AppError::Overloaded {
                retry_after_secs: 1,
            },
            IngestError::Store(e) => AppError::Store(e),
            IngestError::Closed => AppError::Overloaded {
                retry_after_secs: 5,
            },
        }
    }
}

impl AppError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Overloaded { .. } | AppError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            AppError::Store(e) => tracing::error!(error = %e, "store failed"),
            AppError::Internal(detail) => tracing::error!(detail, "internal error"),
            _ => tracing::debug!(status = status.as_u16(), reason = %self, "request refused"),
        }
        let mut response = (status, Json(json!({ "error": self.to_string() }))).into_response();
        if let AppError::Overloaded { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}
