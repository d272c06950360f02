-- v7: flows get a table of their own. A day holds thousands of distinct sequences, each
-- counted in sessions only (no visitor sketch), and the flow report reads a month of them:
-- small rows clustered by (site, day) make that one sequential read.
CREATE TABLE report_flows (
    site     TEXT    NOT NULL,
    day      INTEGER NOT NULL,              -- Unix ms / 86400000 of the sessions' start
    key      TEXT    NOT NULL,              -- the sessions' first page views' paths, '\n'-separated
    sessions INTEGER NOT NULL,
    PRIMARY KEY (site, day, key)
) WITHOUT ROWID;
INSERT INTO report_flows (site, day, key, sessions)
    SELECT site, day, key, sessions FROM report_keys WHERE dim = 'flow' AND sessions <> 0;
DELETE FROM report_keys WHERE dim = 'flow';
