-- v13: compact events (see collector/src/store/sqlite/dict.rs and row.rs). The only
-- migration that rebuilds a table: `events` held every string of every event in full
-- (UUIDs as 36-character text, the same path, title, referrer, user agent context and
-- visitor id repeated on each of a visitor's rows and again in five indexes), about 600
-- of the 1,136 bytes a page view took on disk. The rows move to `event_rows`, where
-- event ids are 16-byte blobs, closed sets are small integer codes and every other string
-- is the id of one row of `strings`; `events` becomes a view that decodes them, so every
-- reader (reports, export, timeline, the tests' own SQL) still sees the original text.

-- Every string an event row refers to, once. `refs` counts the references from
-- `event_rows` (kept by the writer when it inserts, by a trigger when a row is deleted);
-- erasure and retention delete the strings no row refers to any more, so a path or title
-- only an erased visitor sent does not outlive its events.
CREATE TABLE strings (
    id    INTEGER PRIMARY KEY,
    value TEXT    NOT NULL UNIQUE,
    refs  INTEGER NOT NULL DEFAULT 0
);
-- Only the unreferenced strings: what a sweep deletes, found without scanning `strings`.
CREATE INDEX strings_unused ON strings (id) WHERE refs <= 0;

INSERT OR IGNORE INTO strings (value)
    SELECT site FROM events UNION SELECT visitor FROM events
    UNION SELECT client_id FROM events WHERE client_id IS NOT NULL AND client_id <> visitor
    UNION SELECT session FROM events UNION SELECT hostname FROM events
    UNION SELECT path FROM events UNION SELECT referrer FROM events
    UNION SELECT title FROM events UNION SELECT screen FROM events
    UNION SELECT lang FROM events UNION SELECT tz FROM events
    UNION SELECT utm_source FROM events UNION SELECT utm_medium FROM events
    UNION SELECT utm_campaign FROM events UNION SELECT utm_term FROM events
    UNION SELECT utm_content FROM events UNION SELECT name FROM events
    UNION SELECT props FROM events UNION SELECT target FROM events
    UNION SELECT user_id FROM events UNION SELECT session_id FROM events
    UNION SELECT prev_path FROM events UNION SELECT fallback FROM events
    UNION SELECT url FROM events
        WHERE url NOT IN ('https://' || hostname || path, 'http://' || hostname || path);
DELETE FROM strings WHERE value IS NULL;

-- One row per event. Codes: kind 0 pageview, 1 engagement, 2 custom, 3 outbound,
-- 4 download, 5 identify; evidence 0 client-id, 1 server-cookie, 2 fingerprint. `url` is
-- NULL when it is 'https://' || hostname || path and 0 when 'http://' || hostname || path;
-- `client_id` is 0 when it equals the visitor. `received` is stored as received - ts (a
-- few milliseconds: one or two bytes instead of six).
CREATE TABLE event_rows (
    id          BLOB    NOT NULL,           -- the UUID's 16 bytes (text for a non-UUID id of an old file)
    site        INTEGER NOT NULL,
    kind        INTEGER NOT NULL,
    ts          INTEGER NOT NULL,
    received    INTEGER NOT NULL,
    visitor     INTEGER NOT NULL,
    evidence    INTEGER NOT NULL,
    client_id   INTEGER,
    session     INTEGER,
    session_id  INTEGER,
    url         INTEGER,
    hostname    INTEGER NOT NULL,
    path        INTEGER NOT NULL,
    prev_path   INTEGER,
    referrer    INTEGER,
    title       INTEGER,
    screen      INTEGER,
    lang        INTEGER,
    tz          INTEGER,
    utm_source  INTEGER,
    utm_medium  INTEGER,
    utm_campaign INTEGER,
    utm_term    INTEGER,
    utm_content INTEGER,
    name        INTEGER,
    props       INTEGER,
    target      INTEGER,
    pageview_id BLOB,
    visible_ms  INTEGER,
    scroll      INTEGER,
    user_id     INTEGER,
    fallback    INTEGER
);

INSERT INTO event_rows (rowid, id, site, kind, ts, received, visitor, evidence, client_id,
        session, session_id, url, hostname, path, prev_path, referrer, title, screen, lang,
        tz, utm_source, utm_medium, utm_campaign, utm_term, utm_content, name, props,
        target, pageview_id, visible_ms, scroll, user_id, fallback)
    SELECT e.rowid,
        CASE WHEN length(e.id) = 36 AND e.id = lower(e.id)
                  AND length(unhex(replace(e.id, '-', ''))) = 16
             THEN unhex(replace(e.id, '-', '')) ELSE e.id END,
        (SELECT id FROM strings WHERE value = e.site),
        CASE e.kind WHEN 'pageview' THEN 0 WHEN 'engagement' THEN 1 WHEN 'custom' THEN 2
            WHEN 'outbound' THEN 3 WHEN 'download' THEN 4 ELSE 5 END,
        e.ts, e.received - e.ts,
        (SELECT id FROM strings WHERE value = e.visitor),
        CASE e.evidence WHEN 'client-id' THEN 0 WHEN 'server-cookie' THEN 1 ELSE 2 END,
        CASE WHEN e.client_id IS NULL THEN NULL WHEN e.client_id = e.visitor THEN 0
             ELSE (SELECT id FROM strings WHERE value = e.client_id) END,
        (SELECT id FROM strings WHERE value = e.session),
        (SELECT id FROM strings WHERE value = e.session_id),
        CASE e.url WHEN 'https://' || e.hostname || e.path THEN NULL
            WHEN 'http://' || e.hostname || e.path THEN 0
            ELSE (SELECT id FROM strings WHERE value = e.url) END,
        (SELECT id FROM strings WHERE value = e.hostname),
        (SELECT id FROM strings WHERE value = e.path),
        (SELECT id FROM strings WHERE value = e.prev_path),
        (SELECT id FROM strings WHERE value = e.referrer),
        (SELECT id FROM strings WHERE value = e.title),
        (SELECT id FROM strings WHERE value = e.screen),
        (SELECT id FROM strings WHERE value = e.lang),
        (SELECT id FROM strings WHERE value = e.tz),
        (SELECT id FROM strings WHERE value = e.utm_source),
        (SELECT id FROM strings WHERE value = e.utm_medium),
        (SELECT id FROM strings WHERE value = e.utm_campaign),
        (SELECT id FROM strings WHERE value = e.utm_term),
        (SELECT id FROM strings WHERE value = e.utm_content),
        (SELECT id FROM strings WHERE value = e.name),
        (SELECT id FROM strings WHERE value = e.props),
        (SELECT id FROM strings WHERE value = e.target),
        CASE WHEN length(e.pageview_id) = 36 AND e.pageview_id = lower(e.pageview_id)
                  AND length(unhex(replace(e.pageview_id, '-', ''))) = 16
             THEN unhex(replace(e.pageview_id, '-', '')) ELSE e.pageview_id END,
        e.visible_ms, e.scroll,
        (SELECT id FROM strings WHERE value = e.user_id),
        (SELECT id FROM strings WHERE value = e.fallback)
    FROM events e ORDER BY e.rowid;

-- Every reference counted once per column that holds it (`row.rs` counts the same way).
UPDATE strings SET refs = c.n FROM (
    SELECT ref, count(*) AS n FROM (
        SELECT site AS ref FROM event_rows UNION ALL SELECT visitor FROM event_rows
        UNION ALL SELECT client_id FROM event_rows UNION ALL SELECT session FROM event_rows
        UNION ALL SELECT session_id FROM event_rows UNION ALL SELECT url FROM event_rows
        UNION ALL SELECT hostname FROM event_rows UNION ALL SELECT path FROM event_rows
        UNION ALL SELECT prev_path FROM event_rows UNION ALL SELECT referrer FROM event_rows
        UNION ALL SELECT title FROM event_rows UNION ALL SELECT screen FROM event_rows
        UNION ALL SELECT lang FROM event_rows UNION ALL SELECT tz FROM event_rows
        UNION ALL SELECT utm_source FROM event_rows UNION ALL SELECT utm_medium FROM event_rows
        UNION ALL SELECT utm_campaign FROM event_rows UNION ALL SELECT utm_term FROM event_rows
        UNION ALL SELECT utm_content FROM event_rows UNION ALL SELECT name FROM event_rows
        UNION ALL SELECT props FROM event_rows UNION ALL SELECT target FROM event_rows
        UNION ALL SELECT user_id FROM event_rows UNION ALL SELECT fallback FROM event_rows
    ) WHERE ref > 0 GROUP BY ref
) AS c WHERE c.ref = strings.id;

DROP TABLE events;

-- Only the indexes a query needs (each checked with EXPLAIN QUERY PLAN, see
-- ARCHITECTURE.md, "Compact events"), under their old names. The funnels' covering
-- indexes keep their shape with integer columns; `kind` is listed (its code costs no
-- byte) so SQLite sees they cover a query that names their condition.
CREATE UNIQUE INDEX events_id ON event_rows (id);                    -- dedupe on insert
CREATE INDEX events_site_ts ON event_rows (site, ts);                -- reports, retention
CREATE INDEX events_site_visitor ON event_rows (site, visitor);      -- identity, erasure, timeline
CREATE INDEX events_session ON event_rows (session_id);              -- a session's events
CREATE INDEX events_pageview_path ON event_rows (site, path, ts, visitor, session_id, kind)
    WHERE kind = 0;                                                       -- funnel page steps
CREATE INDEX events_custom_name ON event_rows (site, name, ts, visitor, session_id, kind)
    WHERE kind = 2;                                                       -- funnel event steps
CREATE INDEX events_site_client_id ON event_rows (site, client_id)
    WHERE client_id <> 0;                                                 -- erasure, export
CREATE INDEX events_site_user_id ON event_rows (site, user_id)
    WHERE user_id IS NOT NULL;                                            -- erasure, export
CREATE INDEX events_fallback ON event_rows (site, ts)
    WHERE fallback IS NOT NULL;                                           -- summary

-- A deleted row gives back its references (once per column, as they were counted); the
-- strings left unreferenced stay until a sweep (erasure, retention) deletes them, so a
-- writer's cached id never names a string another connection removed.
CREATE TRIGGER event_rows_unref AFTER DELETE ON event_rows BEGIN
    UPDATE strings SET refs = refs - (
            (OLD.site IS id) + (OLD.visitor IS id) + (OLD.client_id IS id)
            + (OLD.session IS id) + (OLD.session_id IS id) + (OLD.url IS id)
            + (OLD.hostname IS id) + (OLD.path IS id) + (OLD.prev_path IS id)
            + (OLD.referrer IS id) + (OLD.title IS id) + (OLD.screen IS id)
            + (OLD.lang IS id) + (OLD.tz IS id) + (OLD.utm_source IS id)
            + (OLD.utm_medium IS id) + (OLD.utm_campaign IS id) + (OLD.utm_term IS id)
            + (OLD.utm_content IS id) + (OLD.name IS id) + (OLD.props IS id)
            + (OLD.target IS id) + (OLD.user_id IS id) + (OLD.fallback IS id))
    WHERE id IN (OLD.site, OLD.visitor, OLD.client_id, OLD.session, OLD.session_id,
        OLD.url, OLD.hostname, OLD.path, OLD.prev_path, OLD.referrer, OLD.title, OLD.screen,
        OLD.lang, OLD.tz, OLD.utm_source, OLD.utm_medium, OLD.utm_campaign, OLD.utm_term,
        OLD.utm_content, OLD.name, OLD.props, OLD.target, OLD.user_id, OLD.fallback);
END;

-- An update moves the references it changes: of `prev_path` (which the backfill and a
-- rebuild of the reports set, row by row, so it has a trigger of its own), and of any
-- other column (an operator's re-pointing, see docs/OPERATIONS.md, "Upgrades").
CREATE TRIGGER event_rows_prev_path AFTER UPDATE OF prev_path ON event_rows BEGIN
    UPDATE strings SET refs = refs - 1 WHERE id = OLD.prev_path;
    UPDATE strings SET refs = refs + 1 WHERE id = NEW.prev_path;
END;
CREATE TRIGGER event_rows_reref AFTER UPDATE OF site, visitor, client_id, session,
        session_id, url, hostname, path, referrer, title, screen, lang, tz, utm_source,
        utm_medium, utm_campaign, utm_term, utm_content, name, props, target, user_id,
        fallback ON event_rows BEGIN
    UPDATE strings SET refs = refs - (
            (OLD.site IS id) + (OLD.visitor IS id) + (OLD.client_id IS id)
            + (OLD.session IS id) + (OLD.session_id IS id) + (OLD.url IS id)
            + (OLD.hostname IS id) + (OLD.path IS id)
            + (OLD.referrer IS id) + (OLD.title IS id) + (OLD.screen IS id)
            + (OLD.lang IS id) + (OLD.tz IS id) + (OLD.utm_source IS id)
            + (OLD.utm_medium IS id) + (OLD.utm_campaign IS id) + (OLD.utm_term IS id)
            + (OLD.utm_content IS id) + (OLD.name IS id) + (OLD.props IS id)
            + (OLD.target IS id) + (OLD.user_id IS id) + (OLD.fallback IS id))
    WHERE id IN (
        OLD.site, OLD.visitor, OLD.client_id, OLD.session, OLD.session_id, OLD.url,
        OLD.hostname, OLD.path, OLD.referrer, OLD.title, OLD.screen,
        OLD.lang, OLD.tz, OLD.utm_source, OLD.utm_medium, OLD.utm_campaign, OLD.utm_term,
        OLD.utm_content, OLD.name, OLD.props, OLD.target, OLD.user_id, OLD.fallback);
    UPDATE strings SET refs = refs + (
            (NEW.site IS id) + (NEW.visitor IS id) + (NEW.client_id IS id)
            + (NEW.session IS id) + (NEW.session_id IS id) + (NEW.url IS id)
            + (NEW.hostname IS id) + (NEW.path IS id)
            + (NEW.referrer IS id) + (NEW.title IS id) + (NEW.screen IS id)
            + (NEW.lang IS id) + (NEW.tz IS id) + (NEW.utm_source IS id)
            + (NEW.utm_medium IS id) + (NEW.utm_campaign IS id) + (NEW.utm_term IS id)
            + (NEW.utm_content IS id) + (NEW.name IS id) + (NEW.props IS id)
            + (NEW.target IS id) + (NEW.user_id IS id) + (NEW.fallback IS id))
    WHERE id IN (
        NEW.site, NEW.visitor, NEW.client_id, NEW.session, NEW.session_id, NEW.url,
        NEW.hostname, NEW.path, NEW.referrer, NEW.title, NEW.screen,
        NEW.lang, NEW.tz, NEW.utm_source, NEW.utm_medium, NEW.utm_campaign, NEW.utm_term,
        NEW.utm_content, NEW.name, NEW.props, NEW.target, NEW.user_id, NEW.fallback);
END;

-- The events as they were sent. Site, visitor and server session are joins, so a query
-- that filters on them looks the string up once and then uses an index of `event_rows`;
-- every other column is a subquery that runs only for the rows and columns a query reads
-- (SQLite never leaves out a LEFT JOIN of an aggregate query, so 24 joins would cost every
-- count 24 lookups a row). A query that needs a partial index or INDEXED BY reads
-- `event_rows` itself (see `row.rs` for the codes).
CREATE VIEW events AS SELECT
    e.rowid AS rowid,
    CASE WHEN typeof(e.id) = 'blob'
         THEN lower(substr(hex(e.id), 1, 8) || '-' || substr(hex(e.id), 9, 4) || '-'
              || substr(hex(e.id), 13, 4) || '-' || substr(hex(e.id), 17, 4) || '-'
              || substr(hex(e.id), 21))
         ELSE e.id END AS id,
    site_.value AS site,
    CASE e.kind WHEN 0 THEN 'pageview' WHEN 1 THEN 'engagement' WHEN 2 THEN 'custom'
        WHEN 3 THEN 'outbound' WHEN 4 THEN 'download' ELSE 'identify' END AS kind,
    e.ts AS ts,
    e.ts + e.received AS received,
    visitor_.value AS visitor,
    CASE e.evidence WHEN 0 THEN 'client-id' WHEN 1 THEN 'server-cookie'
        ELSE 'fingerprint' END AS evidence,
    CASE e.client_id WHEN 0 THEN visitor_.value
        ELSE (SELECT value FROM strings WHERE id = e.client_id) END AS client_id,
    (SELECT value FROM strings WHERE id = e.session) AS session,
    CASE WHEN e.url IS NULL THEN 'https://' || (SELECT value FROM strings WHERE id = e.hostname) || (SELECT value FROM strings WHERE id = e.path)
         WHEN e.url = 0 THEN 'http://' || (SELECT value FROM strings WHERE id = e.hostname) || (SELECT value FROM strings WHERE id = e.path)
         ELSE (SELECT value FROM strings WHERE id = e.url) END AS url,
    (SELECT value FROM strings WHERE id = e.hostname) AS hostname,
    (SELECT value FROM strings WHERE id = e.path) AS path,
    (SELECT value FROM strings WHERE id = e.referrer) AS referrer,
    (SELECT value FROM strings WHERE id = e.title) AS title,
    (SELECT value FROM strings WHERE id = e.screen) AS screen,
    (SELECT value FROM strings WHERE id = e.lang) AS lang,
    (SELECT value FROM strings WHERE id = e.tz) AS tz,
    (SELECT value FROM strings WHERE id = e.utm_source) AS utm_source,
    (SELECT value FROM strings WHERE id = e.utm_medium) AS utm_medium,
    (SELECT value FROM strings WHERE id = e.utm_campaign) AS utm_campaign,
    (SELECT value FROM strings WHERE id = e.utm_term) AS utm_term,
    (SELECT value FROM strings WHERE id = e.utm_content) AS utm_content,
    (SELECT value FROM strings WHERE id = e.name) AS name,
    (SELECT value FROM strings WHERE id = e.props) AS props,
    (SELECT value FROM strings WHERE id = e.target) AS target,
    CASE WHEN typeof(e.pageview_id) = 'blob'
         THEN lower(substr(hex(e.pageview_id), 1, 8) || '-' || substr(hex(e.pageview_id), 9, 4)
              || '-' || substr(hex(e.pageview_id), 13, 4) || '-'
              || substr(hex(e.pageview_id), 17, 4) || '-' || substr(hex(e.pageview_id), 21))
         ELSE e.pageview_id END AS pageview_id,
    e.visible_ms AS visible_ms,
    e.scroll AS scroll,
    (SELECT value FROM strings WHERE id = e.user_id) AS user_id,
    session_id_.value AS session_id,
    (SELECT value FROM strings WHERE id = e.prev_path) AS prev_path,
    (SELECT value FROM strings WHERE id = e.fallback) AS fallback
FROM event_rows e
    JOIN strings site_ ON site_.id = e.site
    JOIN strings visitor_ ON visitor_.id = e.visitor
    LEFT JOIN strings session_id_ ON session_id_.id = e.session_id;

-- Deleting through the view (the tests' and an operator's SQL) deletes the row.
CREATE TRIGGER events_delete INSTEAD OF DELETE ON events BEGIN
    DELETE FROM event_rows WHERE rowid = OLD.rowid;
END;
