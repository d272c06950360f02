-- v17: an event's server session as its session row's rowid (see
-- collector/src/store/sqlite/sessions.rs). `event_rows.session_id` named the session by
-- the dictionary id of its 16-byte id, so every server session's id was stored twice more
-- (a value of `strings` and its unique index entry) beside `session_rows.id`. It now holds
-- `session_rows.rowid`, which the writer allocates before the event row is written; the
-- `events` view decodes it through the session row, so readers see the same text. The
-- session id strings no row refers to any more are deleted, and the reference triggers no
-- longer count `session_id`.
--
-- An event whose session has no row (none is left so by this version's retention, which
-- deletes a session only with all its events, nor by erasure; only a file whose sessions
-- were deleted by hand) reads its `session_id` as NULL: the session it named is gone.

DROP TRIGGER event_rows_unref;
DROP TRIGGER event_rows_reref;

CREATE TEMP TABLE v17_sessions (string INTEGER PRIMARY KEY, n INTEGER NOT NULL);
INSERT INTO v17_sessions (string, n)
    SELECT session_id, count(*) FROM event_rows WHERE session_id IS NOT NULL GROUP BY session_id;

UPDATE strings SET refs = refs - m.n FROM v17_sessions m WHERE m.string = strings.id;
UPDATE event_rows SET session_id = (
        SELECT r.rowid FROM session_rows r
        WHERE r.id = (SELECT value FROM strings WHERE id = event_rows.session_id))
    WHERE session_id IS NOT NULL;
DELETE FROM strings WHERE refs <= 0 AND id IN (SELECT string FROM v17_sessions);
DROP TABLE v17_sessions;

-- As in v13, without `session_id`, which is no longer a string.
CREATE TRIGGER event_rows_unref AFTER DELETE ON event_rows BEGIN
    UPDATE strings SET refs = refs - (
            (OLD.site IS id) + (OLD.visitor IS id) + (OLD.client_id IS id)
            + (OLD.session IS id) + (OLD.url IS id)
            + (OLD.hostname IS id) + (OLD.path IS id) + (OLD.prev_path IS id)
            + (OLD.referrer IS id) + (OLD.title IS id) + (OLD.screen IS id)
            + (OLD.lang IS id) + (OLD.tz IS id) + (OLD.utm_source IS id)
            + (OLD.utm_medium IS id) + (OLD.utm_campaign IS id) + (OLD.utm_term IS id)
            + (OLD.utm_content IS id) + (OLD.name IS id) + (OLD.props IS id)
            + (OLD.target IS id) + (OLD.user_id IS id) + (OLD.fallback IS id))
    WHERE id IN (OLD.site, OLD.visitor, OLD.client_id, OLD.session,
        OLD.url, OLD.hostname, OLD.path, OLD.prev_path, OLD.referrer, OLD.title, OLD.screen,
        OLD.lang, OLD.tz, OLD.utm_source, OLD.utm_medium, OLD.utm_campaign, OLD.utm_term,
        OLD.utm_content, OLD.name, OLD.props, OLD.target, OLD.user_id, OLD.fallback);
END;

-- An update moves the references it changes: of `prev_path` (which the backfill and a
-- rebuild of the reports set, row by row, so it has a trigger of its own), and of any
-- other column (an operator's re-pointing, see docs/OPERATIONS.md, "Upgrades").

CREATE TRIGGER event_rows_reref AFTER UPDATE OF site, visitor, client_id, session,
        url, hostname, path, referrer, title, screen, lang, tz, utm_source,
        utm_medium, utm_campaign, utm_term, utm_content, name, props, target, user_id,
        fallback ON event_rows BEGIN
    UPDATE strings SET refs = refs - (
            (OLD.site IS id) + (OLD.visitor IS id) + (OLD.client_id IS id)
            + (OLD.session IS id) + (OLD.url IS id)
            + (OLD.hostname IS id) + (OLD.path IS id)
            + (OLD.referrer IS id) + (OLD.title IS id) + (OLD.screen IS id)
            + (OLD.lang IS id) + (OLD.tz IS id) + (OLD.utm_source IS id)
            + (OLD.utm_medium IS id) + (OLD.utm_campaign IS id) + (OLD.utm_term IS id)
            + (OLD.utm_content IS id) + (OLD.name IS id) + (OLD.props IS id)
            + (OLD.target IS id) + (OLD.user_id IS id) + (OLD.fallback IS id))
    WHERE id IN (
        OLD.site, OLD.visitor, OLD.client_id, OLD.session, OLD.url,
        OLD.hostname, OLD.path, OLD.referrer, OLD.title, OLD.screen,
        OLD.lang, OLD.tz, OLD.utm_source, OLD.utm_medium, OLD.utm_campaign, OLD.utm_term,
        OLD.utm_content, OLD.name, OLD.props, OLD.target, OLD.user_id, OLD.fallback);
    UPDATE strings SET refs = refs + (
            (NEW.site IS id) + (NEW.visitor IS id) + (NEW.client_id IS id)
            + (NEW.session IS id) + (NEW.url IS id)
            + (NEW.hostname IS id) + (NEW.path IS id)
            + (NEW.referrer IS id) + (NEW.title IS id) + (NEW.screen IS id)
            + (NEW.lang IS id) + (NEW.tz IS id) + (NEW.utm_source IS id)
            + (NEW.utm_medium IS id) + (NEW.utm_campaign IS id) + (NEW.utm_term IS id)
            + (NEW.utm_content IS id) + (NEW.name IS id) + (NEW.props IS id)
            + (NEW.target IS id) + (NEW.user_id IS id) + (NEW.fallback IS id))
    WHERE id IN (
        NEW.site, NEW.visitor, NEW.client_id, NEW.session, NEW.url,
        NEW.hostname, NEW.path, NEW.referrer, NEW.title, NEW.screen,
        NEW.lang, NEW.tz, NEW.utm_source, NEW.utm_medium, NEW.utm_campaign, NEW.utm_term,
        NEW.utm_content, NEW.name, NEW.props, NEW.target, NEW.user_id, NEW.fallback);
END;

DROP VIEW events;

-- As in v16, with `session_id` decoded from the session row it names.
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
    CASE WHEN typeof(visitor_.value) = 'blob' THEN lower(substr(hex(visitor_.value), 1, 8) || '-' || substr(hex(visitor_.value), 9, 4) || '-' || substr(hex(visitor_.value), 13, 4) || '-' || substr(hex(visitor_.value), 17, 4) || '-' || substr(hex(visitor_.value), 21)) ELSE visitor_.value END AS visitor,
    CASE e.evidence WHEN 0 THEN 'client-id' WHEN 1 THEN 'server-cookie'
        ELSE 'fingerprint' END AS evidence,
    CASE e.client_id WHEN 0 THEN CASE WHEN typeof(visitor_.value) = 'blob' THEN lower(substr(hex(visitor_.value), 1, 8) || '-' || substr(hex(visitor_.value), 9, 4) || '-' || substr(hex(visitor_.value), 13, 4) || '-' || substr(hex(visitor_.value), 17, 4) || '-' || substr(hex(visitor_.value), 21)) ELSE visitor_.value END
        ELSE (SELECT CASE WHEN typeof(value) = 'blob' THEN lower(substr(hex(value), 1, 8) || '-' || substr(hex(value), 9, 4) || '-' || substr(hex(value), 13, 4) || '-' || substr(hex(value), 17, 4) || '-' || substr(hex(value), 21)) ELSE value END FROM strings WHERE id = e.client_id) END AS client_id,
    (SELECT CASE WHEN typeof(value) = 'blob' THEN lower(substr(hex(value), 1, 8) || '-' || substr(hex(value), 9, 4) || '-' || substr(hex(value), 13, 4) || '-' || substr(hex(value), 17, 4) || '-' || substr(hex(value), 21)) ELSE value END FROM strings WHERE id = e.session) AS session,
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
    CASE WHEN typeof(session_.id) = 'blob' THEN lower(substr(hex(session_.id), 1, 8) || '-' || substr(hex(session_.id), 9, 4) || '-' || substr(hex(session_.id), 13, 4) || '-' || substr(hex(session_.id), 17, 4) || '-' || substr(hex(session_.id), 21)) ELSE session_.id END AS session_id,
    (SELECT value FROM strings WHERE id = e.prev_path) AS prev_path,
    (SELECT value FROM strings WHERE id = e.fallback) AS fallback
FROM event_rows e
    JOIN strings site_ ON site_.id = e.site
    JOIN strings visitor_ ON visitor_.id = e.visitor
    LEFT JOIN session_rows session_ ON session_.rowid = e.session_id;

-- Deleting through the view (the tests' and an operator's SQL) deletes the row.
CREATE TRIGGER events_delete INSTEAD OF DELETE ON events BEGIN
    DELETE FROM event_rows WHERE rowid = OLD.rowid;
END;
