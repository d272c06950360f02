-- v5: reports (see collector/src/reports and collector/src/store/sqlite/reports).
-- What each session is, decided when it starts (NULL for sessions stored before v5).
ALTER TABLE sessions ADD COLUMN source       TEXT;     -- utm_source, else referring host, else 'Direct'
ALTER TABLE sessions ADD COLUMN source_class TEXT;     -- 'search' | 'social' | 'direct' | 'other'
ALTER TABLE sessions ADD COLUMN browser      TEXT;     -- from the User-Agent (not stored)
ALTER TABLE sessions ADD COLUMN os           TEXT;
ALTER TABLE sessions ADD COLUMN device       TEXT;     -- 'desktop' | 'mobile' | 'tablet'
ALTER TABLE sessions ADD COLUMN country      TEXT;     -- ISO code with GeoIP; NULL without
ALTER TABLE sessions ADD COLUMN last_page    TEXT;     -- path of the latest page view
ALTER TABLE sessions ADD COLUMN flow         TEXT;     -- its first 5 page views' paths, '\n'-separated
CREATE INDEX sessions_site_start ON sessions (site, start_ts);

-- Page views: the page viewed just before in the same session (NULL: the session's first).
ALTER TABLE events ADD COLUMN prev_path TEXT;
CREATE INDEX events_session ON events (session_id);
-- Funnel steps: the page views of a path, the custom events of a name (covering: who, when; `kind` is listed so SQLite sees they cover).
CREATE INDEX events_pageview_path ON events (site, path, ts, visitor, session_id, kind)
    WHERE kind = 'pageview';
CREATE INDEX events_custom_name ON events (site, name, ts, visitor, session_id, kind)
    WHERE kind = 'custom';

-- Rollups, kept in the transaction that stores each event. A session counts in the hour
-- (and day) it started; events in their own. `visitors` is a HyperLogLog sketch (2048 bytes).
CREATE TABLE report_hours (
    site        TEXT    NOT NULL,
    hour        INTEGER NOT NULL,           -- Unix ms / 3600000
    pageviews   INTEGER NOT NULL DEFAULT 0,
    events      INTEGER NOT NULL DEFAULT 0,
    sessions    INTEGER NOT NULL DEFAULT 0,
    bounces     INTEGER NOT NULL DEFAULT 0,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    visitors    BLOB,
    PRIMARY KEY (site, hour)
);
CREATE TABLE report_keys (
    site        TEXT    NOT NULL,
    dim         TEXT    NOT NULL,           -- 'page', 'entry', 'source', 'transition', 'flow', ...
    day         INTEGER NOT NULL,           -- Unix ms / 86400000
    key         TEXT    NOT NULL,
    pageviews   INTEGER NOT NULL DEFAULT 0,
    events      INTEGER NOT NULL DEFAULT 0,
    sessions    INTEGER NOT NULL DEFAULT 0,
    visitors    BLOB,
    PRIMARY KEY (site, dim, day, key)
);

-- Persons kept at write time: each visitor id in a person of two or more visitor ids, with
-- the person's id (its smallest node id), per reading. A visitor absent is its own person.
CREATE TABLE visitor_persons (
    site    TEXT NOT NULL,
    mode    TEXT NOT NULL,                  -- 'inclusive' | 'strict'
    visitor TEXT NOT NULL,
    person  TEXT NOT NULL,
    PRIMARY KEY (site, mode, visitor)
) WITHOUT ROWID;

-- Saved funnels.
CREATE TABLE funnels (
    site      TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    steps     TEXT    NOT NULL,             -- JSON array of 'page:/x' | 'event:name'
    window_ms INTEGER NOT NULL,
    PRIMARY KEY (site, name)
);
