//! Spoor's identity accuracy simulator (issue #4): traffic with ground truth, run through
//! the real collector, scored with B-cubed precision, recall and F1 and the person-count
//! error, next to the usual schemes on the same traffic.
//!
//! # Layout
//! - [`scenario`]: the nine scenarios (parameters, fixed seeds) and the generator of
//!   time-ordered visits with their true persons.
//! - [`browser`]: a simulated browser (beacon id, server cookie jar, expiry, `reset()`)
//!   that sends each visit to `/collect` through the collector's own router.
//! - [`baselines`]: cookie only, IP only, daily and monthly hash of IP and user agent.
//! - [`score`]: B-cubed scores and count error.
//! - [`run`]: one scenario end to end on a simulated clock.
//! - [`rng`]: the deterministic random source.

pub mod baselines;
pub mod browser;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod score;
