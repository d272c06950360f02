//! The collector's one error type at the HTTP boundary, [`AppError`], and how each kind
//! becomes a response: a 4xx carries its reason as `{"error": "…"}` for the client to read;
//! a 5xx is logged here and answered with a generic message, so nothing internal leaks.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::ingest::IngestError;
use crate::store::StoreError;

/// The pause suggested (`Retry-After`) when the store failed.
pub const STORE_RETRY_AFTER_SECS: u32 = 5;

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
    /// The request is well formed but not allowed (an origin that is not the site's).
    #[error("{0}")]
    Forbidden(String),
    /// This client sent too many requests; it may retry after a pause.
    #[error("too many requests; retry after {retry_after_secs} s")]
    RateLimited {
        /// Suggested pause, sent as `Retry-After`.
        retry_after_secs: u32,
    },
    /// The request lacks valid credentials (the admin token); the message says what to send.
    #[error("{0}")]
    Unauthorized(String),
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
            IngestError::Timeout => AppError::Overloaded {
                retry_after_secs: 2,
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
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
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
        if let AppError::Overloaded { retry_after_secs }
        | AppError::RateLimited { retry_after_secs } = self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        // A failing store is usually transient (full, locked, read-only for a while).
        if let AppError::Store(_) = self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(STORE_RETRY_AFTER_SECS),
            );
        }
        response
    }
}
