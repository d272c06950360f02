-- v19: no index on a session's 16-byte id (see collector/src/store/sqlite/sessions.rs).
-- Since v17 nothing finds a session by its id: events name it by rowid, the writer
-- updates a stored session by its rowid, the backfill and a rebuild of the reports read
-- an event's session row by rowid, and the visitor log reads a session's events by the
-- rowid its query selected. The unique index on `session_rows.id` only repeated every
-- session's 16 bytes (about 8 of the 485 bytes a page view took on disk); a session id is
-- 122 random bits from the writer, unique without it.

DROP INDEX sessions_id;
