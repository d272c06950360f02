//! Reports answered from the rollups alone (no filter, counting visitors): a month is
//! 720 rows of `report_hours` and a few thousand of `report_keys`, whatever the traffic;
//! flows read `report_flows` (thousands of distinct first-page sequences a day). Entry and
//! exit pages' visitors add, to their rows' sketches (settled sessions), the visitors of
//! the range's sessions not settled yet ([`pages`], see [`settle`](super::settle)).

use std::collections::HashMap;

use rusqlite::{Connection, params};

use crate::reports::flows::first_pages;
use crate::reports::hll::Hll;
use crate::reports::range::{DAY_MS, HOUR_MS};
use crate::reports::{Counts, ReportQuery, Row};
use crate::store::StoreError;

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Counters and visitor sketches per `bucket_ms` bucket of the range (hours or days),
/// every bucket present, in order.
pub(super) fn series(
    conn: &Connection,
    q: &ReportQuery,
    bucket_ms: i64,
) -> Result<Vec<(i64, Counts, Hll)>, StoreError> {
    let start = q.range.start_ms();
    let end = q.range.end_ms();
    let n = usize::try_from((end - start) / bucket_ms).unwrap_or(0);
    let mut out: Vec<(i64, Counts, Hll)> = (0..n)
        .map(|i| (start + i as i64 * bucket_ms, Counts::default(), Hll::new()))
        .collect();
    let mut stmt = conn.prepare_cached(
        "SELECT hour, pageviews, events, sessions, bounces, duration_ms, visitors
         FROM report_hours WHERE site = ?1 AND hour >= ?2 AND hour < ?3",
    )?;
    let mut rows = stmt.query(params![q.site, start / HOUR_MS, end / HOUR_MS])?;
    while let Some(r) = rows.next()? {
        let hour: i64 = r.get(0)?;
        let i = usize::try_from((hour * HOUR_MS - start) / bucket_ms).unwrap_or(usize::MAX);
        let Some((_, c, sketch)) = out.get_mut(i) else {
            continue;
        };
        c.pageviews += u(r.get(1)?);
        c.events += u(r.get(2)?);
        c.sessions += u(r.get(3)?);
        c.bounces += u(r.get(4)?);
        c.duration_ms += u(r.get(5)?);
        if let Some(bytes) = r.get::<_, Option<Vec<u8>>>(6)? {
            sketch.merge(&Hll::from_bytes(&bytes));
        }
    }
    for (_, c, sketch) in &mut out {
        c.visitors = sketch.estimate();
        c.persons = c.visitors;
    }
    Ok(out)
}

/// Rows of `dim` over the range (unsorted, `share` 0); `prefix` keeps only keys that
/// start with it, and is cut off them.
pub(super) fn keys(
    conn: &Connection,
    q: &ReportQuery,
    dim: &str,
    prefix: Option<&str>,
) -> Result<Vec<Row>, StoreError> {
    Ok(estimated(sketches(conn, q, dim, prefix)?.0))
}

/// Rows of the entry (`exit` false) or exit (`exit` true) dimension over the range, as
/// [`keys`] gives them, their sketches (the settled sessions' visitors) merged with the
/// visitors of the range's unsettled sessions; and how many rows were read (rollup rows
/// and unsettled sessions), which the tests bound.
pub(super) fn pages(
    conn: &Connection,
    q: &ReportQuery,
    exit: bool,
) -> Result<(Vec<Row>, usize), StoreError> {
    let dim = if exit { "exit" } else { "entry" };
    let (mut by_key, mut read) = sketches(conn, q, dim, None)?;
    let unsettled =
        super::settle::unsettled(conn, &q.site, q.range.start_ms() / DAY_MS, q.range.to, exit)?;
    read += unsettled.len();
    for (key, visitor) in unsettled {
        // Its counters are in the rollups since the session was stored.
        if let Some((_, sketch)) = by_key.get_mut(&key) {
            sketch.add(&visitor);
        }
    }
    Ok((estimated(by_key), read))
}

/// Each key's row and visitor sketch.
type Sketched = HashMap<String, (Row, Hll)>;

/// Rows with a counter, their visitors estimated from their sketches.
fn estimated(by_key: Sketched) -> Vec<Row> {
    by_key
        .into_values()
        .filter(|(row, _)| row.pageviews + row.events + row.sessions > 0)
        .map(|(mut row, sketch)| {
            row.visitors = sketch.estimate();
            row
        })
        .collect()
}

/// The counters and merged sketch of each key of `dim` over the range (see [`keys`]), and
/// how many rows were read.
fn sketches(
    conn: &Connection,
    q: &ReportQuery,
    dim: &str,
    prefix: Option<&str>,
) -> Result<(Sketched, usize), StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT key, pageviews, events, sessions, visitors FROM report_keys
         WHERE site = ?1 AND dim = ?2 AND day >= ?3 AND day <= ?4",
    )?;
    let mut rows = stmt.query(params![
        q.site,
        dim,
        q.range.start_ms() / DAY_MS,
        q.range.to
    ])?;
    let mut by_key: Sketched = HashMap::new();
    let mut read = 0;
    while let Some(r) = rows.next()? {
        read += 1;
        let key: String = r.get(0)?;
        let key = match prefix {
            Some(p) => match key.strip_prefix(p) {
                Some(rest) => rest.to_string(),
                None => continue,
            },
            None => key,
        };
        let (row, sketch) = by_key.entry(key.clone()).or_insert_with(|| {
            (
                Row {
                    key,
                    visitors: 0,
                    pageviews: 0,
                    events: 0,
                    sessions: 0,
                    share: 0.0,
                },
                Hll::new(),
            )
        });
        row.pageviews += u(r.get(1)?);
        row.events += u(r.get(2)?);
        row.sessions += u(r.get(3)?);
        if let Some(bytes) = r.get::<_, Option<Vec<u8>>>(4)? {
            sketch.merge(&Hll::from_bytes(&bytes));
        }
    }
    Ok((by_key, read))
}

/// One counter (`pageviews` or `sessions`) of `dim` per key over the range, added up by
/// SQLite without reading the sketches (transitions and flows need no visitors).
pub(super) fn sums(
    conn: &Connection,
    q: &ReportQuery,
    dim: &str,
    counter: &str,
) -> Result<Vec<(String, u64)>, StoreError> {
    let sql = match counter {
        "pageviews" => {
            "SELECT key, sum(pageviews) FROM report_keys
             WHERE site = ?1 AND dim = ?2 AND day >= ?3 AND day <= ?4 GROUP BY key"
        }
        _ => {
            "SELECT key, sum(sessions) FROM report_keys
             WHERE site = ?1 AND dim = ?2 AND day >= ?3 AND day <= ?4 GROUP BY key"
        }
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt
        .query_map(
            params![q.site, dim, q.range.start_ms() / DAY_MS, q.range.to],
            |r| Ok((r.get::<_, String>(0)?, u(r.get(1)?))),
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Sessions per flow over the range, each flow cut to its first `steps` pages, added up
/// here rather than by a `GROUP BY` (a month holds hundreds of thousands of distinct flows,
/// and a hash map beats SQLite's sort).
pub(super) fn flows(
    conn: &Connection,
    q: &ReportQuery,
    steps: usize,
) -> Result<Vec<(String, u64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT key, sessions FROM report_flows WHERE site = ?1 AND day >= ?2 AND day <= ?3",
    )?;
    let mut rows = stmt.query(params![q.site, q.range.start_ms() / DAY_MS, q.range.to])?;
    let mut sums: HashMap<String, u64, foldhash::fast::RandomState> = HashMap::default();
    while let Some(r) = rows.next()? {
        let n = u(r.get(1)?);
        if n == 0 {
            continue;
        }
        let key = r.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
        let key = first_pages(key, steps);
        match sums.get_mut(key) {
            Some(total) => *total += n,
            None => {
                sums.insert(key.to_string(), n);
            }
        }
    }
    Ok(sums.into_iter().collect())
}
