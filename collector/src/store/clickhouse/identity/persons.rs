//! Persons kept at write time on ClickHouse, as the SQLite store keeps them
//! (`store/sqlite/reports/persons/`), in four tables of `0005_persons.sql`:
//! `person_nodes` (each node's set), `person_sets` (a set's size and user),
//! `person_members` (a set's nodes, and the shared browsers whose stretches name it) and
//! `visitor_persons` (the reports' mapping, with the stretches of shared browsers).
//!
//! - **A new link** is a union by size ([`PersonCache::linked`]): the side
//!   [`keeps_label`] chooses keeps its id; the other side's members (read from
//!   `person_members`, as many as that side holds) take it. A login to a user of another
//!   person than the one the visitor's events go to now starts a stretch.
//! - **A split** (an undone or withdrawn link, an erasure, a purge) replays the links of
//!   the component it touches by the rule of [`Persons`] and rewrites the rows of every
//!   node reached ([`PersonCache::relink`]): the component's cost, not the site's.
//!
//! Rows are replaced by newer versions, never updated; a stretch a split removed is
//! overwritten with the person in effect just before it, so `visitor_persons` keeps its
//! meaning without deletes. [`PersonCache`] reads rows lazily and keeps what it wrote, so
//! one batch reads its own writes; [`PersonCache::flush`] writes them, one insert per table.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::super::ClickHouseStore;
use super::super::client::{quote, quote_list};
use super::ids::next_version;
use super::links::{LinkCache, LinkRow};
use crate::identity::graph::{Link, LinkKind, Mode, Persons};
use crate::identity::persons::{Side, follows, keeps_label};
use crate::identity::resolver::USER_PREFIX;
use crate::store::StoreError;

/// The stored name of a reading.
pub(super) fn mode_str(mode: Mode) -> &'static str {
    match mode {
        Mode::Inclusive => "inclusive",
        Mode::Strict => "strict",
    }
}

fn is_user(node: &str) -> bool {
    node.starts_with(USER_PREFIX)
}

/// `(site, mode, x)`.
type Key = (String, &'static str, String);

fn key(site: &str, m: &'static str, x: &str) -> Key {
    (site.to_string(), m, x.to_string())
}

/// A set: its id, node count and user node.
#[derive(Debug, Clone)]
struct Set {
    label: String,
    nodes: i64,
    user: Option<String>,
}

impl Set {
    fn side(&self) -> Side<'_> {
        Side {
            label: &self.label,
            nodes: self.nodes.unsigned_abs(),
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct NodeRow {
    site: String,
    mode: String,
    node: String,
    person: String,
    version: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SetRow {
    site: String,
    mode: String,
    person: String,
    nodes: i64,
    user: String,
    version: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct MemberRow {
    site: String,
    mode: String,
    person: String,
    node: String,
    member: u8,
    version: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct VisitorRow {
    site: String,
    mode: String,
    visitor: String,
    from_ms: i64,
    person: String,
    version: u64,
}

/// The persons' rows read and written during one piece of work.
#[derive(Default)]
pub(super) struct PersonCache {
    /// Each node's set id (itself when alone).
    node_person: HashMap<Key, String>,
    /// Each set's `(nodes, user)` (`(1, …)` when alone; 0 nodes: no longer a set).
    sets: HashMap<Key, (i64, String)>,
    /// A set's members as known (all of them once in `members_read`).
    members: HashMap<Key, BTreeMap<String, u8>>,
    members_read: HashSet<Key>,
    /// A visitor's `visitor_persons` rows (`from_ms` → person).
    rows: HashMap<Key, BTreeMap<i64, String>>,
    dirty_nodes: BTreeSet<Key>,
    dirty_sets: BTreeSet<Key>,
    dirty_members: BTreeSet<(Key, String)>,
    dirty_rows: BTreeSet<Key>,
}

/// Of `keys`, those `known` does not know yet.
fn unread<'a>(keys: &[&'a str], known: impl Fn(&str) -> bool) -> Vec<&'a str> {
    keys.iter().copied().filter(|k| !known(k)).collect()
}

/// The newest version of each row of `table` under `(site, m)` whose `column` is one of
/// `keys` (read 1,000 keys a query): `select` the columns, the newest of each by
/// `argMax(…, version)`, grouped by `group`.
async fn newest<R: serde::de::DeserializeOwned>(
    store: &ClickHouseStore,
    (table, column): (&str, &str),
    site: &str,
    m: &'static str,
    keys: &[&str],
    (select, group): (&str, &str),
) -> Result<Vec<R>, StoreError> {
    let mut out = Vec::new();
    for chunk in keys.chunks(1000) {
        out.extend(
            store
                .client()
                .rows::<R>(
                    format!(
                        "SELECT {select} FROM {} WHERE site = {} AND mode = {} AND {column} IN {} \
                         GROUP BY {group}",
                        store.table(table),
                        quote(site),
                        quote(m),
                        quote_list(chunk.iter().copied())
                    ),
                    &store.consistent_read(),
                )
                .await?,
        );
    }
    Ok(out)
}

impl PersonCache {
    async fn load_nodes(
        &mut self,
        store: &ClickHouseStore,
        site: &str,
        m: &'static str,
        nodes: &[&str],
    ) -> Result<(), StoreError> {
        let unread = unread(nodes, |n| self.node_person.contains_key(&key(site, m, n)));
        if unread.is_empty() {
            return Ok(());
        }
        #[derive(serde::Deserialize)]
        struct R {
            node: String,
            person: String,
        }
        let rows: Vec<R> = newest(
            store,
            ("person_nodes", "node"),
            site,
            m,
            &unread,
            ("node, argMax(person, version) AS person", "node"),
        )
        .await?;
        let mut found: HashMap<String, String> =
            rows.into_iter().map(|r| (r.node, r.person)).collect();
        for n in unread {
            let p = found.remove(n).unwrap_or_else(|| n.to_string());
            self.node_person.insert(key(site, m, n), p);
        }
        Ok(())
    }

    async fn load_sets(
        &mut self,
        store: &ClickHouseStore,
        site: &str,
        m: &'static str,
        labels: &[&str],
    ) -> Result<(), StoreError> {
        let unread = unread(labels, |n| self.sets.contains_key(&key(site, m, n)));
        if unread.is_empty() {
            return Ok(());
        }
        #[derive(serde::Deserialize)]
        struct R {
            person: String,
            nodes: i64,
            user: String,
        }
        let rows: Vec<R> = newest(
            store,
            ("person_sets", "person"),
            site,
            m,
            &unread,
            (
                "person, argMax(nodes, version) AS nodes, argMax(user, version) AS user",
                "person",
            ),
        )
        .await?;
        let mut found: HashMap<String, (i64, String)> = rows
            .into_iter()
            .map(|r| (r.person, (r.nodes, r.user)))
            .collect();
        for n in unread {
            let v = found
                .remove(n)
                .filter(|(nodes, _)| *nodes > 0)
                .unwrap_or_else(|| alone(n));
            self.sets.insert(key(site, m, n), v);
        }
        Ok(())
    }

    async fn load_members(
        &mut self,
        store: &ClickHouseStore,
        site: &str,
        m: &'static str,
        labels: &[&str],
    ) -> Result<(), StoreError> {
        let unread = unread(labels, |n| self.members_read.contains(&key(site, m, n)));
        #[derive(serde::Deserialize)]
        struct R {
            person: String,
            node: String,
            member: u8,
        }
        let rows: Vec<R> = newest(
            store,
            ("person_members", "person"),
            site,
            m,
            &unread,
            (
                "person, node, argMax(member, version) AS member",
                "person, node",
            ),
        )
        .await?;
        for r in rows {
            let k = key(site, m, &r.person);
            // What this piece of work wrote is newer.
            if self.dirty_members.contains(&(k.clone(), r.node.clone())) {
                continue;
            }
            let known = self.members.entry(k).or_default();
            if r.member > 0 {
                known.insert(r.node, r.member);
            } else {
                known.remove(&r.node);
            }
        }
        for n in unread {
            self.members_read.insert(key(site, m, n));
        }
        Ok(())
    }

    async fn load_rows(
        &mut self,
        store: &ClickHouseStore,
        site: &str,
        m: &'static str,
        visitors: &[&str],
    ) -> Result<(), StoreError> {
        let unread = unread(visitors, |n| self.rows.contains_key(&key(site, m, n)));
        #[derive(serde::Deserialize)]
        struct R {
            visitor: String,
            from_ms: i64,
            person: String,
        }
        let rows: Vec<R> = newest(
            store,
            ("visitor_persons", "visitor"),
            site,
            m,
            &unread,
            (
                "visitor, from_ms, argMax(person, version) AS person",
                "visitor, from_ms",
            ),
        )
        .await?;
        for n in unread {
            self.rows.insert(key(site, m, n), BTreeMap::new());
        }
        for r in rows {
            self.rows
                .entry(key(site, m, &r.visitor))
                .or_default()
                .insert(r.from_ms, r.person);
        }
        Ok(())
    }

    async fn set_of(
        &mut self,
        store: &ClickHouseStore,
        site: &str,
        m: &'static str,
        node: &str,
    ) -> Result<Set, StoreError> {
        self.load_nodes(store, site, m, &[node]).await?;
        let label = self.node_person[&key(site, m, node)].clone();
        self.load_sets(store, site, m, &[&label]).await?;
        let (nodes, user) = match self.sets[&key(site, m, &label)].clone() {
            (n, _) if n <= 0 => alone(&label),
            s => s,
        };
        Ok(Set {
            label,
            nodes,
            user: (!user.is_empty()).then_some(user),
        })
    }

    /// The members of `set` (and the shared browsers with a stretch naming it).
    async fn members_of(
        &mut self,
        store: &ClickHouseStore,
        site: &str,
        m: &'static str,
        set: &Set,
    ) -> Result<BTreeMap<String, u8>, StoreError> {
        self.load_members(store, site, m, &[&set.label]).await?;
        let mut out = self
            .members
            .get(&key(site, m, &set.label))
            .cloned()
            .unwrap_or_default();
        if set.nodes == 1 {
            out.insert(set.label.clone(), 1);
        }
        Ok(out)
    }

    fn set_node(&mut self, site: &str, m: &'static str, node: &str, person: &str) {
        let k = key(site, m, node);
        self.node_person.insert(k.clone(), person.to_string());
        self.dirty_nodes.insert(k);
    }

    fn set_set(&mut self, site: &str, m: &'static str, label: &str, nodes: i64, user: &str) {
        let k = key(site, m, label);
        self.sets.insert(k.clone(), (nodes, user.to_string()));
        self.dirty_sets.insert(k);
    }

    fn set_member(&mut self, site: &str, m: &'static str, label: &str, node: &str, flag: u8) {
        let k = key(site, m, label);
        let known = self.members.entry(k.clone()).or_default();
        if flag > 0 {
            known.insert(node.to_string(), flag);
        } else {
            known.remove(node);
        }
        self.dirty_members.insert((k, node.to_string()));
    }

    fn member_flag(&self, site: &str, m: &'static str, label: &str, node: &str) -> u8 {
        self.members
            .get(&key(site, m, label))
            .and_then(|ms| ms.get(node))
            .copied()
            .unwrap_or(0)
    }

    /// Reads at once, for both readings, what merges of links between `nodes` start
    /// from: each node's set, each set's size and user, the members of the sets of one
    /// node (the smaller side of most merges: a new id, a user's first login) and the
    /// visitors' rows. Larger sets' members are read only if one is the smaller side of
    /// a merge. A handful of statements per batch instead of a handful per link.
    pub(super) async fn prefetch(
        &mut self,
        store: &ClickHouseStore,
        site: &str,
        nodes: &[&str],
    ) -> Result<(), StoreError> {
        for mode in [Mode::Inclusive, Mode::Strict] {
            let m = mode_str(mode);
            for chunk in nodes.chunks(1000) {
                self.load_nodes(store, site, m, chunk).await?;
                let labels: BTreeSet<String> = chunk
                    .iter()
                    .filter_map(|n| self.node_person.get(&key(site, m, n)).cloned())
                    .collect();
                let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
                self.load_sets(store, site, m, &labels).await?;
                let singles: Vec<&str> = labels
                    .iter()
                    .copied()
                    .filter(|l| self.sets.get(&key(site, m, l)).is_none_or(|(n, _)| *n <= 1))
                    .collect();
                self.load_members(store, site, m, &singles).await?;
                let visitors: Vec<&str> = chunk.iter().copied().filter(|n| !is_user(n)).collect();
                self.load_rows(store, site, m, &visitors).await?;
            }
        }
        Ok(())
    }

    /// Takes the active link of `kind` between `a` and `b`, recorded at `at_ms` as the
    /// newest link of `site`, into both readings' persons.
    pub(super) async fn linked(
        &mut self,
        store: &ClickHouseStore,
        site: &str,
        a: &str,
        b: &str,
        kind: LinkKind,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        if a == b {
            return Ok(());
        }
        for mode in [Mode::Inclusive, Mode::Strict] {
            if !follows(mode, kind) {
                continue;
            }
            let m = mode_str(mode);
            self.union(store, site, m, a, b).await?;
            if kind == LinkKind::Login {
                self.login(store, site, m, a, b, at_ms).await?;
            }
        }
        Ok(())
    }

    async fn union(
        &mut self,
        store: &ClickHouseStore,
        site: &str,
        m: &'static str,
        a: &str,
        b: &str,
    ) -> Result<(), StoreError> {
        let sa = self.set_of(store, site, m, a).await?;
        let sb = self.set_of(store, site, m, b).await?;
        if sa.label == sb.label || (sa.user.is_some() && sb.user.is_some()) {
            return Ok(());
        }
        let (keep, gone) = if keeps_label(sa.side(), sb.side()) {
            (sa, sb)
        } else {
            (sb, sa)
        };
        let moved = self.members_of(store, site, m, &gone).await?;
        let visitors: Vec<&str> = moved
            .keys()
            .map(String::as_str)
            .filter(|n| !is_user(n))
            .collect();
        self.load_rows(store, site, m, &visitors).await?;
        let shared: Vec<&str> = moved
            .iter()
            .filter(|(_, f)| **f == 2)
            .map(|(n, _)| n.as_str())
            .collect();
        self.load_nodes(store, site, m, &shared).await?;
        for (n, flag) in &moved {
            if *flag == 1 {
                self.set_node(site, m, n, &keep.label);
                self.set_member(site, m, &keep.label, n, 1);
            } else if self.node_person[&key(site, m, n)] != keep.label {
                self.set_member(site, m, &keep.label, n, 2);
            }
            self.set_member(site, m, &gone.label, n, 0);
            if !is_user(n) {
                let k = key(site, m, n);
                let rows = self.rows.entry(k.clone()).or_default();
                for p in rows.values_mut() {
                    if *p == gone.label {
                        p.clone_from(&keep.label);
                    }
                }
                if *flag == 1 {
                    rows.insert(i64::MIN, keep.label.clone());
                }
                self.dirty_rows.insert(k);
            }
        }
        if keep.nodes == 1 {
            self.set_node(site, m, &keep.label, &keep.label);
            self.set_member(site, m, &keep.label, &keep.label, 1);
        }
        let user = keep.user.clone().or(gone.user.clone()).unwrap_or_default();
        self.set_set(site, m, &keep.label, keep.nodes + gone.nodes, &user);
        self.set_set(site, m, &gone.label, 0, "");
        Ok(())
    }

    async fn login(
        &mut self,
        store: &ClickHouseStore,
        site: &str,
        m: &'static str,
        a: &str,
        b: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let (visitor, user) = match (is_user(a), is_user(b)) {
            (false, true) => (a, b),
            (true, false) => (b, a),
            _ => return Ok(()),
        };
        let theirs = self.set_of(store, site, m, user).await?;
        let own = self.set_of(store, site, m, visitor).await?;
        self.load_rows(store, site, m, &[visitor]).await?;
        let k = key(site, m, visitor);
        let rows = self.rows.entry(k.clone()).or_default();
        let current = rows
            .values()
            .next_back()
            .cloned()
            .unwrap_or_else(|| own.label.clone());
        if current == theirs.label {
            return Ok(());
        }
        if rows.is_empty() {
            rows.insert(i64::MIN, own.label.clone());
        }
        rows.insert(at_ms, theirs.label.clone());
        self.dirty_rows.insert(k);
        if own.label != theirs.label && self.member_flag(site, m, &theirs.label, visitor) != 1 {
            self.set_member(site, m, &theirs.label, visitor, 2);
        }
        Ok(())
    }

    /// Recomputes the persons of `nodes` (the ends of links that changed) on `site`: the
    /// links of their components replayed, every reached node's rows rewritten.
    pub(super) async fn relink(
        &mut self,
        store: &ClickHouseStore,
        links: &mut LinkCache,
        site: &str,
        nodes: &[&str],
    ) -> Result<(), StoreError> {
        let mut done: BTreeSet<String> = BTreeSet::new();
        for node in nodes {
            if done.contains(*node) {
                continue;
            }
            let rows = links.component(store, site, node).await?;
            let all: Vec<Link> = rows.iter().filter_map(LinkRow::link).collect();
            let mut reached = BTreeSet::from([node.to_string()]);
            for l in &rows {
                reached.insert(l.a.clone());
                reached.insert(l.b.clone());
            }
            for mode in [Mode::Inclusive, Mode::Strict] {
                self.write(store, site, mode, &all, &reached).await?;
            }
            done.extend(reached);
        }
        Ok(())
    }

    /// Rewrites the rows of the nodes in `reached` (closed under `links`) under `mode`.
    async fn write(
        &mut self,
        store: &ClickHouseStore,
        site: &str,
        mode: Mode,
        links: &[Link],
        reached: &BTreeSet<String>,
    ) -> Result<(), StoreError> {
        let m = mode_str(mode);
        let persons = Persons::from_links(links, mode);
        let all: Vec<&str> = reached.iter().map(String::as_str).collect();
        let visitors: Vec<&str> = all.iter().copied().filter(|n| !is_user(n)).collect();
        // Every old set is named by a node reached: its members go.
        self.load_members(store, site, m, &all).await?;
        self.load_rows(store, site, m, &visitors).await?;
        for n in &all {
            let old: Vec<String> = self
                .members
                .get(&key(site, m, n))
                .map(|ms| ms.keys().cloned().collect())
                .unwrap_or_default();
            for o in old {
                self.set_member(site, m, n, &o, 0);
            }
        }
        let mut sets: BTreeMap<&str, (i64, &str)> = BTreeMap::new();
        for n in &all {
            let p = persons.person_of(n);
            self.set_node(site, m, n, p);
            let s = sets.entry(p).or_insert((0, ""));
            s.0 += 1;
            if is_user(n) {
                s.1 = n;
            }
        }
        for n in &all {
            let p = persons.person_of(n);
            let (count, user) = sets.get(p).copied().unwrap_or((1, ""));
            if *n == p {
                self.set_set(site, m, n, if count > 1 { count } else { 0 }, user);
            } else {
                self.set_set(site, m, n, 0, "");
            }
            if count > 1 {
                self.set_member(site, m, p, n, 1);
            }
        }
        for v in visitors {
            let own = persons.person_of(v);
            let stretches = persons.stretches(v);
            let k = key(site, m, v);
            let old: Vec<i64> = self
                .rows
                .get(&k)
                .map(|r| r.keys().copied().collect())
                .unwrap_or_default();
            let mut new: BTreeMap<i64, String> = BTreeMap::new();
            if stretches.is_empty() {
                if own != v || !old.is_empty() {
                    new.insert(i64::MIN, own.to_string());
                }
            } else {
                for s in stretches {
                    new.insert(s.from_ms, s.person.clone());
                    if s.person != own {
                        self.set_member(site, m, &s.person, v, 2);
                    }
                }
            }
            for at in old {
                new.entry(at)
                    .or_insert_with(|| persons.person_at(v, at).to_string());
            }
            if !new.is_empty() {
                self.rows.insert(k.clone(), new);
                self.dirty_rows.insert(k);
            }
        }
        Ok(())
    }

    /// Writes what changed, one insert per table.
    pub(super) async fn flush(&mut self, store: &ClickHouseStore) -> Result<(), StoreError> {
        let version = next_version();
        let nodes: Vec<NodeRow> = self
            .dirty_nodes
            .iter()
            .map(|k| NodeRow {
                site: k.0.clone(),
                mode: k.1.to_string(),
                node: k.2.clone(),
                person: self
                    .node_person
                    .get(k)
                    .cloned()
                    .unwrap_or_else(|| k.2.clone()),
                version,
            })
            .collect();
        let sets: Vec<SetRow> = self
            .dirty_sets
            .iter()
            .map(|k| {
                let (nodes, user) = self.sets.get(k).cloned().unwrap_or((0, String::new()));
                SetRow {
                    site: k.0.clone(),
                    mode: k.1.to_string(),
                    person: k.2.clone(),
                    nodes,
                    user,
                    version,
                }
            })
            .collect();
        let members: Vec<MemberRow> = self
            .dirty_members
            .iter()
            .map(|(k, node)| MemberRow {
                site: k.0.clone(),
                mode: k.1.to_string(),
                person: k.2.clone(),
                node: node.clone(),
                member: self.member_flag(&k.0, k.1, &k.2, node),
                version,
            })
            .collect();
        let mut rows = Vec::new();
        for k in &self.dirty_rows {
            for (from_ms, person) in self.rows.get(k).into_iter().flatten() {
                rows.push(VisitorRow {
                    site: k.0.clone(),
                    mode: k.1.to_string(),
                    visitor: k.2.clone(),
                    from_ms: *from_ms,
                    person: person.clone(),
                    version,
                });
            }
        }
        let settings = store.state_settings();
        let client = store.client();
        client.insert("person_members", &members, &settings).await?;
        client.insert("person_sets", &sets, &settings).await?;
        client.insert("person_nodes", &nodes, &settings).await?;
        client.insert("visitor_persons", &rows, &settings).await?;
        self.dirty_nodes.clear();
        self.dirty_sets.clear();
        self.dirty_members.clear();
        self.dirty_rows.clear();
        Ok(())
    }
}

/// A node alone: one node, its own user when it is one.
fn alone(node: &str) -> (i64, String) {
    (
        1,
        if is_user(node) {
            node.to_string()
        } else {
            String::new()
        },
    )
}
