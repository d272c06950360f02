-- v15: `report_keys` keyed by its primary key alone. The table had a rowid and, for its
-- `PRIMARY KEY (site, dim, day, key)`, an index repeating every key's text (site,
-- dimension, key) beside the row: about a quarter of the rollups' bytes, for a rowid
-- only retention's delete named. As a WITHOUT ROWID table (like `report_flows`, 0007)
-- the rows are stored in the key's order, once; every read and the writer's UPSERT name
-- the key, so their plans are the same searches of it.
CREATE TABLE report_keys_v15 (
    site        TEXT    NOT NULL,
    dim         TEXT    NOT NULL,           -- 'page', 'entry', 'source', 'transition', ...
    day         INTEGER NOT NULL,           -- Unix ms / 86400000
    key         TEXT    NOT NULL,
    pageviews   INTEGER NOT NULL DEFAULT 0,
    events      INTEGER NOT NULL DEFAULT 0,
    sessions    INTEGER NOT NULL DEFAULT 0,
    visitors    BLOB,
    PRIMARY KEY (site, dim, day, key)
) WITHOUT ROWID;
INSERT INTO report_keys_v15 (site, dim, day, key, pageviews, events, sessions, visitors)
    SELECT site, dim, day, key, pageviews, events, sessions, visitors FROM report_keys;
DROP TABLE report_keys;
ALTER TABLE report_keys_v15 RENAME TO report_keys;
