//! Flows: the most common page sequences at the start of sessions, and the same as the
//! nodes and links of a Sankey diagram (node name: step number, a space, the path; so a
//! page seen twice is two nodes and the diagram has no cycle).

use std::collections::HashMap;

use serde::Serialize;

/// Fewest steps a flow shows.
pub const MIN_STEPS: usize = 2;
/// Most steps a flow shows (sessions remember their first 5 page views).
pub const MAX_STEPS: usize = 5;

/// A Sankey node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// `"2 /pricing"`.
    pub name: String,
}

/// A Sankey link.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Link {
    /// Source node name.
    pub source: String,
    /// Target node name.
    pub target: String,
    /// Sessions.
    pub value: u64,
}

/// One sequence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sequence {
    /// Pages in order.
    pub pages: Vec<String>,
    /// Sessions that began with them.
    pub sessions: u64,
}

/// `GET /api/paths/flows`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flows {
    /// Nodes.
    pub nodes: Vec<Node>,
    /// Links.
    pub links: Vec<Link>,
    /// The most common sequences.
    pub sequences: Vec<Sequence>,
}

/// A stored flow (paths joined by `'\n'`) cut to its first `steps` pages.
pub fn first_pages(flow: &str, steps: usize) -> &str {
    match flow.match_indices('\n').nth(steps.saturating_sub(1)) {
        Some((end, _)) => &flow[..end],
        None => flow,
    }
}

/// Cuts each session's first pages to `steps`, adds up equal sequences, keeps the `limit`
/// most common (ties by pages) and draws them.
pub fn build(flows: &[(Vec<String>, u64)], steps: usize, limit: usize) -> Flows {
    let mut counts: HashMap<&[String], u64> = HashMap::new();
    for (pages, n) in flows {
        if pages.is_empty() {
            continue;
        }
        *counts.entry(&pages[..pages.len().min(steps)]).or_default() += n;
    }
    let mut sequences: Vec<Sequence> = counts
        .into_iter()
        .map(|(pages, sessions)| Sequence {
            pages: pages.to_vec(),
            sessions,
        })
        .collect();
    sequences.sort_by(|a, b| b.sessions.cmp(&a.sessions).then(a.pages.cmp(&b.pages)));
    sequences.truncate(limit);
    let mut nodes: Vec<String> = Vec::new();
    let mut links: HashMap<(String, String), u64> = HashMap::new();
    let name = |i: usize, p: &str| format!("{} {p}", i + 1);
    for s in &sequences {
        for (i, p) in s.pages.iter().enumerate() {
            let n = name(i, p);
            if !nodes.contains(&n) {
                nodes.push(n);
            }
            if i > 0 {
                *links
                    .entry((name(i - 1, &s.pages[i - 1]), name(i, p)))
                    .or_default() += s.sessions;
            }
        }
    }
    let mut links: Vec<Link> = links
        .into_iter()
        .map(|((source, target), value)| Link {
            source,
            target,
            value,
        })
        .collect();
    links.sort_by(|a, b| {
        b.value
            .cmp(&a.value)
            .then_with(|| (&a.source, &a.target).cmp(&(&b.source, &b.target)))
    });
    Flows {
        nodes: nodes.into_iter().map(|name| Node { name }).collect(),
        links,
        sequences,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_flow_is_cut_to_its_first_pages() {
        assert_eq!(first_pages("/\n/a\n/b", 2), "/\n/a");
        assert_eq!(first_pages("/\n/a\n/b", 3), "/\n/a\n/b");
        assert_eq!(first_pages("/\n/a\n/b", 5), "/\n/a\n/b");
        assert_eq!(first_pages("/", 1), "/");
    }

    fn pages(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn sequences_are_cut_merged_and_drawn() {
        let flows = [
            (pages(&["/", "/pricing", "/signup"]), 3),
            (pages(&["/", "/pricing", "/docs"]), 2),
            (pages(&["/", "/"]), 1),
            (pages(&["/blog"]), 4),
        ];
        let f = build(&flows, 2, 10);
        assert_eq!(
            f.sequences,
            [
                Sequence {
                    pages: pages(&["/", "/pricing"]),
                    sessions: 5
                },
                Sequence {
                    pages: pages(&["/blog"]),
                    sessions: 4
                },
                Sequence {
                    pages: pages(&["/", "/"]),
                    sessions: 1
                },
            ]
        );
        assert_eq!(
            f.links,
            [
                Link {
                    source: "1 /".into(),
                    target: "2 /pricing".into(),
                    value: 5
                },
                Link {
                    source: "1 /".into(),
                    target: "2 /".into(),
                    value: 1
                },
            ]
        );
        let names: Vec<&str> = f.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["1 /", "2 /pricing", "1 /blog", "2 /"]);
        assert_eq!(build(&flows, 3, 1).sequences[0].sessions, 4);
    }
}
