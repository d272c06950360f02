//! The handlers, one file per group of routes (the router that mounts them is
//! [`router`](super::router)).

pub mod api;
pub mod collect;
pub mod health;
pub mod ingest;
pub mod persons;
pub mod privacy;
pub mod reports;
