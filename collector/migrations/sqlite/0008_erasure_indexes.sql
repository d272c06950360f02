-- v8: what an erasure or export looks up besides a visitor's own events, by index instead
-- of a scan of the site's events (which held the write lock for a minute at ten million):
-- events sent with a beacon id other than the visitor they were counted for (the server
-- cookie won), and the events that identified a user. Both are a small share of events.
CREATE INDEX events_site_client_id ON events (site, client_id)
    WHERE client_id IS NOT NULL AND client_id <> visitor;
CREATE INDEX events_site_user_id ON events (site, user_id) WHERE user_id IS NOT NULL;
