//! The HTTP surface: one file per group of routes.

pub mod api;
pub mod assets;
pub mod auth;
pub mod collect;
pub mod health;
pub mod ingest;
pub mod persons;
pub mod privacy;
pub mod reports;
