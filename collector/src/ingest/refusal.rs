//! Why a request went no further: one typed reason per way a step can refuse it, which
//! names both the label it is counted under (`spoor_events_rejected_total{reason}`) and the
//! answer the client gets, so the two can never disagree.

use crate::http::error::AppError;
use crate::metrics::Metrics;

/// A refusal of a whole request by one of the pipeline's steps.
#[derive(Debug)]
pub enum Refusal {
    /// The content type is not `text/plain` or `application/json` (`415`); the type sent.
    ContentType(String),
    /// The body is over the limit (`413`).
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body could not be read (`400`); why.
    Body(String),
    /// The envelope is not a batch (`400`): its code (`invalid_json`, `too_deep`,
    /// `empty_batch`, …) and reason.
    Envelope {
        /// The metrics label.
        code: &'static str,
        /// What to fix.
        reason: String,
    },
    /// The batch names a site that is not configured (`400`); the id.
    UnknownSite(String),
    /// `Origin` names a page that is not on the site's hosts (`403`).
    Origin {
        /// The origin as sent (cut to 100 characters).
        origin: String,
        /// The site.
        site: String,
    },
    /// `Origin: null` under `--refuse-opaque-origin` (`403`).
    OpaqueOrigin,
    /// A server-side batch without a valid key (`401`); what to send.
    IngestKey(String),
}

impl Refusal {
    /// The label it is counted under.
    pub fn label(&self) -> &'static str {
        match self {
            Refusal::ContentType(_) => "content_type",
            Refusal::BodyTooLarge { .. } => "body_too_large",
            Refusal::Body(_) => "body",
            Refusal::Envelope { code, .. } => code,
            Refusal::UnknownSite(_) => "unknown_site",
            Refusal::Origin { .. } => "origin",
            Refusal::OpaqueOrigin => "opaque_origin",
            Refusal::IngestKey(_) => "ingest_key",
        }
    }

    /// The answer.
    pub fn answer(self) -> AppError {
        match self {
            Refusal::ContentType(sent) => AppError::UnsupportedMediaType(sent),
            Refusal::BodyTooLarge { limit } => AppError::PayloadTooLarge { limit },
            Refusal::Body(reason) | Refusal::Envelope { reason, .. } => {
                AppError::BadRequest(reason)
            }
            Refusal::UnknownSite(site) => {
                AppError::BadRequest(format!("site: {site:?} is not a configured site"))
            }
            Refusal::Origin { origin, site } => AppError::Forbidden(format!(
                "origin: {origin:?} is not one of site {site:?}'s hosts"
            )),
            Refusal::OpaqueOrigin => AppError::Forbidden(
                "origin: null (an opaque origin, such as a sandboxed frame) is refused by \
                 --refuse-opaque-origin"
                    .into(),
            ),
            Refusal::IngestKey(reason) => AppError::Unauthorized(reason),
        }
    }

    /// Counts `items` (the batch's events, or 1 for a request refused before its
    /// envelope was read) as rejected under its label, and gives the answer.
    pub fn count(self, metrics: &Metrics, items: usize) -> AppError {
        metrics.rejected(self.label(), items);
        self.answer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn each_refusal_names_its_label_and_its_status() {
        let cases = [
            (Refusal::ContentType("x".into()), "content_type", 415),
            (Refusal::BodyTooLarge { limit: 1 }, "body_too_large", 413),
            (
                Refusal::Envelope {
                    code: "too_deep",
                    reason: "deep".into(),
                },
                "too_deep",
                400,
            ),
            (Refusal::UnknownSite("s".into()), "unknown_site", 400),
            (
                Refusal::Origin {
                    origin: "https://evil.example".into(),
                    site: "demo".into(),
                },
                "origin",
                403,
            ),
            (Refusal::OpaqueOrigin, "opaque_origin", 403),
            (Refusal::IngestKey("key".into()), "ingest_key", 401),
        ];
        for (refusal, label, status) in cases {
            assert_eq!(refusal.label(), label);
            assert_eq!(
                refusal.answer().status(),
                StatusCode::from_u16(status).unwrap()
            );
        }
    }

    #[test]
    fn counting_a_refusal_counts_its_items_under_its_label() {
        let metrics = Metrics::default();
        let _ = Refusal::UnknownSite("nope".into()).count(&metrics, 3);
        assert!(
            metrics
                .render(0)
                .contains("spoor_events_rejected_total{reason=\"unknown_site\"} 3")
        );
    }
}
