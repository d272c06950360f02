-- v20: persons kept by union by size (collector/src/store/sqlite/reports/persons/): a
-- link that joins two sets relabels the smaller one, so the store needs each set's size
-- and user without walking it, and the rows that name a set. `person_sets` has each set of
-- two or more nodes (visitor ids and `user:` nodes) per reading: its id (a node of it, see
-- collector/src/identity/persons.rs), how many nodes it holds and its user node, if any.
-- A node in no listed set is alone. The persons are rebuilt from the links when a file is
-- upgraded to v20, since their ids are now chosen by size rather than as the smallest.
CREATE TABLE person_sets (
    site   TEXT    NOT NULL,
    mode   TEXT    NOT NULL,            -- 'inclusive' | 'strict'
    person TEXT    NOT NULL,
    nodes  INTEGER NOT NULL,
    user   TEXT,
    PRIMARY KEY (site, mode, person)
) WITHOUT ROWID;
CREATE INDEX person_sets_user ON person_sets (site, mode, user) WHERE user IS NOT NULL;
-- The visitors of a set, and the stretches that name it: what a merge relabels.
CREATE INDEX visitor_persons_person ON visitor_persons (site, mode, person);
CREATE INDEX person_stretches_person ON person_stretches (site, mode, person);
-- A link is looked up by its two ends (is it recorded already?), not by one end's links:
-- a login's visitor may be a cookie's visitor with thousands of links.
DROP INDEX links_site_a;
CREATE INDEX links_site_a ON links (site, a, b);
