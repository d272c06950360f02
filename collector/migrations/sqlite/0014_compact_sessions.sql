-- v14: compact sessions (see collector/src/store/sqlite/sessions.rs). `sessions` held its
-- UUID as 36 characters of text in a text primary key (so the table was an index keyed
-- by it, and the rows' other indexes repeated it), and every path, campaign tag, source,
-- browser, OS, device, country and flow in full. The rows move to `session_rows`: the id
-- is its 16 bytes (text for a non-UUID id of an old file), every string is the id of a
-- row of `strings` (the dictionary of migration 0013, its `refs` now counting the
-- sessions' references too), and `duration_ms` and `bounce` are computed from the other
-- columns. `sessions` becomes a view that decodes them, so readers see the original text.

INSERT OR IGNORE INTO strings (value)
    SELECT site FROM sessions UNION SELECT visitor FROM sessions
    UNION SELECT entry_path FROM sessions UNION SELECT exit_path FROM sessions
    UNION SELECT utm_source FROM sessions UNION SELECT utm_medium FROM sessions
    UNION SELECT utm_campaign FROM sessions UNION SELECT source FROM sessions
    UNION SELECT source_class FROM sessions UNION SELECT browser FROM sessions
    UNION SELECT os FROM sessions UNION SELECT device FROM sessions
    UNION SELECT country FROM sessions UNION SELECT last_page FROM sessions
    UNION SELECT flow FROM sessions;
DELETE FROM strings WHERE value IS NULL;

CREATE TABLE session_rows (
    id           BLOB    NOT NULL,          -- the UUID's 16 bytes (text for a non-UUID id of an old file)
    site         INTEGER NOT NULL,
    visitor      INTEGER NOT NULL,
    start_ts     INTEGER NOT NULL,
    last_ts      INTEGER NOT NULL,
    entry_path   INTEGER NOT NULL,
    exit_path    INTEGER NOT NULL,
    pageviews    INTEGER NOT NULL,
    events       INTEGER NOT NULL,
    engaged      INTEGER NOT NULL,
    utm_source   INTEGER,
    utm_medium   INTEGER,
    utm_campaign INTEGER,
    day          INTEGER NOT NULL,
    source       INTEGER,
    source_class INTEGER,
    browser      INTEGER,
    os           INTEGER,
    device       INTEGER,
    country      INTEGER,
    last_page    INTEGER,
    flow         INTEGER
);

INSERT INTO session_rows (rowid, id, site, visitor, start_ts, last_ts, entry_path,
        exit_path, pageviews, events, engaged, utm_source, utm_medium, utm_campaign, day,
        source, source_class, browser, os, device, country, last_page, flow)
    SELECT s.rowid,
        CASE WHEN length(s.id) = 36 AND s.id = lower(s.id)
                  AND length(unhex(replace(s.id, '-', ''))) = 16
             THEN unhex(replace(s.id, '-', '')) ELSE s.id END,
        (SELECT id FROM strings WHERE value = s.site),
        (SELECT id FROM strings WHERE value = s.visitor),
        s.start_ts, s.last_ts,
        (SELECT id FROM strings WHERE value = s.entry_path),
        (SELECT id FROM strings WHERE value = s.exit_path),
        s.pageviews, s.events, s.engaged,
        (SELECT id FROM strings WHERE value = s.utm_source),
        (SELECT id FROM strings WHERE value = s.utm_medium),
        (SELECT id FROM strings WHERE value = s.utm_campaign),
        s.day,
        (SELECT id FROM strings WHERE value = s.source),
        (SELECT id FROM strings WHERE value = s.source_class),
        (SELECT id FROM strings WHERE value = s.browser),
        (SELECT id FROM strings WHERE value = s.os),
        (SELECT id FROM strings WHERE value = s.device),
        (SELECT id FROM strings WHERE value = s.country),
        (SELECT id FROM strings WHERE value = s.last_page),
        (SELECT id FROM strings WHERE value = s.flow)
    FROM sessions s ORDER BY s.rowid;

-- The sessions' references, added to the event rows' (once per column that holds one).
UPDATE strings SET refs = refs + c.n FROM (
    SELECT ref, count(*) AS n FROM (
        SELECT site AS ref FROM session_rows UNION ALL SELECT visitor FROM session_rows
        UNION ALL SELECT entry_path FROM session_rows UNION ALL SELECT exit_path FROM session_rows
        UNION ALL SELECT utm_source FROM session_rows UNION ALL SELECT utm_medium FROM session_rows
        UNION ALL SELECT utm_campaign FROM session_rows UNION ALL SELECT source FROM session_rows
        UNION ALL SELECT source_class FROM session_rows UNION ALL SELECT browser FROM session_rows
        UNION ALL SELECT os FROM session_rows UNION ALL SELECT device FROM session_rows
        UNION ALL SELECT country FROM session_rows UNION ALL SELECT last_page FROM session_rows
        UNION ALL SELECT flow FROM session_rows
    ) WHERE ref IS NOT NULL GROUP BY ref
) AS c WHERE c.ref = strings.id;

DROP TABLE sessions;

CREATE UNIQUE INDEX sessions_id ON session_rows (id);                 -- the writer's UPSERT, events → session
CREATE INDEX sessions_site_visitor_last ON session_rows (site, visitor, last_ts); -- writer's lookup, erasure, persons
CREATE INDEX sessions_site_start ON session_rows (site, start_ts);     -- reports, retention

-- References: the writer counts a new session's (with its events', once per string per
-- batch, see sessions.rs); triggers give them back when a row is deleted and move them
-- when an update changes a string (the writer's UPSERT of a stored session changes its
-- exit page, latest page and flow as it grows; the backfill sets the facts). Insert rows
-- only through the collector, or count their strings yourself.
CREATE TRIGGER session_rows_unref AFTER DELETE ON session_rows BEGIN
    UPDATE strings SET refs = refs - (
            (OLD.site IS id) + (OLD.visitor IS id) + (OLD.entry_path IS id)
            + (OLD.exit_path IS id) + (OLD.utm_source IS id) + (OLD.utm_medium IS id)
            + (OLD.utm_campaign IS id) + (OLD.source IS id) + (OLD.source_class IS id)
            + (OLD.browser IS id) + (OLD.os IS id) + (OLD.device IS id)
            + (OLD.country IS id) + (OLD.last_page IS id) + (OLD.flow IS id))
    WHERE id IN (OLD.site, OLD.visitor, OLD.entry_path, OLD.exit_path, OLD.utm_source,
        OLD.utm_medium, OLD.utm_campaign, OLD.source, OLD.source_class, OLD.browser, OLD.os,
        OLD.device, OLD.country, OLD.last_page, OLD.flow);
END;
-- An update that changes none of the strings (most of the writer's) does nothing here.
CREATE TRIGGER session_rows_reref AFTER UPDATE OF site, visitor, entry_path, exit_path,
        utm_source, utm_medium, utm_campaign, source, source_class, browser, os, device,
        country, last_page, flow ON session_rows
    WHEN OLD.site IS NOT NEW.site OR OLD.visitor IS NOT NEW.visitor
        OR OLD.entry_path IS NOT NEW.entry_path OR OLD.exit_path IS NOT NEW.exit_path
        OR OLD.utm_source IS NOT NEW.utm_source OR OLD.utm_medium IS NOT NEW.utm_medium
        OR OLD.utm_campaign IS NOT NEW.utm_campaign OR OLD.source IS NOT NEW.source
        OR OLD.source_class IS NOT NEW.source_class OR OLD.browser IS NOT NEW.browser
        OR OLD.os IS NOT NEW.os OR OLD.device IS NOT NEW.device
        OR OLD.country IS NOT NEW.country OR OLD.last_page IS NOT NEW.last_page
        OR OLD.flow IS NOT NEW.flow
BEGIN
    UPDATE strings SET refs = refs - (
            (OLD.site IS id) + (OLD.visitor IS id) + (OLD.entry_path IS id)
            + (OLD.exit_path IS id) + (OLD.utm_source IS id) + (OLD.utm_medium IS id)
            + (OLD.utm_campaign IS id) + (OLD.source IS id) + (OLD.source_class IS id)
            + (OLD.browser IS id) + (OLD.os IS id) + (OLD.device IS id)
            + (OLD.country IS id) + (OLD.last_page IS id) + (OLD.flow IS id))
    WHERE id IN (OLD.site, OLD.visitor, OLD.entry_path, OLD.exit_path, OLD.utm_source,
        OLD.utm_medium, OLD.utm_campaign, OLD.source, OLD.source_class, OLD.browser, OLD.os,
        OLD.device, OLD.country, OLD.last_page, OLD.flow);
    UPDATE strings SET refs = refs + (
            (NEW.site IS id) + (NEW.visitor IS id) + (NEW.entry_path IS id)
            + (NEW.exit_path IS id) + (NEW.utm_source IS id) + (NEW.utm_medium IS id)
            + (NEW.utm_campaign IS id) + (NEW.source IS id) + (NEW.source_class IS id)
            + (NEW.browser IS id) + (NEW.os IS id) + (NEW.device IS id)
            + (NEW.country IS id) + (NEW.last_page IS id) + (NEW.flow IS id))
    WHERE id IN (NEW.site, NEW.visitor, NEW.entry_path, NEW.exit_path, NEW.utm_source,
        NEW.utm_medium, NEW.utm_campaign, NEW.source, NEW.source_class, NEW.browser, NEW.os,
        NEW.device, NEW.country, NEW.last_page, NEW.flow);
END;

-- The sessions as they were written, in the v13 table's column order. Site and visitor
-- are joins, so a query that filters on them looks each string up once and then uses
-- `sessions_site_visitor_last`; every other string is a subquery that runs only for the
-- rows and columns a query reads. A query that needs INDEXED BY reads `session_rows`.
CREATE VIEW sessions AS SELECT
    s.rowid AS rowid,
    CASE WHEN typeof(s.id) = 'blob'
         THEN lower(substr(hex(s.id), 1, 8) || '-' || substr(hex(s.id), 9, 4) || '-'
              || substr(hex(s.id), 13, 4) || '-' || substr(hex(s.id), 17, 4) || '-'
              || substr(hex(s.id), 21))
         ELSE s.id END AS id,
    site_.value AS site,
    visitor_.value AS visitor,
    s.start_ts AS start_ts,
    s.last_ts AS last_ts,
    (SELECT value FROM strings WHERE id = s.entry_path) AS entry_path,
    (SELECT value FROM strings WHERE id = s.exit_path) AS exit_path,
    s.pageviews AS pageviews,
    s.events AS events,
    s.last_ts - s.start_ts AS duration_ms,
    (s.pageviews = 1 AND NOT s.engaged) AS bounce,
    s.engaged AS engaged,
    (SELECT value FROM strings WHERE id = s.utm_source) AS utm_source,
    (SELECT value FROM strings WHERE id = s.utm_medium) AS utm_medium,
    (SELECT value FROM strings WHERE id = s.utm_campaign) AS utm_campaign,
    s.day AS day,
    (SELECT value FROM strings WHERE id = s.source) AS source,
    (SELECT value FROM strings WHERE id = s.source_class) AS source_class,
    (SELECT value FROM strings WHERE id = s.browser) AS browser,
    (SELECT value FROM strings WHERE id = s.os) AS os,
    (SELECT value FROM strings WHERE id = s.device) AS device,
    (SELECT value FROM strings WHERE id = s.country) AS country,
    (SELECT value FROM strings WHERE id = s.last_page) AS last_page,
    (SELECT value FROM strings WHERE id = s.flow) AS flow
FROM session_rows s
    JOIN strings site_ ON site_.id = s.site
    JOIN strings visitor_ ON visitor_.id = s.visitor;

-- Deleting through the view (the tests' and an operator's SQL) deletes the row.
CREATE TRIGGER sessions_delete INSTEAD OF DELETE ON sessions BEGIN
    DELETE FROM session_rows WHERE rowid = OLD.rowid;
END;

-- Updating through the view (an operator's fix, the crash test's corruption) writes the
-- row, each string through the dictionary. `duration_ms` and `bounce` are computed.
CREATE TRIGGER sessions_update INSTEAD OF UPDATE ON sessions BEGIN
    INSERT OR IGNORE INTO strings (value)
        SELECT v FROM (SELECT NEW.site AS v UNION ALL SELECT NEW.visitor
            UNION ALL SELECT NEW.entry_path UNION ALL SELECT NEW.exit_path
            UNION ALL SELECT NEW.utm_source UNION ALL SELECT NEW.utm_medium
            UNION ALL SELECT NEW.utm_campaign UNION ALL SELECT NEW.source
            UNION ALL SELECT NEW.source_class UNION ALL SELECT NEW.browser
            UNION ALL SELECT NEW.os UNION ALL SELECT NEW.device UNION ALL SELECT NEW.country
            UNION ALL SELECT NEW.last_page UNION ALL SELECT NEW.flow)
        WHERE v IS NOT NULL;
    UPDATE session_rows SET
        site = (SELECT id FROM strings WHERE value = NEW.site),
        visitor = (SELECT id FROM strings WHERE value = NEW.visitor),
        start_ts = NEW.start_ts, last_ts = NEW.last_ts,
        entry_path = (SELECT id FROM strings WHERE value = NEW.entry_path),
        exit_path = (SELECT id FROM strings WHERE value = NEW.exit_path),
        pageviews = NEW.pageviews, events = NEW.events, engaged = NEW.engaged,
        utm_source = (SELECT id FROM strings WHERE value = NEW.utm_source),
        utm_medium = (SELECT id FROM strings WHERE value = NEW.utm_medium),
        utm_campaign = (SELECT id FROM strings WHERE value = NEW.utm_campaign),
        day = NEW.day,
        source = (SELECT id FROM strings WHERE value = NEW.source),
        source_class = (SELECT id FROM strings WHERE value = NEW.source_class),
        browser = (SELECT id FROM strings WHERE value = NEW.browser),
        os = (SELECT id FROM strings WHERE value = NEW.os),
        device = (SELECT id FROM strings WHERE value = NEW.device),
        country = (SELECT id FROM strings WHERE value = NEW.country),
        last_page = (SELECT id FROM strings WHERE value = NEW.last_page),
        flow = (SELECT id FROM strings WHERE value = NEW.flow)
    WHERE rowid = OLD.rowid;
END;
