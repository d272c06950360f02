//! Export and erasure of one [`Subject`] on ClickHouse, as the SQLite store answers them
//! (`store/sqlite/erasure.rs`): which ids the subject covers (a visitor alone; a person's
//! inclusive component; a user's signed logins and the links the collector itself
//! established from them), and the rows of each table that are about them. An erasure
//! deletes them with mutations, waits until they are done, then works out again the
//! persons of the visitors that were linked to the subject.

use std::collections::BTreeSet;

use super::super::ClickHouseStore;
use super::super::client::{quote, quote_list};
use crate::identity::graph::{Mode, Persons};
use crate::identity::resolver::USER_PREFIX;
use crate::maintenance::erasure::{Erased, Subject, SubjectExport};
use crate::store::StoreError;

type Row = serde_json::Map<String, serde_json::Value>;

/// Ids per statement, to keep each under ClickHouse's `max_query_size`.
const CHUNK: usize = 1000;

/// An event's site and id (as text), to delete its `event_ids` row.
#[derive(serde::Deserialize)]
pub(super) struct EventKey {
    pub site: String,
    pub id: String,
}

#[derive(serde::Deserialize)]
struct Edge {
    other: String,
    kind: String,
}

impl ClickHouseStore {
    /// Deletes the `event_ids` rows of `keys`.
    pub(super) async fn delete_event_ids(&self, keys: &[EventKey]) -> Result<(), StoreError> {
        let mut by_site: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for k in keys {
            by_site.entry(&k.site).or_default().push(&k.id);
        }
        for (site, ids) in by_site {
            for chunk in ids.chunks(CHUNK) {
                // `event_ids` keeps an id as its two halves, high first.
                let pairs: Vec<String> = chunk
                    .iter()
                    .filter_map(|id| uuid::Uuid::parse_str(id).ok())
                    .map(|u| {
                        let (hi, lo) = u.as_u64_pair();
                        format!("({hi}, {lo})")
                    })
                    .collect();
                if pairs.is_empty() {
                    continue;
                }
                self.delete_where(
                    "event_ids",
                    &format!(
                        "site = {} AND (id_hi, id_lo) IN ({})",
                        quote(site),
                        pairs.join(",")
                    ),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// The graph nodes `subject` covers on `site`, and the evidence followed to them.
    async fn nodes(
        &self,
        site: &str,
        subject: &Subject,
    ) -> Result<(BTreeSet<String>, BTreeSet<String>), StoreError> {
        let start = match subject {
            Subject::Visitor(v) => return Ok((BTreeSet::from([v.clone()]), BTreeSet::new())),
            Subject::Person(v) => v.clone(),
            Subject::User(u) => return self.user_nodes(site, u).await,
        };
        let all = self.component_links(site, &start).await?;
        let persons = Persons::from_links(&all, Mode::Inclusive);
        let me = persons.person_of(&start).to_string();
        let mut members = BTreeSet::from([start]);
        let mut evidence = BTreeSet::new();
        for l in &all {
            if l.active && persons.person_of(&l.a) == me {
                evidence.insert(l.kind.as_str().to_string());
            }
            for node in [&l.a, &l.b] {
                if persons.person_of(node) == me {
                    members.insert(node.clone());
                }
            }
        }
        Ok((members, evidence))
    }

    /// The newest version of the links filed under `node` that `condition` accepts: their
    /// other ends and kinds.
    async fn edges(
        &self,
        site: &str,
        node: &str,
        condition: &str,
    ) -> Result<Vec<Edge>, StoreError> {
        self.client()
            .rows(
                format!(
                    "SELECT other, kind FROM (SELECT other, kind, active, verified FROM {} \
                     WHERE site = {} AND node = {} ORDER BY version DESC LIMIT 1 BY node, other, id) \
                     WHERE {condition}",
                    self.table("links"),
                    quote(site),
                    quote(node)
                ),
                &self.consistent_read(),
            )
            .await
    }

    /// A site user's nodes: the visitors whose login as it the site signed (even if undone
    /// since), and from them only the active links the collector itself established.
    async fn user_nodes(
        &self,
        site: &str,
        user: &str,
    ) -> Result<(BTreeSet<String>, BTreeSet<String>), StoreError> {
        let start = format!("{USER_PREFIX}{user}");
        let mut members = BTreeSet::from([start.clone()]);
        let mut evidence = BTreeSet::new();
        let mut queue = Vec::new();
        for e in self
            .edges(site, &start, "kind = 'login' AND verified = 1")
            .await?
        {
            evidence.insert("verified-login".to_string());
            if members.insert(e.other.clone()) {
                queue.push(e.other);
            }
        }
        while let Some(node) = queue.pop() {
            for e in self
                .edges(site, &node, "verified = 1 AND active = 1")
                .await?
            {
                if e.other.starts_with(USER_PREFIX) {
                    continue;
                }
                evidence.insert(if e.kind == "login" {
                    "verified-login".to_string()
                } else {
                    e.kind
                });
                if members.insert(e.other.clone()) {
                    queue.push(e.other);
                }
            }
        }
        Ok((members, evidence))
    }

    /// Rows of `sql_for(chunk)` over `ids` in chunks.
    async fn rows_by_chunk(
        &self,
        ids: &[String],
        sql_for: impl Fn(&str) -> String,
    ) -> Result<Vec<Row>, StoreError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let list = quote_list(chunk.iter().map(String::as_str));
            out.extend(
                self.client()
                    .rows::<Row>(sql_for(&list), &self.consistent_read())
                    .await?,
            );
        }
        Ok(out)
    }

    /// The events condition: counted for one of the visitors, or sent with one as the
    /// beacon's id (and, for a user, the `identify` events that named it).
    /// `list` is `None` for no visitor at all (a user whose logins were all claims).
    fn events_where(site: &str, list: Option<&str>, user: Option<&str>) -> String {
        let mut any = Vec::new();
        if let Some(list) = list {
            any.push(format!("visitor IN {list} OR client_id IN {list}"));
        }
        if let Some(u) = user {
            any.push(format!("user_id = {}", quote(u)));
        }
        if any.is_empty() {
            any.push("0".to_string());
        }
        format!("site = {} AND ({})", quote(site), any.join(" OR "))
    }

    async fn subject_events(
        &self,
        site: &str,
        visitors: &[String],
    ) -> Result<Vec<Row>, StoreError> {
        let events = self.table("events");
        let mut rows = self
            .rows_by_chunk(visitors, |list| {
                format!(
                    "SELECT *, received, url FROM {events} WHERE {} ORDER BY ts, toString(id) LIMIT 1 BY id",
                    Self::events_where(site, Some(list), None)
                )
            })
            .await?;
        sort_by(&mut rows, &["ts", "id"]);
        Ok(rows)
    }

    async fn subject_sessions(
        &self,
        site: &str,
        visitors: &[String],
    ) -> Result<Vec<Row>, StoreError> {
        let events = self.table("events");
        let mut rows = self
            .rows_by_chunk(visitors, |list| {
                format!(
                    "SELECT toString(session) AS id, any(visitor) AS visitor, min(ts) AS start_ts, \
                     max(ts) AS last_ts, toUInt64(countIf(kind = 'pageview')) AS pageviews, \
                     toUInt64(count()) AS events \
                     FROM (SELECT session, visitor, ts, kind FROM {events} \
                           WHERE site = {} AND visitor IN {list} LIMIT 1 BY id) \
                     WHERE session != toUUID('00000000-0000-0000-0000-000000000000') \
                     GROUP BY session",
                    quote(site)
                )
            })
            .await?;
        sort_by(&mut rows, &["start_ts", "id"]);
        Ok(rows)
    }

    async fn subject_links(
        &self,
        site: &str,
        nodes: &[String],
        within: bool,
    ) -> Result<Vec<Row>, StoreError> {
        let links = self.table("links");
        let rows = self
            .rows_by_chunk(nodes, |list| {
                format!(
                    "SELECT id, a, b, kind, confidence, at_ms, active, verified, fingerprint \
                     FROM {links} WHERE site = {} AND node IN {list} \
                     ORDER BY version DESC LIMIT 1 BY id",
                    quote(site)
                )
            })
            .await?;
        let mut seen = BTreeSet::new();
        let mut out: Vec<Row> = rows
            .into_iter()
            .filter(|r| {
                let end = |k: &str| {
                    r.get(k)
                        .and_then(|v| v.as_str())
                        .is_some_and(|s| nodes.iter().any(|n| n == s))
                };
                !within || (end("a") && end("b"))
            })
            .filter(|r| seen.insert(r.get("id").map(ToString::to_string)))
            .collect();
        sort_by(&mut out, &["id"]);
        Ok(out)
    }

    async fn subject_fingerprints(
        &self,
        site: &str,
        visitors: &[String],
    ) -> Result<Vec<Row>, StoreError> {
        let table = self.table("fingerprint_seen");
        let mut rows = self
            .rows_by_chunk(visitors, |list| {
                format!(
                    "SELECT site, day, fingerprint, visitor, max(last_ms) AS last_ms FROM {table} \
                     WHERE site = {} AND visitor IN {list} \
                     GROUP BY site, day, fingerprint, visitor",
                    quote(site)
                )
            })
            .await?;
        sort_by(&mut rows, &["day"]);
        Ok(rows)
    }

    /// Failed events whose raw JSON holds one of the ids as a string.
    fn failed_where(site: &str, list: &str) -> String {
        format!(
            "site = {} AND arrayExists(x -> position(raw, concat('\"', x, '\"')) > 0, [{}])",
            quote(site),
            list.trim_start_matches('(').trim_end_matches(')')
        )
    }

    async fn subject_failed(
        &self,
        site: &str,
        visitors: &[String],
    ) -> Result<Vec<Row>, StoreError> {
        let table = self.table("failed_events");
        let mut rows = self
            .rows_by_chunk(visitors, |list| {
                format!(
                    "SELECT * FROM {table} WHERE {}",
                    Self::failed_where(site, list)
                )
            })
            .await?;
        sort_by(&mut rows, &["received_ms"]);
        Ok(rows)
    }

    /// [`Maintenance::export`](crate::store::Maintenance::export).
    pub(super) async fn export_subject(
        &self,
        site: &str,
        subject: &Subject,
    ) -> Result<SubjectExport, StoreError> {
        let (members, evidence) = self.nodes(site, subject).await?;
        let all: Vec<String> = members.iter().cloned().collect();
        let (users, visitors): (Vec<String>, Vec<String>) = members
            .into_iter()
            .partition(|m| m.starts_with(USER_PREFIX));
        Ok(SubjectExport {
            site: site.to_string(),
            events: self.subject_events(site, &visitors).await?,
            sessions: self.subject_sessions(site, &visitors).await?,
            links: self
                .subject_links(site, &all, matches!(subject, Subject::User(_)))
                .await?,
            fingerprint_observations: self.subject_fingerprints(site, &visitors).await?,
            failed_events: self.subject_failed(site, &visitors).await?,
            users: users
                .into_iter()
                .map(|u| u[USER_PREFIX.len()..].to_string())
                .collect(),
            visitors,
            evidence: evidence.into_iter().collect(),
        })
    }

    /// [`Maintenance::erase`](crate::store::Maintenance::erase): counts what goes, deletes
    /// it with mutations, waits until they are done, then relinks the neighbours.
    pub(super) async fn erase_subject(
        &self,
        site: &str,
        subject: &Subject,
    ) -> Result<Erased, StoreError> {
        let (members, evidence) = self.nodes(site, subject).await?;
        let all: Vec<String> = members.iter().cloned().collect();
        let visitors: Vec<String> = all
            .iter()
            .filter(|m| !m.starts_with(USER_PREFIX))
            .cloned()
            .collect();
        let user = match subject {
            Subject::User(u) => Some(u.as_str()),
            _ => None,
        };
        let events = self.table("events");
        // The events, with the claims to be the user from visitors it does not cover.
        let mut event_keys: Vec<EventKey> = Vec::new();
        let mut lists: Vec<Option<String>> = visitors
            .chunks(CHUNK)
            .map(|c| Some(quote_list(c.iter().map(String::as_str))))
            .collect();
        if lists.is_empty() && user.is_some() {
            lists.push(None);
        }
        for list in &lists {
            event_keys.extend(
                self.client()
                    .rows::<EventKey>(
                        format!(
                            "SELECT DISTINCT site, toString(id) AS id FROM {events} WHERE {}",
                            Self::events_where(site, list.as_deref(), user)
                        ),
                        &self.consistent_read(),
                    )
                    .await?,
            );
        }
        event_keys.sort_by(|x, y| x.id.cmp(&y.id));
        event_keys.dedup_by(|x, y| x.id == y.id);
        let sessions = self.subject_sessions(site, &visitors).await?.len();
        let links = self.subject_links(site, &all, false).await?;
        let link_ids: Vec<String> = links
            .iter()
            .filter_map(|r| r.get("id").map(ToString::to_string))
            .collect();
        let mut neighbours: BTreeSet<String> = BTreeSet::new();
        for l in &links {
            for k in ["a", "b"] {
                if let Some(n) = l.get(k).and_then(|v| v.as_str())
                    && !members.contains(n)
                {
                    neighbours.insert(n.to_string());
                }
            }
        }
        let fingerprints = self.subject_fingerprints(site, &visitors).await?.len();
        let failed = self.subject_failed(site, &visitors).await?.len();
        let mut mappings = 0;
        for chunk in visitors.chunks(CHUNK) {
            mappings += self
                .count(format!(
                    "SELECT toUInt64(count()) AS n FROM (SELECT mode, visitor, from_ms, \
                     argMax(person, version) AS person FROM {} \
                     WHERE site = {} AND visitor IN {} GROUP BY mode, visitor, from_ms) \
                     WHERE from_ms != -9223372036854775808 OR person != visitor",
                    self.table("visitor_persons"),
                    quote(site),
                    quote_list(chunk.iter().map(String::as_str))
                ))
                .await?;
        }
        // The deletes, all started before any is waited for.
        let s = quote(site);
        self.delete_event_ids(&event_keys).await?;
        for list in &lists {
            self.delete_where("events", &Self::events_where(site, list.as_deref(), user))
                .await?;
        }
        for chunk in visitors.chunks(CHUNK) {
            let list = quote_list(chunk.iter().map(String::as_str));
            let by_visitor = format!("site = {s} AND visitor IN {list}");
            for table in [
                "latest_sessions",
                "fingerprint_seen",
                "cookie_ids",
                "visitor_persons",
                "visitor_hours",
            ] {
                self.delete_where(table, &by_visitor).await?;
            }
            self.delete_where("failed_events", &Self::failed_where(site, &list))
                .await?;
        }
        for chunk in all.chunks(CHUNK) {
            let list = quote_list(chunk.iter().map(String::as_str));
            self.delete_where(
                "links",
                &format!("site = {s} AND (node IN {list} OR other IN {list})"),
            )
            .await?;
            self.delete_where("person_nodes", &format!("site = {s} AND node IN {list}"))
                .await?;
            self.delete_where(
                "person_members",
                &format!("site = {s} AND (person IN {list} OR node IN {list})"),
            )
            .await?;
            self.delete_where(
                "person_sets",
                &format!("site = {s} AND (person IN {list} OR user IN {list})"),
            )
            .await?;
        }
        for chunk in link_ids.chunks(CHUNK) {
            self.delete_where("link_ids", &format!("id IN ({})", chunk.join(",")))
                .await?;
        }
        self.mutated().await?;
        let neighbours: Vec<&str> = neighbours.iter().map(String::as_str).collect();
        self.relink(site, &neighbours).await?;
        self.bump_maintenance_epoch().await?;
        Ok(Erased {
            events: event_keys.len(),
            sessions,
            links: links.len(),
            fingerprint_observations: fingerprints,
            failed_events: failed,
            person_mappings: usize::try_from(mappings).unwrap_or(usize::MAX),
            evidence: evidence.into_iter().collect(),
        })
    }
}

/// Sorts JSON rows by the given columns (numbers as numbers, else as text).
fn sort_by(rows: &mut [Row], keys: &[&str]) {
    rows.sort_by(|x, y| {
        for k in keys {
            let (a, b) = (x.get(*k), y.get(*k));
            let o = match (a.and_then(|v| v.as_f64()), b.and_then(|v| v.as_f64())) {
                (Some(a), Some(b)) => a.total_cmp(&b),
                _ => a.map(ToString::to_string).cmp(&b.map(ToString::to_string)),
            };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
}
