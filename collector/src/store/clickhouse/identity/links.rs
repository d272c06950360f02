//! Links on ClickHouse: each link is two rows of `links`, one filed under each end
//! (`node`, with the other end as `other`), so a visitor's own links and a pair's links
//! are primary-key reads; a change (undo, withdrawal, verification) is a newer version of
//! both rows. [`LinkCache`] reads them lazily and keeps what a batch wrote, so a batch
//! reads its own writes before they are flushed in one insert per table.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::super::ClickHouseStore;
use super::super::client::{quote, quote_list};
use super::ids::next_version;
use crate::identity::graph::{Link, LinkKind};
use crate::store::StoreError;

/// One link as stored (the row filed under `a`, without its filing columns).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct LinkRow {
    pub site: String,
    pub id: i64,
    pub a: String,
    pub b: String,
    pub kind: String,
    pub confidence: f32,
    pub at_ms: i64,
    pub active: u8,
    pub verified: u8,
    pub fingerprint: String,
    pub version: u64,
}

/// A `links` row as filed under one end.
#[derive(serde::Serialize)]
struct Filed<'a> {
    node: &'a str,
    other: &'a str,
    #[serde(flatten)]
    link: &'a LinkRow,
}

/// A `link_ids` row.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct LinkId {
    pub id: i64,
    pub site: String,
    pub a: String,
    pub b: String,
    pub version: u64,
}

pub(super) fn kind_from_str(s: &str) -> Option<LinkKind> {
    [
        LinkKind::ServerCookie,
        LinkKind::ClientId,
        LinkKind::Fingerprint,
        LinkKind::Login,
        LinkKind::Recovery,
    ]
    .into_iter()
    .find(|k| k.as_str() == s)
}

impl LinkRow {
    /// As the identity graph takes it; `None` for an unknown kind.
    pub(super) fn link(&self) -> Option<Link> {
        Some(Link {
            id: self.id,
            a: self.a.clone(),
            b: self.b.clone(),
            kind: kind_from_str(&self.kind)?,
            confidence: self.confidence,
            at_ms: self.at_ms,
            active: self.active != 0,
        })
    }
}

/// The newest version of each link filed under `site`'s rows matching `condition`.
const NEWEST: &str = "ORDER BY version DESC LIMIT 1 BY node, other, id";

/// Links read and written during one piece of work (a batch, an undo, a read).
#[derive(Default)]
pub(super) struct LinkCache {
    /// Every link known, by id (the newest version seen or written).
    by_id: HashMap<i64, LinkRow>,
    /// Ids by end, for the links known.
    by_node: HashMap<(String, String), BTreeSet<i64>>,
    /// Pairs (in order) whose links were read from the store.
    pairs_read: HashSet<(String, String, String)>,
    /// Nodes whose every link was read from the store.
    nodes_read: HashSet<(String, String)>,
    /// Nodes whose login links were read from the store.
    logins_read: HashSet<(String, String)>,
    /// Links to write.
    dirty: BTreeSet<i64>,
    /// Links new in this piece of work (their `link_ids` rows to write).
    new: BTreeSet<i64>,
}

impl LinkCache {
    fn know(&mut self, row: LinkRow) {
        if let Some(old) = self.by_id.get(&row.id)
            && old.version >= row.version
        {
            return;
        }
        for end in [&row.a, &row.b] {
            self.by_node
                .entry((row.site.clone(), end.clone()))
                .or_default()
                .insert(row.id);
        }
        self.by_id.insert(row.id, row);
    }

    async fn read(
        &mut self,
        store: &ClickHouseStore,
        site: &str,
        condition: String,
    ) -> Result<(), StoreError> {
        let rows: Vec<LinkRow> = store
            .client()
            .rows(
                format!(
                    "SELECT site, id, a, b, kind, confidence, at_ms, active, verified, fingerprint, version \
                     FROM {} WHERE site = {} AND {condition} {NEWEST}",
                    store.table("links"),
                    quote(site)
                ),
                &store.consistent_read(),
            )
            .await?;
        for row in rows {
            // What this piece of work wrote is newer than what the store holds.
            if !self.dirty.contains(&row.id) {
                self.know(row);
            }
        }
        Ok(())
    }

    /// The links between `x` and `y`, in either direction: a read of the rows filed
    /// under `x` with `y` as the other end.
    pub(super) async fn pair(
        &mut self,
        store: &ClickHouseStore,
        site: &str,
        x: &str,
        y: &str,
    ) -> Result<Vec<LinkRow>, StoreError> {
        let key = (site.to_string(), x.to_string(), y.to_string());
        if !self.pairs_read.contains(&key)
            && !self.nodes_read.contains(&(site.to_string(), x.to_string()))
        {
            self.read(
                store,
                site,
                format!("node = {} AND other = {}", quote(x), quote(y)),
            )
            .await?;
            self.pairs_read.insert(key);
        }
        Ok(self.known(site, x, |l| {
            (l.a == x && l.b == y) || (l.a == y && l.b == x)
        }))
    }

    /// Every link of each of `nodes` (read by the rows filed under them).
    pub(super) async fn of_nodes(
        &mut self,
        store: &ClickHouseStore,
        site: &str,
        nodes: &[String],
    ) -> Result<Vec<LinkRow>, StoreError> {
        let unread: Vec<&str> = nodes
            .iter()
            .filter(|n| !self.nodes_read.contains(&(site.to_string(), (*n).clone())))
            .map(String::as_str)
            .collect();
        for chunk in unread.chunks(1000) {
            self.read(
                store,
                site,
                format!("node IN {}", quote_list(chunk.iter().copied())),
            )
            .await?;
            for n in chunk {
                self.nodes_read.insert((site.to_string(), (*n).to_string()));
            }
        }
        let mut out = BTreeMap::new();
        for n in nodes {
            for l in self.known(site, n, |_| true) {
                out.insert(l.id, l);
            }
        }
        Ok(out.into_values().collect())
    }

    /// Reads the links of every pair of `pairs` (in either direction) at once: one read
    /// of the rows filed under their first ends with their second ends as the other, so a
    /// batch looks its pairs up in one statement rather than one each.
    pub(super) async fn prefetch_pairs(
        &mut self,
        store: &ClickHouseStore,
        site: &str,
        pairs: &[(String, String)],
    ) -> Result<(), StoreError> {
        let unread: Vec<&(String, String)> = pairs
            .iter()
            .filter(|(x, y)| {
                !self
                    .pairs_read
                    .contains(&(site.to_string(), x.clone(), y.clone()))
            })
            .collect();
        for chunk in unread.chunks(1000) {
            let tuples: Vec<String> = chunk
                .iter()
                .map(|(x, y)| format!("({}, {})", quote(x), quote(y)))
                .collect();
            self.read(
                store,
                site,
                format!("(node, other) IN ({})", tuples.join(",")),
            )
            .await?;
            for (x, y) in chunk {
                self.pairs_read
                    .insert((site.to_string(), x.clone(), y.clone()));
            }
        }
        Ok(())
    }

    /// Reads the login links of each of `nodes` at once (see [`LinkCache::logins`]).
    pub(super) async fn prefetch_logins(
        &mut self,
        store: &ClickHouseStore,
        site: &str,
        nodes: &[String],
    ) -> Result<(), StoreError> {
        let unread: Vec<&str> = nodes
            .iter()
            .filter(|n| {
                let k = (site.to_string(), (*n).clone());
                !self.nodes_read.contains(&k) && !self.logins_read.contains(&k)
            })
            .map(String::as_str)
            .collect();
        for chunk in unread.chunks(1000) {
            self.read(
                store,
                site,
                format!(
                    "node IN {} AND kind = 'login'",
                    quote_list(chunk.iter().copied())
                ),
            )
            .await?;
            for n in chunk {
                self.logins_read
                    .insert((site.to_string(), (*n).to_string()));
            }
        }
        Ok(())
    }

    /// The login links filed under `node` (a visitor's logins: few, whatever the number
    /// of its other links).
    pub(super) async fn logins(
        &mut self,
        store: &ClickHouseStore,
        site: &str,
        node: &str,
    ) -> Result<Vec<LinkRow>, StoreError> {
        let k = (site.to_string(), node.to_string());
        if !self.nodes_read.contains(&k) && !self.logins_read.contains(&k) {
            self.read(
                store,
                site,
                format!("node = {} AND kind = 'login'", quote(node)),
            )
            .await?;
            self.logins_read.insert(k);
        }
        Ok(self.known(site, node, |l| l.kind == "login"))
    }

    /// The links reachable from `start` through links of any kind, active or not, oldest
    /// first (breadth first, one read per step of the walk).
    pub(super) async fn component(
        &mut self,
        store: &ClickHouseStore,
        site: &str,
        start: &str,
    ) -> Result<Vec<LinkRow>, StoreError> {
        let mut seen = BTreeSet::from([start.to_string()]);
        let mut frontier = vec![start.to_string()];
        let mut found: BTreeMap<i64, LinkRow> = BTreeMap::new();
        while !frontier.is_empty() {
            let rows = self.of_nodes(store, site, &frontier).await?;
            frontier.clear();
            for l in rows {
                for end in [&l.a, &l.b] {
                    if seen.insert(end.clone()) {
                        frontier.push(end.clone());
                    }
                }
                found.insert(l.id, l);
            }
        }
        Ok(found.into_values().collect())
    }

    /// The known links of `node` that `keep` accepts.
    fn known(&self, site: &str, node: &str, keep: impl Fn(&LinkRow) -> bool) -> Vec<LinkRow> {
        self.by_node
            .get(&(site.to_string(), node.to_string()))
            .into_iter()
            .flatten()
            .filter_map(|id| self.by_id.get(id))
            .filter(|l| keep(l))
            .cloned()
            .collect()
    }

    /// Records `row` (new or changed) to be written.
    pub(super) fn put(&mut self, mut row: LinkRow, new: bool) {
        row.version = next_version();
        self.dirty.insert(row.id);
        if new {
            self.new.insert(row.id);
        }
        self.know(row);
    }

    /// Writes the links recorded: both filed rows of each, and the ids of new ones.
    pub(super) async fn flush(&mut self, store: &ClickHouseStore) -> Result<(), StoreError> {
        let rows: Vec<&LinkRow> = self
            .dirty
            .iter()
            .filter_map(|id| self.by_id.get(id))
            .collect();
        let mut filed = Vec::with_capacity(rows.len() * 2);
        for l in &rows {
            filed.push(Filed {
                node: &l.a,
                other: &l.b,
                link: l,
            });
            if l.a != l.b {
                filed.push(Filed {
                    node: &l.b,
                    other: &l.a,
                    link: l,
                });
            }
        }
        let ids: Vec<LinkId> = self
            .new
            .iter()
            .filter_map(|id| self.by_id.get(id))
            .map(|l| LinkId {
                id: l.id,
                site: l.site.clone(),
                a: l.a.clone(),
                b: l.b.clone(),
                version: l.version,
            })
            .collect();
        let settings = store.insert_settings();
        // The ids first: a link found by id whose rows are missing is treated as unknown.
        store.client().insert("link_ids", &ids, &settings).await?;
        store.client().insert("links", &filed, &settings).await?;
        self.dirty.clear();
        self.new.clear();
        Ok(())
    }
}

/// The site and ends of link `id`, by primary key.
pub(super) async fn find(store: &ClickHouseStore, id: i64) -> Result<Option<LinkId>, StoreError> {
    let rows: Vec<LinkId> = store
        .client()
        .rows(
            format!(
                "SELECT id, site, a, b, version FROM {} WHERE id = {id} ORDER BY version DESC LIMIT 1",
                store.table("link_ids")
            ),
            &store.consistent_read(),
        )
        .await?;
    Ok(rows.into_iter().next())
}
