-- v5: persons kept at write time, link by link (union by size), so counting persons is a
-- read of `visitor_persons` rather than a union-find over a site's links. Rows are
-- replaced, never updated: the newest `version` of a key wins (argMax), so reads are
-- right before merges. Per site and reading (`mode`: 'inclusive' | 'strict').

-- The reports' visitor -> person mapping. A visitor without rows is its own person. A
-- visitor with rows belongs, from `from_ms` on (collector time, the event's `received`;
-- the first row's from_ms is -9223372036854775808), to that row's `person` until the next
-- row: more than one row only for a browser shared by two users (its stretches). A
-- stretch that a split removed is overwritten with the person in effect before it.
CREATE TABLE IF NOT EXISTS {table:visitor_persons} {on_cluster} (
    site    String,
    mode    String,
    visitor String,
    from_ms Int64,
    person  String,
    version UInt64
) ENGINE = {engine:ReplacingMergeTree(version)}
ORDER BY (site, mode, visitor, from_ms)
{distributed:cityHash64(site, visitor)};

-- Each node's set (visitor ids and `user:` nodes): the union-find's state. A node without
-- a row is alone, its own set.
CREATE TABLE IF NOT EXISTS {table:person_nodes} {on_cluster} (
    site    String,
    mode    String,
    node    String,
    person  String,
    version UInt64
) ENGINE = {engine:ReplacingMergeTree(version)}
ORDER BY (site, mode, node)
{distributed:cityHash64(site, node)};

-- Each set of two or more nodes by its id: its node count and user node ('' for none).
-- `nodes` = 0 marks a set merged into another or split (no node names it any more).
CREATE TABLE IF NOT EXISTS {table:person_sets} {on_cluster} (
    site    String,
    mode    String,
    person  String,
    nodes   Int64,
    user    String,
    version UInt64
) ENGINE = {engine:ReplacingMergeTree(version)}
ORDER BY (site, mode, person)
{distributed:cityHash64(site, person)};

-- Each set's members, so a merge reads and relabels only the smaller side: `member` 1 for
-- a node of the set, 2 for a shared browser with a stretch naming it, 0 once gone.
CREATE TABLE IF NOT EXISTS {table:person_members} {on_cluster} (
    site    String,
    mode    String,
    person  String,
    node    String,
    member  UInt8,
    version UInt64
) ENGINE = {engine:ReplacingMergeTree(version)}
ORDER BY (site, mode, person, node)
{distributed:cityHash64(site, person)};
