//! Links between visitor ids, and the chain of links that explains a person.
//!
//! Every piece of evidence that two visitor ids are one human becomes a [`Link`] with its
//! kind, time and confidence. Persons are the sets the active links join, except that no
//! link may join two users ([`persons`](super::persons)), so a report can say *why* two
//! ids are one person — the path of links — and a wrong link can be undone by
//! deactivating it: persons are recomputed from the links that remain, never patched.
//!
//! Two readings: [`Mode::Strict`] follows only links that an id or a login proves
//! (server cookie, client id, login); [`Mode::Inclusive`] also follows the inferred ones
//! (network fingerprint, cookie-loss recovery).

use std::collections::HashMap;

pub use super::persons::Persons;
use super::persons::follows;

/// Why two visitor ids were linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinkKind {
    /// The collector's signed server cookie named one id while the beacon sent another.
    ServerCookie,
    /// The beacon's client id was seen with another id of the same browser.
    ClientId,
    /// A cookieless hit was stitched to the only cookie visitor behind its fingerprint.
    Fingerprint,
    /// Both ids logged in as the same user (`identify`).
    Login,
    /// A new id appeared where exactly one recent visitor had the same fingerprint.
    Recovery,
}

impl LinkKind {
    /// The name stored and shown in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::ServerCookie => "server-cookie",
            LinkKind::ClientId => "client-id",
            LinkKind::Fingerprint => "fingerprint",
            LinkKind::Login => "login",
            LinkKind::Recovery => "recovery",
        }
    }

    /// Whether strict counting follows this kind of link: only evidence that an id or a
    /// login proves, never an inference from the network.
    pub fn is_strict(self) -> bool {
        matches!(
            self,
            LinkKind::ServerCookie | LinkKind::ClientId | LinkKind::Login
        )
    }
}

/// Which links make persons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Only proven links (cookie, client id, login).
    Strict,
    /// Every active link, inferred ones too.
    #[default]
    Inclusive,
}

impl Mode {
    /// The name the API uses: `strict` or `inclusive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Strict => "strict",
            Mode::Inclusive => "inclusive",
        }
    }
}

/// One piece of evidence that visitor ids `a` and `b` are one person.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// The link's id, to show and to undo it.
    pub id: i64,
    /// One visitor id.
    pub a: String,
    /// The other visitor id.
    pub b: String,
    /// What evidence made it.
    pub kind: LinkKind,
    /// How sure the evidence is, 0 to 1.
    pub confidence: f32,
    /// When it was made, Unix ms.
    pub at_ms: i64,
    /// False once undone; an undone link joins nothing.
    pub active: bool,
}

/// The links that explain why `a` and `b` are one person: a shortest path of active links
/// (under `mode`, refused links left out, see [`persons`](super::persons)) from `a` to
/// `b`, or `None` when they are not one person.
pub fn explain<'l>(links: &'l [Link], mode: Mode, a: &str, b: &str) -> Option<Vec<&'l Link>> {
    let persons = Persons::from_links(links, mode);
    let mut edges: HashMap<&str, Vec<&Link>> = HashMap::new();
    for link in links
        .iter()
        .filter(|l| l.active && follows(mode, l.kind) && !persons.is_refused(l.id))
    {
        edges.entry(link.a.as_str()).or_default().push(link);
        edges.entry(link.b.as_str()).or_default().push(link);
    }
    // Breadth-first search, remembering the link that reached each id.
    let mut reached: HashMap<&str, Option<&Link>> = HashMap::from([(a, None)]);
    let mut frontier = std::collections::VecDeque::from([a]);
    while let Some(id) = frontier.pop_front() {
        if id == b {
            let mut path = Vec::new();
            let mut at = b;
            while let Some(Some(link)) = reached.get(at) {
                path.push(*link);
                at = if link.a == at { &link.b } else { &link.a };
            }
            path.reverse();
            return Some(path);
        }
        for link in edges.get(id).into_iter().flatten() {
            let next = if link.a == id {
                link.b.as_str()
            } else {
                link.a.as_str()
            };
            if !reached.contains_key(next) {
                reached.insert(next, Some(link));
                frontier.push_back(next);
            }
        }
    }
    None
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
            at_ms: id,
            active: true,
        }
    }

    #[test]
    fn links_join_visitors_into_persons_named_by_their_larger_side() {
        let links = [
            link(1, "phone", "laptop", LinkKind::Login),
            link(2, "laptop", "c", LinkKind::ClientId),
        ];
        let p = Persons::from_links(&links, Mode::Strict);
        // Two alone: the smaller id names them; then "c" joins the larger side.
        assert_eq!(p.person_of("phone"), "laptop");
        assert_eq!(p.person_of("c"), "laptop");
        assert_eq!(p.person_of("stranger"), "stranger");
        assert_eq!(p.count(["phone", "laptop", "c", "stranger"]), 2);
    }

    #[test]
    fn strict_mode_ignores_inferred_links() {
        let links = [
            link(1, "a", "b", LinkKind::Fingerprint),
            link(2, "b", "c", LinkKind::Recovery),
        ];
        assert_eq!(
            Persons::from_links(&links, Mode::Strict).count(["a", "b", "c"]),
            3
        );
        assert_eq!(
            Persons::from_links(&links, Mode::Inclusive).count(["a", "b", "c"]),
            1
        );
    }

    #[test]
    fn an_undone_link_splits_the_person_again() {
        let mut links = vec![
            link(1, "a", "b", LinkKind::Login),
            link(2, "b", "c", LinkKind::Login),
        ];
        assert_eq!(
            Persons::from_links(&links, Mode::Strict).count(["a", "b", "c"]),
            1
        );
        links[1].active = false;
        let p = Persons::from_links(&links, Mode::Strict);
        assert_eq!(p.count(["a", "b", "c"]), 2);
        assert_ne!(p.person_of("a"), p.person_of("c"));
    }

    #[test]
    fn explain_gives_the_shortest_chain_of_evidence() {
        let links = [
            link(1, "a", "b", LinkKind::ClientId),
            link(2, "b", "c", LinkKind::Login),
            link(3, "c", "d", LinkKind::ServerCookie),
            link(4, "a", "d", LinkKind::Fingerprint),
        ];
        let ids = |p: Option<Vec<&Link>>| p.map(|p| p.iter().map(|l| l.id).collect::<Vec<_>>());
        assert_eq!(
            ids(explain(&links, Mode::Inclusive, "a", "d")),
            Some(vec![4])
        );
        assert_eq!(
            ids(explain(&links, Mode::Strict, "a", "d")),
            Some(vec![1, 2, 3])
        );
        assert_eq!(ids(explain(&links, Mode::Strict, "a", "a")), Some(vec![]));
        assert_eq!(ids(explain(&links, Mode::Strict, "a", "zzz")), None);
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

    proptest! {
        /// Persons agree with explain: two ids share a person exactly when a chain of
        /// links joins them, and the answer does not depend on link order.
        #[test]
        fn components_match_paths_and_ignore_order(
            edges in proptest::collection::vec((0u8..12, 0u8..12, kind(), any::<bool>()), 0..30),
            strict in any::<bool>(),
        ) {
            let mode = if strict { Mode::Strict } else { Mode::Inclusive };
            let links: Vec<Link> = edges.iter().enumerate().map(|(i, (a, b, k, active))| Link {
                active: *active,
                ..link(i as i64, &format!("v{a}"), &format!("v{b}"), *k)
            }).collect();
            let persons = Persons::from_links(&links, mode);
            let mut reversed = links.clone();
            reversed.reverse();
            prop_assert_eq!(&persons, &Persons::from_links(&reversed, mode));
            for x in 0..12 {
                for y in 0..12 {
                    let (a, b) = (format!("v{x}"), format!("v{y}"));
                    let same = persons.person_of(&a) == persons.person_of(&b);
                    let path = explain(&links, mode, &a, &b);
                    prop_assert_eq!(same, path.is_some());
                    if let Some(path) = path {
                        prop_assert!(path.iter().all(|l| l.active && follows(mode, l.kind)));
                    }
                }
            }
        }
    }
}
