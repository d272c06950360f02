//! Reports answered from the range's sessions and their events: every filtered report,
//! counting by persons, and the exact check of the rollups. The sessions are selected by
//! one fixed CTE (`s`) whose filters are parameters (`?n IS NULL OR column = ?n`), so no
//! SQL is ever built from a request's strings; the dimension columns are picked from
//! constants.

use std::collections::HashMap;

use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};

use super::super::dict::id_key;
use super::persons::mode_str;
use crate::reports::flows::first_pages;
use crate::reports::{CountBy, Counts, Dimension, ReportQuery, Row};
use crate::store::StoreError;

/// The sessions of the range that pass the filters (`?1`…`?8`), and the person join
/// (`?9`: the reading). `sid` is the session's rowid, what its events'
/// `event_rows.session_id` holds: events are reached through `events_session` by
/// [`SESSION_EVENTS`].
pub(in crate::store::sqlite) const SESSIONS: &str = "WITH s AS (
    SELECT *, rowid AS sid
    FROM sessions
    WHERE site = ?1 AND start_ts >= ?2 AND start_ts < ?3
      AND (?4 IS NULL OR source = ?4) AND (?5 IS NULL OR utm_campaign = ?5)
      AND (?6 IS NULL OR country = ?6) AND (?7 IS NULL OR device = ?7)
      AND (?8 IS NULL OR EXISTS (SELECT 1 FROM event_rows f
                                 WHERE f.session_id = sessions.rowid
                                   AND f.kind = 0
                                   AND f.path = (SELECT id FROM strings WHERE value = ?8)))
), sp AS (
    SELECT s.*, coalesce(vp.person, s.visitor) AS person FROM s
    LEFT JOIN visitor_persons vp ON vp.site = ?1 AND vp.mode = ?9 AND vp.visitor = s.visitor
) ";

/// The events `e` of the sessions `sp`, by the index of their session id.
pub(in crate::store::sqlite) const SESSION_EVENTS: &str =
    "sp JOIN event_rows er ON er.session_id = sp.sid JOIN events e ON e.rowid = er.rowid";

/// The first events of the session in row `?1` of `session_rows`, by the index of their
/// session.
pub(in crate::store::sqlite) const SESSION_LOG: &str = "SELECT ts, kind, path,
         coalesce(name, target) FROM events
     WHERE rowid IN (SELECT rowid FROM event_rows WHERE session_id = ?1)
     ORDER BY ts, rowid LIMIT 200";

/// The parameters `?1`…`?9` of [`SESSIONS`].
fn base(q: &ReportQuery) -> Vec<Value> {
    let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::Text);
    vec![
        Value::Text(q.site.clone()),
        Value::Integer(q.range.start_ms()),
        Value::Integer(q.range.end_ms()),
        text(&q.filters.source),
        text(&q.filters.campaign),
        text(&q.filters.country),
        text(&q.filters.device),
        text(&q.filters.page),
        Value::Text(mode_str(q.mode).to_string()),
    ]
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Counters of the range's sessions, grouped by `bucket_ms` buckets of their start (the
/// whole range when `None`).
pub(super) fn counts(
    conn: &Connection,
    q: &ReportQuery,
    bucket_ms: Option<i64>,
) -> Result<Vec<(i64, Counts)>, StoreError> {
    let sql = format!(
        "{SESSIONS} SELECT CASE WHEN ?10 IS NULL THEN 0 ELSE (start_ts / ?10) * ?10 END AS b,
             count(DISTINCT visitor), count(DISTINCT person), coalesce(sum(pageviews), 0),
             count(*), coalesce(sum(events), 0), coalesce(sum(bounce), 0),
             coalesce(sum(duration_ms), 0)
         FROM sp GROUP BY b ORDER BY b"
    );
    let mut p = base(q);
    p.push(bucket_ms.map_or(Value::Null, Value::Integer));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params_from_iter(p), |r| {
            Ok((
                r.get::<_, i64>(0)?,
                Counts {
                    visitors: u(r.get(1)?),
                    persons: u(r.get(2)?),
                    pageviews: u(r.get(3)?),
                    sessions: u(r.get(4)?),
                    events: u(r.get(5)?),
                    bounces: u(r.get(6)?),
                    duration_ms: u(r.get(7)?),
                },
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Rows of a breakdown (unsorted, with `share` 0) from the range's sessions.
pub(super) fn breakdown(
    conn: &Connection,
    q: &ReportQuery,
    dimension: &Dimension,
) -> Result<Vec<Row>, StoreError> {
    let who = match q.count {
        CountBy::Visitors => "sp.visitor",
        CountBy::Persons => "sp.person",
    };
    let session_column = match dimension {
        Dimension::Entry => Some("entry_path"),
        Dimension::Exit => Some("coalesce(last_page, exit_path)"),
        Dimension::Source => Some("source"),
        Dimension::SourceClass => Some("source_class"),
        Dimension::Campaign => Some("utm_campaign"),
        Dimension::Browser => Some("browser"),
        Dimension::Os => Some("os"),
        Dimension::Device => Some("device"),
        Dimension::Country => Some("country"),
        _ => None,
    };
    let mut p = base(q);
    let body = if let Some(col) = session_column {
        format!(
            "SELECT {col} AS k, count(DISTINCT {who}), sum(pageviews), sum(events), count(*)
             FROM sp WHERE k IS NOT NULL GROUP BY k"
        )
    } else {
        let (key, condition) = match dimension {
            Dimension::Page => ("e.path", "1"),
            Dimension::Event => ("e.name", "e.kind = 'custom'"),
            Dimension::Outbound => ("e.target", "e.kind = 'outbound'"),
            Dimension::Download => ("e.target", "e.kind = 'download'"),
            _ => (
                "CASE j.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'
                     ELSE CAST(j.value AS TEXT) END",
                "e.kind = 'custom' AND e.name = ?10 AND j.key = ?11",
            ),
        };
        let from = if let Dimension::EventProperty { event, property } = dimension {
            p.push(Value::Text(event.clone()));
            p.push(Value::Text(property.clone()));
            format!("{SESSION_EVENTS}, json_each(e.props) j")
        } else {
            SESSION_EVENTS.to_string()
        };
        format!(
            "SELECT {key} AS k, count(DISTINCT {who}),
                 count(*) FILTER (WHERE e.kind = 'pageview'), count(*), 0
             FROM {from} WHERE {condition} AND k IS NOT NULL GROUP BY k"
        )
    };
    let sql = format!("{SESSIONS} {body}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params_from_iter(p), |r| {
            Ok(Row {
                key: r.get(0)?,
                visitors: u(r.get(1)?),
                pageviews: u(r.get(2)?),
                events: u(r.get(3)?),
                sessions: u(r.get(4)?),
                share: 0.0,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Transitions around `page`: `(views, before, after)`.
#[allow(clippy::type_complexity)]
pub(super) fn transitions(
    conn: &Connection,
    q: &ReportQuery,
    page: &str,
) -> Result<(u64, Vec<(String, u64)>, Vec<(String, u64)>), StoreError> {
    let grouped = |body: &str| -> Result<Vec<(String, u64)>, StoreError> {
        let mut p = base(q);
        p.push(Value::Text(page.to_string()));
        let sql = format!("{SESSIONS} {body}");
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(params_from_iter(p), |r| Ok((r.get(0)?, u(r.get(1)?))))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    };
    let before = grouped(&format!(
        "SELECT coalesce(e.prev_path, '(entrance)'), count(*)
         FROM {SESSION_EVENTS}
         WHERE e.kind = 'pageview' AND e.path = ?10 GROUP BY 1"
    ))?;
    let mut after = grouped(&format!(
        "SELECT e.path, count(*) FROM {SESSION_EVENTS}
         WHERE e.kind = 'pageview' AND e.prev_path = ?10 GROUP BY 1"
    ))?;
    after.extend(grouped(
        "SELECT '(exit)', count(*) FROM sp
         WHERE sp.pageviews > 0 AND coalesce(last_page, exit_path) = ?10 HAVING count(*) > 0",
    )?);
    let views = before.iter().map(|(_, n)| n).sum();
    Ok((views, before, after))
}

/// The first page views of the range's sessions, with their session counts.
pub(super) fn flows(
    conn: &Connection,
    q: &ReportQuery,
    steps: usize,
) -> Result<Vec<(Vec<String>, u64)>, StoreError> {
    let sql =
        format!("{SESSIONS} SELECT flow, count(*) FROM sp WHERE flow IS NOT NULL GROUP BY flow");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params_from_iter(base(q)), |r| {
            Ok((r.get::<_, String>(0)?, u(r.get(1)?)))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut cut: HashMap<&str, u64> = HashMap::new();
    for (flow, n) in &rows {
        *cut.entry(first_pages(flow, steps)).or_default() += n;
    }
    Ok(cut
        .into_iter()
        .map(|(flow, n)| (flow.split('\n').map(str::to_string).collect(), n))
        .collect())
}

/// Session ids of the range that pass the filters (for filtered funnels).
pub(super) fn session_ids(
    conn: &Connection,
    q: &ReportQuery,
) -> Result<std::collections::HashSet<String>, StoreError> {
    let sql = format!("{SESSIONS} SELECT id FROM sp");
    let mut stmt = conn.prepare_cached(&sql)?;
    let ids = stmt
        .query_map(params_from_iter(base(q)), |r| r.get::<_, String>(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// The visitor log: sessions of the range, newest first.
pub(super) fn sessions(
    conn: &Connection,
    q: &ReportQuery,
) -> Result<Vec<crate::reports::LogSession>, StoreError> {
    let sql = format!(
        "{SESSIONS} SELECT id, visitor, person, start_ts, last_ts, entry_path,
             coalesce(last_page, exit_path), pageviews, duration_ms, bounce, device, browser, os,
             source, sid
         FROM sp ORDER BY start_ts DESC, id LIMIT ?10"
    );
    let mut p = base(q);
    p.push(Value::Integer(i64::try_from(q.limit).unwrap_or(10)));
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut sessions = stmt
        .query_map(params_from_iter(p), |r| {
            let row: i64 = r.get(14)?;
            let session = crate::reports::LogSession {
                session: r.get(0)?,
                visitor: r.get(1)?,
                person: r.get(2)?,
                start: r.get(3)?,
                end: r.get(4)?,
                entry: r.get(5)?,
                exit: r.get(6)?,
                pageviews: u(r.get(7)?),
                duration_ms: r.get(8)?,
                bounce: r.get(9)?,
                device: r.get(10)?,
                browser: r.get(11)?,
                os: r.get(12)?,
                source: r.get(13)?,
                events: Vec::new(),
            };
            Ok((row, session))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut events = conn.prepare_cached(SESSION_LOG)?;
    for (row, s) in &mut sessions {
        s.events = events
            .query_map([*row], |r| {
                Ok(crate::reports::LogEvent {
                    ts: r.get(0)?,
                    kind: r.get(1)?,
                    path: r.get(2)?,
                    name: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
    }
    Ok(sessions.into_iter().map(|(_, s)| s).collect())
}

/// Each multi-visitor person's visitors with the start of each of their sessions in the
/// range: `(person, visitor, start_ts)`; what the rollups' person counts subtract. A
/// browser shared by two users (see [`persons`](crate::identity::persons)) is listed with
/// its own person and, for each later stretch its sessions reach, that stretch's person
/// (the persons it touches have rows for every visitor, so none is counted twice).
pub(super) fn merged_visitors(
    conn: &Connection,
    q: &ReportQuery,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        // Driven from the (few) visitors of multi-visitor persons, each looked up by
        // visitor in the sessions; left to itself the planner would walk every session of
        // the range instead.
        concat!(
            "WITH multi AS (
             SELECT person FROM visitor_persons WHERE site = ?1 AND mode = ?2
             GROUP BY person HAVING count(*) > 1
             UNION SELECT person FROM person_stretches WHERE site = ?1 AND mode = ?2
         )
         SELECT vp.person, vp.visitor, s.start_ts
         FROM visitor_persons AS vp
         CROSS JOIN session_rows AS s INDEXED BY sessions_site_visitor_last
             ON s.site = (SELECT id FROM strings WHERE value = vp.site)
            AND s.visitor = (SELECT id FROM strings WHERE value = ",
            id_key!("vp.visitor"),
            ")
            AND s.last_ts >= ?3 AND s.start_ts < ?4
         WHERE vp.site = ?1 AND vp.mode = ?2 AND vp.person IN (SELECT person FROM multi)
         UNION ALL
         SELECT ps.person, ps.visitor, max(s.start_ts, ps.from_ms)
         FROM person_stretches AS ps
         CROSS JOIN session_rows AS s INDEXED BY sessions_site_visitor_last
             ON s.site = (SELECT id FROM strings WHERE value = ps.site)
            AND s.visitor = (SELECT id FROM strings WHERE value = ",
            id_key!("ps.visitor"),
            ")
            AND s.last_ts >= max(?3, ps.from_ms) AND s.start_ts < ?4
         WHERE ps.site = ?1 AND ps.mode = ?2 AND ps.from_ms > -9223372036854775808"
        ),
    )?;
    let rows = stmt
        .query_map(
            rusqlite::params![
                q.site,
                mode_str(q.mode),
                q.range.start_ms(),
                q.range.end_ms()
            ],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The person of every visitor in a multi-visitor person, under the query's reading (the
/// funnel's brute-force check; the funnel itself numbers persons by dictionary id).
#[cfg(test)]
pub(super) fn person_map(
    conn: &Connection,
    q: &ReportQuery,
) -> Result<HashMap<String, String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT visitor, person FROM visitor_persons WHERE site = ?1 AND mode = ?2",
    )?;
    let rows = stmt
        .query_map(rusqlite::params![q.site, mode_str(q.mode)], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
