//! Reports answered from the rollups alone (no filter, counting visitors): a month is
//! 720 rows of `report_hours` and a few thousand of `report_keys`, whatever the traffic;
//! flows read `report_flows` (thousands of distinct first-page sequences a day). Entry and
//! exit pages' visitors are the exception: a session's entry or exit page can move after it
//! was counted, and a sketch cannot take its visitor back, so they are counted from the
//! range's sessions ([`page_visitors`]).

use std::collections::{HashMap, HashSet};

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
    let mut by_key: HashMap<String, (Row, Hll)> = HashMap::new();
    while let Some(r) = rows.next()? {
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
    Ok(by_key
        .into_values()
        .filter(|(row, _)| row.pageviews + row.events + row.sessions > 0)
        .map(|(mut row, sketch)| {
            row.visitors = sketch.estimate();
            row
        })
        .collect())
}

/// Distinct visitors per entry page (`exit` false) or exit page (`exit` true) of the
/// range's sessions, by the sessions' current pages. Reads `session_rows` through
/// `sessions_site_start` as dictionary ids, counted here in a hash set (SQLite's
/// `count(DISTINCT …) GROUP BY` sorts every session); each key's string is looked up once.
/// Its cost is one index range of the period's sessions, as the filtered reports read.
pub(super) fn page_visitors(
    conn: &Connection,
    q: &ReportQuery,
    exit: bool,
) -> Result<HashMap<String, u64>, StoreError> {
    let sql = if exit {
        "SELECT coalesce(last_page, exit_path), visitor
         FROM session_rows INDEXED BY sessions_site_start
         WHERE site = (SELECT id FROM strings WHERE value = ?1)
           AND start_ts >= ?2 AND start_ts < ?3"
    } else {
        "SELECT entry_path, visitor FROM session_rows INDEXED BY sessions_site_start
         WHERE site = (SELECT id FROM strings WHERE value = ?1)
           AND start_ts >= ?2 AND start_ts < ?3"
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params![q.site, q.range.start_ms(), q.range.end_ms()])?;
    let mut seen: HashSet<(i64, i64), foldhash::fast::RandomState> = HashSet::default();
    let mut per_key: HashMap<i64, u64, foldhash::fast::RandomState> = HashMap::default();
    while let Some(r) = rows.next()? {
        let Some(key) = r.get::<_, Option<i64>>(0)? else {
            continue;
        };
        if seen.insert((key, r.get(1)?)) {
            *per_key.entry(key).or_default() += 1;
        }
    }
    let mut value = conn.prepare_cached("SELECT value FROM strings WHERE id = ?1")?;
    let mut out = HashMap::with_capacity(per_key.len());
    for (id, n) in per_key {
        let key: String = value.query_row([id], |r| r.get(0))?;
        out.insert(key, n);
    }
    Ok(out)
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
