-- Events that failed validation, kept for the operator to see what clients send wrong.
-- Bounded: the collector keeps the newest rows only (--failed-events-max). `raw` is the
-- event's JSON cut to 4 KiB; no client address is ever written here.
CREATE TABLE failed_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_ms INTEGER NOT NULL,
    site        TEXT    NOT NULL,
    reason_code TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    raw         TEXT    NOT NULL
);
