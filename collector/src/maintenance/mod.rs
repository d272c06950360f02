//! Work on stored data besides ingest and reports: the hourly purge past the retention
//! age ([`retention`]), export and erasure of a visitor, person or user ([`erasure`]), and
//! the binary's subcommands that do it at the server (`export`, `erase`,
//! `rebuild-reports`: [`cli`]).

pub mod cli;
pub mod erasure;
pub mod retention;
