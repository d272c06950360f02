//! Rows the ClickHouse report tests insert directly, as the writer and the identity
//! maintenance append them: an `events` row and a `visitor_persons` row.

#![allow(dead_code)]

use serde::Serialize;

/// An `events` row (the columns the reports read; the others take their defaults).
#[derive(Serialize, Clone, Default)]
pub struct Ev {
    pub site: String,
    pub id: String,
    pub day: String,
    pub ts: i64,
    /// Collector time minus client time (`received` is its alias).
    pub received_after: i64,
    pub kind: String,
    pub visitor: String,
    pub session: String,
    pub starts: u8,
    pub hostname: String,
    pub path: String,
    pub prev_path: String,
    pub referrer: String,
    pub browser: String,
    pub os: String,
    pub device: String,
    pub country: String,
    pub source: String,
    pub source_class: String,
    pub fallback: String,
    pub utm_source: String,
    pub utm_campaign: String,
    pub name: String,
    pub props: String,
    pub target: String,
    pub visible_ms: u32,
}

/// A `visitor_persons` row (kept by the identity side, `0004_persons.sql`).
#[derive(Serialize)]
pub struct VisitorPerson {
    pub site: String,
    pub mode: String,
    pub visitor: String,
    pub from_ms: i64,
    pub person: String,
    pub version: u64,
}
