-- v12: persons never join two users (see collector/src/identity/persons.rs). A visitor that
-- logged in as users of different persons (a shared browser without reset) is split by
-- time: from `from_ms` (collector time, Unix ms) on, its events belong to `person`. Only
-- such visitors have rows (two or more each), per reading; written with `visitor_persons`.
CREATE TABLE person_stretches (
    site    TEXT    NOT NULL,
    mode    TEXT    NOT NULL,           -- 'inclusive' | 'strict'
    visitor TEXT    NOT NULL,
    from_ms INTEGER NOT NULL,           -- the first stretch starts at the smallest i64
    person  TEXT    NOT NULL,
    PRIMARY KEY (site, mode, visitor, from_ms)
) WITHOUT ROWID;
