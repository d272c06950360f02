-- v21: entry and exit visitors from settled sessions (collector/src/store/sqlite/reports/settle.rs).
-- A session's visitor enters the sketches of its entry and exit rows in `report_keys` once it
-- is settled (no event arrived for it for the session timeout, by the writer's clock); until
-- then it is a row here, which the unfiltered entry and exit breakdowns read. Keyed by
-- `session_rows.id`; the visitor, entry and exit are kept as text so that neither settling
-- nor a report reads `session_rows`. `due` is when it settles (Unix ms, writer's clock).
CREATE TABLE unsettled_sessions (
    session BLOB PRIMARY KEY,
    site TEXT NOT NULL,
    day INTEGER NOT NULL,
    visitor TEXT NOT NULL,
    entry TEXT NOT NULL,
    exit TEXT NOT NULL,
    due INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX unsettled_due ON unsettled_sessions (due);
CREATE INDEX unsettled_site_day ON unsettled_sessions (site, day);

-- A session deleted (retention, erasure) leaves nothing here (the visitor is personal data).
CREATE TRIGGER session_rows_unsettled AFTER DELETE ON session_rows BEGIN
    DELETE FROM unsettled_sessions WHERE session = OLD.id;
END;

-- Existing sessions: every one unsettled, due half an hour after its last event; the writer
-- settles them a bounded number per commit. The entry and exit rows' sketches are dropped:
-- since v16's collector they were not written, and older ones kept the visitors of every
-- page a session once entered or ended on.
UPDATE report_keys SET visitors = NULL WHERE dim IN ('entry', 'exit') AND visitors IS NOT NULL;
INSERT INTO unsettled_sessions (session, site, day, visitor, entry, exit, due)
    SELECT r.id, v.site, v.start_ts / 86400000, v.visitor, v.entry_path,
        coalesce(v.last_page, v.exit_path), v.last_ts + 1800000
    FROM sessions v JOIN session_rows r ON r.rowid = v.rowid
    WHERE v.entry_path IS NOT NULL AND coalesce(v.last_page, v.exit_path) IS NOT NULL;
