//! Persons: visitor ids grouped by their links, each person anchored on at most one user.
//!
//! Links are followed in the order they were recorded (link id), with a union-find in which
//! a `user:` node anchors its set. **A link that would join two sets each holding a user
//! is refused**: it stays recorded (and shown), but joins nothing. So no chain of links
//! ever makes two distinct user ids one person, whatever the order or kind of the links:
//! a shared browser on which two people log in without `spoor.reset()` stays attached to
//! the first user it logged in as (with every id linked to it), and the second user keeps
//! their own devices and history.
//!
//! The shared visitor's own events are then split by time into **stretches**: from its
//! login as another user onwards, its events belong to that user's person (see
//! [`Persons::person_at`]). A login link is recorded once per visitor and user, so a
//! browser that goes back to a user it logged in as before stays with the latest new one.
//!
//! When at most one user is involved, nothing is refused and persons are the connected
//! components of the followed links, as before. Persons are recomputed from the links that
//! remain, never patched, so an undone link can also lift a refusal.
//!
//! **A person's id** is one of its nodes, chosen by union by size as the links are
//! followed in order ([`keeps_label`]): the larger of the two sets a link joins keeps its
//! id and the smaller takes it. So a person's id never changes as it grows by smaller
//! sets (a new id, a login, a device), and the store, which keeps persons link by link
//! (`store/sqlite/reports/persons/`), relabels only the smaller side of each merge, never
//! the whole person; replaying the links here gives the same ids, which is how a split
//! and `rebuild-reports` recompute them. A set that holds a visitor id is always named by
//! a visitor id (a lone user node only names itself).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::graph::{Link, LinkKind, Mode};
use super::resolver::USER_PREFIX;

/// From `from_ms` on (collector time, Unix ms), a shared visitor's events belong to
/// `person`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stretch {
    /// Start of the stretch; `i64::MIN` for the first.
    pub from_ms: i64,
    /// The person its events belong to.
    pub person: String,
}

/// Visitor ids grouped into persons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Persons {
    /// Each linked node (visitor id or `user:` node) and its person id. A visitor with no
    /// link is its own person and is not listed (see [`Persons::person_of`]).
    person: HashMap<String, String>,
    /// Ids of the links refused because they would join two users.
    refused: HashSet<i64>,
    /// The stretches of each visitor that logged in as users of different persons, in
    /// time order (two or more each).
    stretches: HashMap<String, Vec<Stretch>>,
}

impl Persons {
    /// Groups the visitor ids joined by `links` under `mode` (see the module docs). Links
    /// are taken in id order, so the answer does not depend on the slice's order. A
    /// person's id is the node [`keeps_label`] chose at each merge.
    pub fn from_links(links: &[Link], mode: Mode) -> Persons {
        let mut followed: Vec<&Link> = links
            .iter()
            .filter(|l| l.active && follows(mode, l.kind))
            .collect();
        followed.sort_by_key(|l| l.id);
        let mut sets = UnionFind::default();
        let mut refused = HashSet::new();
        for link in &followed {
            if !sets.union(&link.a, &link.b) {
                refused.insert(link.id);
            }
        }
        let mut persons = Persons {
            person: sets.into_components(),
            refused,
            stretches: HashMap::new(),
        };
        // Each visitor's logins, in order: (time, user node).
        let mut logins: BTreeMap<&str, Vec<(i64, &str)>> = BTreeMap::new();
        for link in followed.iter().filter(|l| l.kind == LinkKind::Login) {
            match (is_user(&link.a), is_user(&link.b)) {
                (false, true) => logins
                    .entry(&link.a)
                    .or_default()
                    .push((link.at_ms, &link.b)),
                (true, false) => logins
                    .entry(&link.b)
                    .or_default()
                    .push((link.at_ms, &link.a)),
                _ => {}
            }
        }
        for (visitor, logins) in logins {
            let mut current = persons.person_of(visitor).to_string();
            let mut stretches = vec![Stretch {
                from_ms: i64::MIN,
                person: current.clone(),
            }];
            for (at_ms, user) in logins {
                let person = persons.person_of(user);
                if person != current {
                    current = person.to_string();
                    stretches.push(Stretch {
                        from_ms: at_ms,
                        person: current.clone(),
                    });
                }
            }
            if stretches.len() > 1 {
                persons.stretches.insert(visitor.to_string(), stretches);
            }
        }
        persons
    }

    /// The person of `visitor` (itself when unlinked): for a shared visitor, the person
    /// of its first stretch, which its links joined it to.
    pub fn person_of<'a>(&'a self, visitor: &'a str) -> &'a str {
        self.person.get(visitor).map_or(visitor, String::as_str)
    }

    /// The person an event of `visitor` received at `at_ms` belongs to: the user logged
    /// in on a shared visitor at that time, else [`Persons::person_of`].
    pub fn person_at<'a>(&'a self, visitor: &'a str, at_ms: i64) -> &'a str {
        match self.stretches.get(visitor) {
            Some(stretches) => stretches
                .iter()
                .rev()
                .find(|s| s.from_ms <= at_ms)
                .map_or(self.person_of(visitor), |s| s.person.as_str()),
            None => self.person_of(visitor),
        }
    }

    /// The stretches of `visitor` when it is shared by users of different persons (two or
    /// more, in time order); empty otherwise.
    pub fn stretches(&self, visitor: &str) -> &[Stretch] {
        self.stretches.get(visitor).map_or(&[], Vec::as_slice)
    }

    /// Whether link `id` was refused because it would join two users.
    pub fn is_refused(&self, id: i64) -> bool {
        self.refused.contains(&id)
    }

    /// How many distinct persons the given visitor ids are, counting each stretch of a
    /// shared visitor.
    pub fn count<'a>(&self, visitors: impl IntoIterator<Item = &'a str>) -> usize {
        let mut seen = HashSet::new();
        for v in visitors {
            seen.insert(self.person_of(v));
            for s in self.stretches(v) {
                seen.insert(s.person.as_str());
            }
        }
        seen.len()
    }
}

/// Whether `mode` follows links of `kind`.
pub(crate) fn follows(mode: Mode, kind: LinkKind) -> bool {
    mode == Mode::Inclusive || kind.is_strict()
}

fn is_user(node: &str) -> bool {
    node.starts_with(USER_PREFIX)
}

/// One side of a merge, as [`keeps_label`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    /// The set's id (a node of it).
    pub label: &'a str,
    /// How many nodes (visitor ids and `user:` nodes) it holds.
    pub nodes: u64,
}

/// Whether `a`'s id names the union of sets `a` and `b` (union by size): the set with more
/// nodes keeps its id, so the cost of relabelling is always the smaller side's; on a tie a
/// visitor id before a `user:` node (so a set holding a visitor is named by one), then
/// the smaller id. Both the replay here and the store's merge at write time decide by it.
pub fn keeps_label(a: Side<'_>, b: Side<'_>) -> bool {
    let rank = |s: Side<'_>| (std::cmp::Reverse(s.nodes), is_user(s.label));
    match rank(a).cmp(&rank(b)) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Greater => false,
        std::cmp::Ordering::Equal => a.label <= b.label,
    }
}

/// Disjoint sets over string ids, with path halving and union by size; each set knows
/// the user node it holds, if any, and the node that names it ([`keeps_label`]).
#[derive(Default)]
struct UnionFind {
    index: HashMap<String, usize>,
    names: Vec<String>,
    parent: Vec<usize>,
    size: Vec<usize>,
    /// For a root: whether its set holds a user node.
    anchored: Vec<bool>,
    /// For a root: the node whose name is the set's id.
    label: Vec<usize>,
}

impl UnionFind {
    fn slot(&mut self, id: &str) -> usize {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        let i = self.parent.len();
        self.index.insert(id.to_string(), i);
        self.names.push(id.to_string());
        self.parent.push(i);
        self.size.push(1);
        self.anchored.push(is_user(id));
        self.label.push(i);
        i
    }

    fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    fn side(&self, root: usize) -> Side<'_> {
        Side {
            label: &self.names[self.label[root]],
            nodes: self.size[root] as u64,
        }
    }

    /// Joins the sets of `a` and `b`; false (and nothing joined) when both hold a user.
    fn union(&mut self, a: &str, b: &str) -> bool {
        let (a, b) = (self.slot(a), self.slot(b));
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return true;
        }
        if self.anchored[ra] && self.anchored[rb] {
            return false;
        }
        let (keep, gone) = if keeps_label(self.side(ra), self.side(rb)) {
            (ra, rb)
        } else {
            (rb, ra)
        };
        self.parent[gone] = keep;
        self.size[keep] += self.size[gone];
        self.anchored[keep] |= self.anchored[gone];
        true
    }

    /// Each id mapped to the id of its set.
    fn into_components(mut self) -> HashMap<String, String> {
        let mut out = HashMap::with_capacity(self.names.len());
        for i in 0..self.names.len() {
            let root = self.find(i);
            out.insert(self.names[i].clone(), self.names[self.label[root]].clone());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn link(id: i64, a: &str, b: &str, kind: LinkKind) -> Link {
        Link {
            id,
            a: a.into(),
            b: b.into(),
            kind,
            confidence: 1.0,
            at_ms: id * 10,
            active: true,
        }
    }

    #[test]
    fn a_browser_shared_by_two_users_stays_with_the_first_and_splits_by_time() {
        // Alice logs in on the laptop, then on her phone; Bob logs in on the same laptop
        // (no reset), then on his own phone.
        let links = [
            link(1, "laptop", "user:alice", LinkKind::Login),
            link(2, "phone-a", "user:alice", LinkKind::Login),
            link(3, "laptop", "user:bob", LinkKind::Login),
            link(4, "phone-b", "user:bob", LinkKind::Login),
        ];
        let p = Persons::from_links(&links, Mode::Strict);
        assert!(p.is_refused(3) && !p.is_refused(4));
        assert_eq!(p.person_of("laptop"), p.person_of("phone-a"));
        assert_ne!(p.person_of("laptop"), p.person_of("phone-b"));
        assert_eq!(p.person_of("phone-b"), p.person_of("user:bob"));
        // Before Bob's login (t = 30) the laptop's events are Alice's, from it on Bob's.
        assert_eq!(p.person_at("laptop", 29), p.person_of("phone-a"));
        assert_eq!(p.person_at("laptop", 30), p.person_of("phone-b"));
        assert_eq!(p.stretches("laptop").len(), 2);
        assert!(p.stretches("phone-a").is_empty());
        assert_eq!(p.count(["laptop"]), 2, "one browser, two persons");
        assert_eq!(p.count(["laptop", "phone-a", "phone-b"]), 2);
    }

    #[test]
    fn a_chain_through_anonymous_ids_cannot_join_two_users() {
        // A client id copied between two browsers (or a recovery) bridging two users.
        let links = [
            link(1, "a", "user:u", LinkKind::Login),
            link(2, "b", "user:w", LinkKind::Login),
            link(3, "c", "a", LinkKind::ClientId),
            link(4, "c", "b", LinkKind::Recovery),
        ];
        let p = Persons::from_links(&links, Mode::Inclusive);
        assert!(p.is_refused(4));
        assert_eq!(p.person_of("c"), p.person_of("a"));
        assert_ne!(p.person_of("user:u"), p.person_of("user:w"));
        // Under strict counting the recovery link is not followed, so nothing is refused.
        assert!(!Persons::from_links(&links, Mode::Strict).is_refused(4));
    }

    #[test]
    fn undoing_the_first_login_lifts_the_refusal() {
        let mut links = vec![
            link(1, "laptop", "user:alice", LinkKind::Login),
            link(2, "laptop", "user:bob", LinkKind::Login),
        ];
        links[0].active = false;
        let p = Persons::from_links(&links, Mode::Strict);
        assert!(!p.is_refused(2));
        assert_eq!(p.person_of("laptop"), p.person_of("user:bob"));
        assert!(p.stretches("laptop").is_empty());
    }

    #[test]
    fn one_user_on_many_devices_is_still_one_person() {
        let links = [
            link(1, "phone", "user:u", LinkKind::Login),
            link(2, "laptop", "user:u", LinkKind::Login),
            link(3, "laptop", "old-id", LinkKind::ServerCookie),
        ];
        let p = Persons::from_links(&links, Mode::Strict);
        assert_eq!(p.count(["phone", "laptop", "old-id"]), 1);
        assert!(p.stretches("laptop").is_empty());
        // The phone named the person at its login (a tie: a visitor id before the user
        // node); every later set joining it was smaller, so the name stayed.
        assert_eq!(p.person_of("old-id"), "phone");
    }

    #[test]
    fn the_larger_side_keeps_its_id_and_a_tie_goes_to_a_visitor_then_the_smaller_id() {
        let side = |label, nodes| Side { label, nodes };
        assert!(keeps_label(side("zz", 3), side("aa", 2)));
        assert!(!keeps_label(side("aa", 2), side("zz", 3)));
        assert!(keeps_label(side("zz", 1), side("user:a", 1)));
        assert!(!keeps_label(side("user:a", 1), side("zz", 1)));
        assert!(keeps_label(side("a", 4), side("b", 4)));
        assert!(!keeps_label(side("b", 4), side("a", 4)));
        // A person of 5,000 ids keeps its id when a smaller id joins it.
        let mut links: Vec<Link> = (0..50)
            .map(|i| link(i, &format!("id-{i:03}"), "home", LinkKind::ClientId))
            .collect();
        links.push(link(50, "0-new", "id-007", LinkKind::ClientId));
        links.push(link(51, "home", "user:u", LinkKind::Login));
        let p = Persons::from_links(&links, Mode::Strict);
        assert_eq!(p.person_of("0-new"), "home");
        assert_eq!(p.person_of("user:u"), "home");
    }

    fn kind() -> impl Strategy<Value = LinkKind> {
        prop_oneof![
            Just(LinkKind::ServerCookie),
            Just(LinkKind::ClientId),
            Just(LinkKind::Fingerprint),
            Just(LinkKind::Login),
            Just(LinkKind::Recovery),
        ]
    }

    /// Nodes `v0`…`v9` and users `user:0`…`user:3`.
    fn node(n: u8) -> String {
        if n < 10 {
            format!("v{n}")
        } else {
            format!("{USER_PREFIX}{}", n - 10)
        }
    }

    fn links_from(edges: &[(u8, u8, LinkKind, bool)]) -> Vec<Link> {
        edges
            .iter()
            .enumerate()
            .map(|(i, (a, b, k, active))| Link {
                active: *active,
                ..link(i as i64, &node(*a), &node(*b), *k)
            })
            .collect()
    }

    /// Plain connected components: every followed active link joins.
    fn components(links: &[Link], mode: Mode, x: &str, y: &str) -> bool {
        let mut reached = HashSet::from([x.to_string()]);
        loop {
            let before = reached.len();
            for l in links.iter().filter(|l| l.active && follows(mode, l.kind)) {
                if reached.contains(&l.a) || reached.contains(&l.b) {
                    reached.insert(l.a.clone());
                    reached.insert(l.b.clone());
                }
            }
            if reached.len() == before {
                return reached.contains(y);
            }
        }
    }

    proptest! {
        /// For any links in any order: no person holds two user nodes; only a link
        /// between two users' persons is refused; every stretch belongs to the person of
        /// a user the visitor logged in as.
        #[test]
        fn no_person_ever_holds_two_users(
            edges in proptest::collection::vec((0u8..14, 0u8..14, kind(), any::<bool>()), 0..40),
            strict in any::<bool>(),
        ) {
            let mode = if strict { Mode::Strict } else { Mode::Inclusive };
            let links = links_from(&edges);
            let p = Persons::from_links(&links, mode);
            let users: Vec<String> = (10..14).map(node).collect();
            for u in &users {
                for w in &users {
                    if u != w {
                        prop_assert_ne!(p.person_of(u), p.person_of(w));
                    }
                }
            }
            for l in &links {
                if p.is_refused(l.id) {
                    prop_assert!(l.active && follows(mode, l.kind));
                    prop_assert_ne!(p.person_of(&l.a), p.person_of(&l.b));
                    let anchored = |n: &str| users.iter().any(|u| p.person_of(u) == p.person_of(n));
                    prop_assert!(anchored(&l.a) && anchored(&l.b));
                }
            }
            for v in (0..10).map(node) {
                for s in p.stretches(&v) {
                    let logged_in = links.iter().any(|l| l.active && l.kind == LinkKind::Login
                        && (l.a == v || l.b == v)
                        && users.iter().any(|u| (&l.a == u || &l.b == u) && p.person_of(u) == s.person));
                    prop_assert!(s.person == p.person_of(&v) || logged_in);
                }
            }
            // A person's id is one of its nodes, a visitor id whenever it holds one.
            for n in (0..14).map(node) {
                let id = p.person_of(&n);
                prop_assert_eq!(p.person_of(id), id);
                if !is_user(&n) {
                    prop_assert!(!is_user(id), "{} named by {}", n, id);
                }
            }
            let mut reversed = links.clone();
            reversed.reverse();
            prop_assert_eq!(&p, &Persons::from_links(&reversed, mode));
        }

        /// With at most one user among the links, persons are exactly the connected
        /// components of the followed links, as before the rule.
        #[test]
        fn with_one_user_persons_are_the_components(
            edges in proptest::collection::vec((0u8..11, 0u8..11, kind(), any::<bool>()), 0..30),
            strict in any::<bool>(),
        ) {
            let mode = if strict { Mode::Strict } else { Mode::Inclusive };
            let links = links_from(&edges);
            let p = Persons::from_links(&links, mode);
            for x in (0..11).map(node) {
                prop_assert!(p.stretches(&x).is_empty());
                for y in (0..11).map(node) {
                    let same = p.person_of(&x) == p.person_of(&y);
                    prop_assert_eq!(same, components(&links, mode, &x, &y));
                }
            }
        }
    }
}
