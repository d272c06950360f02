-- v10: links the collector itself established (see `verified` in
-- collector/src/identity/resolver.rs): a login whose user id the site signed, or a link made
-- under the collector's own server cookie to a client id no one had used. Export and
-- erasure by user id follow only these.
ALTER TABLE links ADD COLUMN verified INTEGER NOT NULL DEFAULT 0;
