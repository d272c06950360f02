-- v16: visitor, client and session ids as 16 bytes (see collector/src/store/sqlite/dict.rs).
-- The ids the beacon sends (visitor, client id, its session) and the server session's id
-- are canonical lower-case UUIDs, new with nearly every visitor: 36 characters of text in
-- `strings` and again in its unique index. Where an event or session row refers to one
-- in an id column (event_rows: visitor, client_id, session, session_id; session_rows:
-- visitor), the dictionary now holds its 16 bytes as a blob value; other ids (`fp_…`,
-- `ss_…`, site-chosen) and every other column's strings stay text. The views decode the
-- blobs back to the same text, so readers see what was sent. The rows are re-pointed in
-- place (the reference triggers move the counts) and the text strings no row refers to
-- any more are deleted.

INSERT OR IGNORE INTO strings (value)
    SELECT unhex(replace(value, '-', '')) FROM strings
    WHERE CASE WHEN value GLOB '????????-????-????-????-????????????' AND value NOT GLOB '*[^0-9a-f-]*' THEN unhex(replace(value, '-', '')) ELSE value END <> value
      AND id IN (SELECT visitor FROM event_rows UNION SELECT client_id FROM event_rows
                 UNION SELECT session FROM event_rows UNION SELECT session_id FROM event_rows
                 UNION SELECT visitor FROM session_rows);

CREATE TEMP TABLE v16_uuids (old INTEGER PRIMARY KEY, new INTEGER NOT NULL);
INSERT INTO v16_uuids (old, new)
    SELECT t.id, b.id FROM strings t JOIN strings b ON b.value = unhex(replace(t.value, '-', ''))
    WHERE typeof(t.value) = 'text' AND CASE WHEN t.value GLOB '????????-????-????-????-????????????' AND t.value NOT GLOB '*[^0-9a-f-]*' THEN unhex(replace(t.value, '-', '')) ELSE t.value END <> t.value;

UPDATE event_rows SET visitor = m.new FROM v16_uuids m WHERE m.old = event_rows.visitor;
UPDATE event_rows SET client_id = m.new FROM v16_uuids m WHERE m.old = event_rows.client_id;
UPDATE event_rows SET session = m.new FROM v16_uuids m WHERE m.old = event_rows.session;
UPDATE event_rows SET session_id = m.new FROM v16_uuids m WHERE m.old = event_rows.session_id;
UPDATE session_rows SET visitor = m.new FROM v16_uuids m WHERE m.old = session_rows.visitor;
DELETE FROM strings WHERE refs <= 0 AND id IN (SELECT old FROM v16_uuids);
DROP TABLE v16_uuids;

DROP VIEW events;
DROP VIEW sessions;

-- As in v13, with the id columns decoded (a blob is a UUID's 16 bytes).
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
    CASE WHEN typeof(session_id_.value) = 'blob' THEN lower(substr(hex(session_id_.value), 1, 8) || '-' || substr(hex(session_id_.value), 9, 4) || '-' || substr(hex(session_id_.value), 13, 4) || '-' || substr(hex(session_id_.value), 17, 4) || '-' || substr(hex(session_id_.value), 21)) ELSE session_id_.value END AS session_id,
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

-- As in v14, with the visitor decoded and written through the dictionary's form.
CREATE VIEW sessions AS SELECT
    s.rowid AS rowid,
    CASE WHEN typeof(s.id) = 'blob'
         THEN lower(substr(hex(s.id), 1, 8) || '-' || substr(hex(s.id), 9, 4) || '-'
              || substr(hex(s.id), 13, 4) || '-' || substr(hex(s.id), 17, 4) || '-'
              || substr(hex(s.id), 21))
         ELSE s.id END AS id,
    site_.value AS site,
    CASE WHEN typeof(visitor_.value) = 'blob' THEN lower(substr(hex(visitor_.value), 1, 8) || '-' || substr(hex(visitor_.value), 9, 4) || '-' || substr(hex(visitor_.value), 13, 4) || '-' || substr(hex(visitor_.value), 17, 4) || '-' || substr(hex(visitor_.value), 21)) ELSE visitor_.value END AS visitor,
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
        SELECT v FROM (SELECT NEW.site AS v UNION ALL SELECT CASE WHEN NEW.visitor GLOB '????????-????-????-????-????????????' AND NEW.visitor NOT GLOB '*[^0-9a-f-]*' THEN unhex(replace(NEW.visitor, '-', '')) ELSE NEW.visitor END
            UNION ALL SELECT NEW.entry_path UNION ALL SELECT NEW.exit_path
            UNION ALL SELECT NEW.utm_source UNION ALL SELECT NEW.utm_medium
            UNION ALL SELECT NEW.utm_campaign UNION ALL SELECT NEW.source
            UNION ALL SELECT NEW.source_class UNION ALL SELECT NEW.browser
            UNION ALL SELECT NEW.os UNION ALL SELECT NEW.device UNION ALL SELECT NEW.country
            UNION ALL SELECT NEW.last_page UNION ALL SELECT NEW.flow)
        WHERE v IS NOT NULL;
    UPDATE session_rows SET
        site = (SELECT id FROM strings WHERE value = NEW.site),
        visitor = (SELECT id FROM strings WHERE value = CASE WHEN NEW.visitor GLOB '????????-????-????-????-????????????' AND NEW.visitor NOT GLOB '*[^0-9a-f-]*' THEN unhex(replace(NEW.visitor, '-', '')) ELSE NEW.visitor END),
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
