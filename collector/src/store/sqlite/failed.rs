//! The `failed_events` table: events that failed validation, newest `keep` rows only.

use rusqlite::{Transaction, params};

use crate::store::{FailedEvent, StoreError};

/// Inserts `rows` and deletes all but the newest `keep` rows.
pub(super) fn insert(
    tx: &Transaction<'_>,
    rows: &[FailedEvent],
    keep: usize,
) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO failed_events (received_ms, site, reason_code, reason, raw)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for row in rows {
        stmt.execute(params![
            row.received_ms,
            row.site,
            row.reason_code,
            row.reason,
            row.raw
        ])?;
    }
    tx.execute(
        "DELETE FROM failed_events WHERE id <= (SELECT max(id) FROM failed_events) - ?1",
        [i64::try_from(keep).unwrap_or(i64::MAX)],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::store::sqlite::SqliteStore;
    use crate::store::{FailedEvent, StoreError};

    #[test]
    fn only_the_newest_rows_are_kept() -> Result<(), StoreError> {
        let store = SqliteStore::open_in_memory()?;
        let row = |n: i64| FailedEvent {
            received_ms: n,
            site: "demo".into(),
            reason_code: "invalid_event".into(),
            reason: format!("events[{n}].id: bad"),
            raw: "{}".into(),
        };
        for n in 0..10 {
            store.insert_failed(&[row(2 * n), row(2 * n + 1)], 5)?;
        }
        let conn = store.writer();
        let kept: Vec<i64> = conn
            .prepare("SELECT received_ms FROM failed_events ORDER BY id")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        assert_eq!(kept, [15, 16, 17, 18, 19]);
        Ok(())
    }
}
