-- v4: identity memory (see collector/src/identity/resolver.rs).
-- Links between visitor ids (or `user:` nodes); persons are the connected components of the
-- active ones. A link is never deleted, only deactivated (undone or withdrawn).
CREATE TABLE links (
    id          INTEGER PRIMARY KEY,
    site        TEXT    NOT NULL,
    a           TEXT    NOT NULL,           -- visitor id (or 'user:<id>')
    b           TEXT    NOT NULL,
    kind        TEXT    NOT NULL,           -- 'server-cookie' | 'client-id' | 'fingerprint' | 'login' | 'recovery'
    confidence  REAL    NOT NULL,           -- 0..1
    at_ms       INTEGER NOT NULL,           -- collector time, Unix ms
    active      INTEGER NOT NULL DEFAULT 1, -- 0 once undone or withdrawn
    fingerprint TEXT                        -- fp_ id behind a 'fingerprint' link, for withdrawal
);
CREATE INDEX links_site_a ON links (site, a);
CREATE INDEX links_site_b ON links (site, b);
CREATE INDEX links_site_fingerprint ON links (site, fingerprint) WHERE fingerprint IS NOT NULL;

-- Id-carrying visitors seen behind a fingerprint on a UTC day (the NAT guard's memory).
-- Fingerprints change with the daily salt; rows are deleted with the salt after two days.
CREATE TABLE fingerprint_seen (
    site        TEXT    NOT NULL,
    day         INTEGER NOT NULL,           -- Unix day (UTC)
    fingerprint TEXT    NOT NULL,
    visitor     TEXT    NOT NULL,
    last_ms     INTEGER NOT NULL,
    PRIMARY KEY (site, day, fingerprint, visitor)
) WITHOUT ROWID;
