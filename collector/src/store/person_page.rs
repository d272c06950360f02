//! How a person's page ([`Person`]) is put together from the links of its component, the
//! same for every engine: who its visitors and users are, which links touch them (and
//! which of those are refused), the stretches of browsers it shares, and whose events its
//! timeline keeps. An engine reads the component's links and the timeline's events; the
//! rest is here.

use std::collections::BTreeSet;

use crate::identity::graph::{Link, Mode, Persons};
use crate::identity::resolver::USER_PREFIX;
use crate::store::{LinkView, Person, StretchView, TimelineEntry};

/// A person's page before its timeline is read.
pub struct PersonPage {
    /// The persons of the component.
    pub persons: Persons,
    /// The person asked about.
    pub me: String,
    /// Its visitor ids, sorted.
    visitors: Vec<String>,
    /// Its users (without the `user:` prefix), sorted.
    users: Vec<String>,
    /// The links touching its members.
    links: Vec<LinkView>,
    /// The stretches of browsers shared with another person.
    shared: Vec<StretchView>,
}

impl PersonPage {
    /// The page of `visitor`'s person under `mode`, from `all`, every link of its
    /// component.
    pub fn new(all: &[Link], visitor: &str, mode: Mode) -> PersonPage {
        let persons = Persons::from_links(all, mode);
        let me = persons.person_of(visitor).to_string();
        let mut members = BTreeSet::from([visitor.to_string()]);
        let mut nodes = BTreeSet::new();
        for l in all {
            nodes.insert(&l.a);
            nodes.insert(&l.b);
            for node in [&l.a, &l.b] {
                if persons.person_of(node) == me {
                    members.insert(node.clone());
                }
            }
        }
        // Shared visitors with a stretch in this person, whichever person their links chose.
        let mut shared = Vec::new();
        for node in nodes {
            let stretches = persons.stretches(node);
            if stretches.iter().any(|s| s.person == me) {
                for (i, s) in stretches.iter().enumerate() {
                    shared.push(StretchView {
                        visitor: node.clone(),
                        from_ms: (i > 0).then_some(s.from_ms),
                        person: s.person.clone(),
                        this_person: s.person == me,
                    });
                }
            }
        }
        let (users, visitors): (Vec<String>, Vec<String>) = members
            .iter()
            .cloned()
            .partition(|m| m.starts_with(USER_PREFIX));
        let links = all
            .iter()
            .filter(|l| members.contains(&l.a) || members.contains(&l.b))
            .map(|l| LinkView {
                refused: persons.is_refused(l.id),
                ..l.into()
            })
            .collect();
        PersonPage {
            persons,
            me,
            visitors,
            users: users
                .into_iter()
                .map(|u| u[USER_PREFIX.len()..].to_string())
                .collect(),
            links,
            shared,
        }
    }

    /// The visitors whose events the timeline reads: the person's own and the browsers it
    /// shares, sorted.
    pub fn timeline_visitors(&self) -> Vec<String> {
        let mut read: Vec<String> = self.visitors.clone();
        read.extend(self.shared.iter().map(|s| s.visitor.clone()));
        read.sort();
        read.dedup();
        read
    }

    /// Whether an event of `visitor` received at `received_ms` is this person's.
    pub fn keeps(&self, visitor: &str, received_ms: i64) -> bool {
        self.persons.person_at(visitor, received_ms) == self.me
    }

    /// Whether the page has nothing to show but its visitor id (no link touches it).
    pub fn has_links(&self) -> bool {
        !self.links.is_empty()
    }

    /// The page, with its timeline.
    pub fn with_timeline(self, site: &str, timeline: Vec<TimelineEntry>) -> Person {
        Person {
            site: site.to_string(),
            person: self.me,
            visitors: self.visitors,
            users: self.users,
            links: self.links,
            shared: self.shared,
            timeline,
        }
    }
}
