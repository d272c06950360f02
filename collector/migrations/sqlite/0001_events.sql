-- Events, one row per client-generated id (the idempotency key).
-- No IP address is ever stored: cookieless visitors are keyed hashes (see identity).
CREATE TABLE events (
    id        TEXT    PRIMARY KEY,          -- UUID from the beacon
    site      TEXT    NOT NULL,
    kind      TEXT    NOT NULL,             -- 'pageview', ...
    ts        INTEGER NOT NULL,             -- client time, Unix ms
    received  INTEGER NOT NULL,             -- collector time, Unix ms
    visitor   TEXT    NOT NULL,             -- resolved visitor id
    evidence  TEXT    NOT NULL,             -- 'client-id' | 'server-cookie' | 'fingerprint'
    client_id TEXT,                         -- the beacon's id as sent, if any
    session   TEXT,                         -- the beacon's session id, if any
    url       TEXT    NOT NULL,
    hostname  TEXT    NOT NULL,
    path      TEXT    NOT NULL,
    referrer  TEXT,
    title     TEXT
);
CREATE INDEX events_site_ts ON events (site, ts);
CREATE INDEX events_site_visitor ON events (site, visitor);

-- One random salt per UTC day for cookieless fingerprints; deleted after two days.
CREATE TABLE daily_salts (
    day  INTEGER PRIMARY KEY,               -- Unix day number (UTC)
    salt BLOB    NOT NULL
);

-- Long-lived random secrets, such as the cookie signing key.
CREATE TABLE secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
