-- v18: the beacon's own session id on the session row (see
-- collector/src/store/sqlite/sessions.rs). The beacon sends the id of its tab's session
-- (sessionStorage, 30 minutes of inactivity) with every event; most of a server session's
-- events carry the same one, each stored as the dictionary id of a string (16 bytes for a
-- UUID, and its unique index entry) that only export reads back. The session row now
-- keeps the id its first event carried, in `beacon` (16 bytes for a canonical UUID, text
-- otherwise, as `strings` keeps ids); an event whose beacon session is its session's holds
-- 0 in `event_rows.session`, any other still the string's id. The `events` view decodes
-- both, so export reads what was sent. The strings no event refers to any more are
-- deleted (the reference trigger moves the counts of the re-pointed rows).

ALTER TABLE session_rows ADD COLUMN beacon BLOB;

UPDATE session_rows SET beacon = (
    SELECT s.value FROM event_rows e JOIN strings s ON s.id = e.session
    WHERE e.session_id = session_rows.rowid ORDER BY e.rowid LIMIT 1);

CREATE TEMP TABLE v18_beacons (string INTEGER PRIMARY KEY);
INSERT INTO v18_beacons (string)
    SELECT DISTINCT st.id FROM session_rows r JOIN strings st ON st.value = r.beacon;

UPDATE event_rows SET session = 0
    WHERE session IN (SELECT string FROM v18_beacons)
      AND session = (SELECT st.id FROM session_rows r JOIN strings st ON st.value = r.beacon
                     WHERE r.rowid = event_rows.session_id);
DELETE FROM strings WHERE refs <= 0 AND id IN (SELECT string FROM v18_beacons);
DROP TABLE v18_beacons;

DROP VIEW events;

-- As in v17, with `session` 0 read from the session row.
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
    CASE e.session WHEN 0 THEN CASE WHEN typeof(session_.beacon) = 'blob' THEN lower(substr(hex(session_.beacon), 1, 8) || '-' || substr(hex(session_.beacon), 9, 4) || '-' || substr(hex(session_.beacon), 13, 4) || '-' || substr(hex(session_.beacon), 17, 4) || '-' || substr(hex(session_.beacon), 21)) ELSE session_.beacon END
        ELSE (SELECT CASE WHEN typeof(value) = 'blob' THEN lower(substr(hex(value), 1, 8) || '-' || substr(hex(value), 9, 4) || '-' || substr(hex(value), 13, 4) || '-' || substr(hex(value), 17, 4) || '-' || substr(hex(value), 21)) ELSE value END FROM strings WHERE id = e.session) END AS session,
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
