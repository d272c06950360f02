-- v2 events: browser context, campaign tags and the data of each event type.
-- Every column is nullable: rows written before this migration have none of them, and
-- each type fills only its own (see docs/API.md, "Event types").
ALTER TABLE events ADD COLUMN screen       TEXT;     -- 'WIDTHxHEIGHT'; NULL when absent or invalid
ALTER TABLE events ADD COLUMN lang         TEXT;     -- navigator.language; NULL when absent or invalid
ALTER TABLE events ADD COLUMN tz           TEXT;     -- IANA zone; NULL when absent or invalid
ALTER TABLE events ADD COLUMN utm_source   TEXT;     -- from the url query, decoded, <= 256 chars
ALTER TABLE events ADD COLUMN utm_medium   TEXT;
ALTER TABLE events ADD COLUMN utm_campaign TEXT;
ALTER TABLE events ADD COLUMN utm_term     TEXT;
ALTER TABLE events ADD COLUMN utm_content  TEXT;
ALTER TABLE events ADD COLUMN name         TEXT;     -- custom: the event name
ALTER TABLE events ADD COLUMN props        TEXT;     -- custom: flat JSON object, keys sorted; NULL if none
ALTER TABLE events ADD COLUMN target       TEXT;     -- outbound, download: the link URL
ALTER TABLE events ADD COLUMN pageview_id  TEXT;     -- engagement: id of its pageview event
ALTER TABLE events ADD COLUMN visible_ms   INTEGER;  -- engagement: 0..=86400000
ALTER TABLE events ADD COLUMN scroll       INTEGER;  -- engagement: 0..=100 (percent)
ALTER TABLE events ADD COLUMN user_id      TEXT;     -- identify: the site's user id
