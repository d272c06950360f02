//! Work on stored data besides ingest and reports: the hourly purge past the retention
//! age ([`retention`]), export and erasure of a visitor, person or user, by API or
//! subcommand ([`erasure`]), and the `rebuild-reports` subcommand ([`rebuild`]).

pub mod erasure;
pub mod rebuild;
pub mod retention;
