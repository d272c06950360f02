-- v2: identity state shared by every collector: daily salts, secrets and credentials, links between ids, the NAT guard's memory and the per-cookie id counter.
-- Rows are replaced, never updated: the newest `version` of a key wins, and every read
-- takes it (argMax / FINAL), so a read before a merge is already right.

-- Daily salts (kind 'salt', named by their Unix day; deleted after two days with
-- ALTER … DELETE), long-lived random secrets (the cookie signing key) and credentials (the
-- admin token's hash). Collectors that create the same salt or secret at once each insert
-- a candidate; every reader takes the earliest created (then the smallest). A
-- credential's newest version wins, `deleted` marks it gone.
CREATE TABLE IF NOT EXISTS {table:secrets} {on_cluster} (
    name    String,
    value   String,                   -- hex
    created Int64,
    kind    String,                   -- secret | credential
    deleted UInt8,
    version UInt64
) ENGINE = {engine:ReplacingMergeTree()}
ORDER BY (kind, name, version, value)
{distributed:cityHash64(name)};

-- Links between visitor ids (or `user:` nodes), one row per end so either end finds them
-- by primary key, and a pair by `(node, other)`; persons are the connected components of
-- the active ones. A link is never deleted by undo, only deactivated (a newer version
-- with active = 0, written under both ends). A fingerprint link's `a` is the fingerprint
-- itself, so withdrawing a fingerprint's links reads the rows filed under it.
CREATE TABLE IF NOT EXISTS {table:links} {on_cluster} (
    site        String,
    node        String,               -- the end this row is filed under
    other       String,               -- the other end
    id          Int64,
    a           String,
    b           String,
    kind        String,               -- server-cookie | client-id | fingerprint | login | recovery
    confidence  Float32,
    at_ms       Int64,
    active      UInt8,
    verified    UInt8,
    fingerprint String,               -- fp_ id behind a fingerprint link ('' for none)
    version     UInt64
) ENGINE = {engine:ReplacingMergeTree(version)}
ORDER BY (site, node, other, id)
{distributed:cityHash64(site, node)};

-- Each link once by its id (unique without a central counter: time, then a per-collector
-- sequence; below 2^53), so `DELETE /api/links/{id}` finds its site and ends by primary key.
CREATE TABLE IF NOT EXISTS {table:link_ids} {on_cluster} (
    id      Int64,
    site    String,
    a       String,
    b       String,
    version UInt64
) ENGINE = {engine:ReplacingMergeTree(version)}
ORDER BY id
{distributed:intHash64(id)};

-- Id-carrying visitors seen behind a fingerprint on a UTC day (the NAT guard's memory);
-- deleted with the day's salt.
CREATE TABLE IF NOT EXISTS {table:fingerprint_seen} {on_cluster} (
    site        String,
    day         Int64,
    fingerprint String,
    visitor     String,
    last_ms     Int64
) ENGINE = {engine:ReplacingMergeTree(last_ms)}
ORDER BY (site, day, fingerprint, visitor)
{distributed:cityHash64(site, fingerprint)};

-- Client ids linked to the visitor a server cookie names, per UTC day (the identity
-- guard's counter); the newest count wins.
CREATE TABLE IF NOT EXISTS {table:cookie_ids} {on_cluster} (
    site    String,
    visitor String,
    day     Int64,
    ids     UInt32
) ENGINE = {engine:ReplacingMergeTree(ids)}
ORDER BY (site, visitor, day)
{distributed:cityHash64(site, visitor)};
