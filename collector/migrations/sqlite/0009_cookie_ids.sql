-- v9: the identity guard's counter (see collector/src/identity/resolver.rs): client ids
-- linked ('client-id') to the visitor a server cookie names, per UTC day. Read with one
-- primary-key lookup per request; rows before yesterday are deleted with the daily salts.
CREATE TABLE cookie_ids (
    site    TEXT    NOT NULL,
    visitor TEXT    NOT NULL,           -- the visitor the server cookie names
    day     INTEGER NOT NULL,           -- Unix day (UTC)
    ids     INTEGER NOT NULL,           -- client ids linked to it that day
    PRIMARY KEY (site, visitor, day)
) WITHOUT ROWID;
