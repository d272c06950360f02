//! Extractors that read identity inputs off a request.

pub mod forwarded;
pub mod peer;
