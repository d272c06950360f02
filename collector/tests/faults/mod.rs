//! Harness of the fault tests: the real `spoor-collector` binary as a child process
//! ([`child`]), a load generator whose clients retry every batch that was not acknowledged
//! ([`load`]), and reads of the database file ([`stored`]).
//!
//! Every wait here is bounded; a test that cannot finish fails instead of hanging.

// Each test binary uses a different part of the harness.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

pub mod child;
pub mod load;
pub mod stored;

pub use child::{Collector, free_port, request};
pub use load::{Load, OnFailure, Rng, batches};
pub use stored::{Stored, assert_derived_match_events};
