//! The reads behind persons, as the SQLite store answers them (`store/sqlite/identity.rs`):
//! one person with its links and timeline, why two ids are one person, the links refused
//! between two persons, every event's person (for the simulator), and undoing a link.
//! A person is worked out from the links of its component, read by walking the links
//! filed under each node reached (never the site's links, but in `event_persons`).

use super::super::ClickHouseStore;
use super::super::client::{quote, quote_list};
use super::links::{self, LinkCache, LinkRow};
use super::persons::PersonCache;
use crate::identity::graph::{self, Link, Mode, Persons};
use crate::store::person_page::PersonPage;
use crate::store::{LinkView, Person, StoreError, TimelineEntry};

/// Most events a person's timeline returns (the newest ones), as on SQLite.
const TIMELINE_CAP: usize = 1000;

#[derive(serde::Deserialize)]
struct TimelineRow {
    id: String,
    ts: i64,
    kind: String,
    path: String,
    visitor: String,
    evidence: String,
    received: i64,
}

impl ClickHouseStore {
    /// The links of `start`'s component, active or not, oldest first.
    pub(in crate::store::clickhouse) async fn component_links(
        &self,
        site: &str,
        start: &str,
    ) -> Result<Vec<Link>, StoreError> {
        let rows = LinkCache::default().component(self, site, start).await?;
        Ok(rows.iter().filter_map(LinkRow::link).collect())
    }

    /// Whether `visitor` has events on `site` (its `latest_sessions` row).
    pub(super) async fn has_events(&self, site: &str, visitor: &str) -> Result<bool, StoreError> {
        #[derive(serde::Deserialize)]
        struct N {
            n: u64,
        }
        let rows: Vec<N> = self
            .client()
            .rows(
                format!(
                    "SELECT count() AS n FROM {} WHERE site = {} AND visitor = {}",
                    self.table("latest_sessions"),
                    quote(site),
                    quote(visitor)
                ),
                &self.consistent_read(),
            )
            .await?;
        Ok(rows.first().is_some_and(|r| r.n > 0))
    }

    /// [`IdentityState::person`](crate::store::IdentityState::person).
    pub(super) async fn person_of(
        &self,
        site: &str,
        visitor: &str,
        mode: Mode,
    ) -> Result<Option<Person>, StoreError> {
        let all = self.component_links(site, visitor).await?;
        let page = PersonPage::new(&all, visitor, mode);
        let timeline = self
            .timeline(site, &page.timeline_visitors(), |v, received| {
                page.keeps(v, received)
            })
            .await?;
        if timeline.is_empty() && !page.has_links() && !self.has_events(site, visitor).await? {
            return Ok(None);
        }
        Ok(Some(page.with_timeline(site, timeline)))
    }

    /// The newest [`TIMELINE_CAP`] events of `visitors` that `keep` (visitor, received)
    /// accepts, oldest first.
    async fn timeline(
        &self,
        site: &str,
        visitors: &[String],
        keep: impl Fn(&str, i64) -> bool,
    ) -> Result<Vec<TimelineEntry>, StoreError> {
        let mut out = Vec::new();
        for chunk in visitors.chunks(500) {
            let rows: Vec<TimelineRow> = self
                .client()
                .rows(
                    format!(
                        "SELECT id, ts, kind, path, visitor, evidence, received FROM \
                         (SELECT toString(id) AS id, ts, kind, path, visitor, evidence, received \
                          FROM {} WHERE site = {} AND visitor IN {} LIMIT 1 BY id) \
                         ORDER BY ts DESC, id DESC LIMIT {TIMELINE_CAP}",
                        self.table("events"),
                        quote(site),
                        quote_list(chunk.iter().map(String::as_str))
                    ),
                    &[],
                )
                .await?;
            for r in rows {
                if keep(&r.visitor, r.received) {
                    out.push(TimelineEntry {
                        id: r.id,
                        ts: r.ts,
                        kind: r.kind,
                        path: r.path,
                        visitor: r.visitor,
                        evidence: r.evidence,
                    });
                }
            }
        }
        out.sort_by(|x, y| (y.ts, &y.id).cmp(&(x.ts, &x.id)));
        out.truncate(TIMELINE_CAP);
        out.reverse();
        Ok(out)
    }

    /// [`IdentityState::explain`](crate::store::IdentityState::explain).
    pub(super) async fn explain_pair(
        &self,
        site: &str,
        a: &str,
        b: &str,
        mode: Mode,
    ) -> Result<Option<Vec<LinkView>>, StoreError> {
        let links = self.component_links(site, a).await?;
        Ok(graph::explain(&links, mode, a, b)
            .map(|chain| chain.into_iter().map(LinkView::from).collect()))
    }

    /// [`IdentityState::refused`](crate::store::IdentityState::refused).
    pub(super) async fn refused_between(
        &self,
        site: &str,
        a: &str,
        b: &str,
        mode: Mode,
    ) -> Result<Vec<LinkView>, StoreError> {
        let all = self.component_links(site, a).await?;
        let persons = Persons::from_links(&all, mode);
        let sides = |n: &str| {
            let mut out = vec![persons.person_of(n).to_string()];
            out.extend(persons.stretches(n).iter().map(|s| s.person.clone()));
            out
        };
        let (pa, pb) = (sides(a), sides(b));
        Ok(all
            .iter()
            .filter(|l| persons.is_refused(l.id))
            .filter(|l| {
                let (x, y) = (persons.person_of(&l.a), persons.person_of(&l.b));
                let has = |side: &[String], p: &str| side.iter().any(|s| s == p);
                (has(&pa, x) && has(&pb, y)) || (has(&pa, y) && has(&pb, x))
            })
            .map(|l| LinkView {
                refused: true,
                ..l.into()
            })
            .collect())
    }

    /// [`IdentityState::event_persons`](crate::store::IdentityState::event_persons): a
    /// scan of the site's links and events (the simulator's scoring, not a request's).
    pub(super) async fn persons_of_events(
        &self,
        site: &str,
        mode: Mode,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rows: Vec<LinkRow> = self
            .client()
            .rows(
                format!(
                    "SELECT site, id, a, b, kind, confidence, at_ms, active, verified, fingerprint, version \
                     FROM {} WHERE site = {} ORDER BY version DESC LIMIT 1 BY id",
                    self.table("links"),
                    quote(site)
                ),
                &self.consistent_read(),
            )
            .await?;
        let all: Vec<Link> = rows.iter().filter_map(LinkRow::link).collect();
        let persons = Persons::from_links(&all, mode);
        #[derive(serde::Deserialize)]
        struct E {
            id: String,
            visitor: String,
            received: i64,
        }
        let events: Vec<E> = self
            .client()
            .rows(
                format!(
                    "SELECT toString(id) AS id, visitor, received FROM {} WHERE site = {} LIMIT 1 BY id",
                    self.table("events"),
                    quote(site)
                ),
                &[],
            )
            .await?;
        Ok(events
            .into_iter()
            .map(|e| {
                let p = persons.person_at(&e.visitor, e.received).to_string();
                (e.id, p)
            })
            .collect())
    }

    /// [`IdentityState::undo_link`](crate::store::IdentityState::undo_link): the link
    /// deactivated under both ends, then the persons of its component worked out again.
    pub(super) async fn deactivate(&self, id: i64) -> Result<bool, StoreError> {
        let Some(found) = links::find(self, id).await? else {
            return Ok(false);
        };
        let mut cache = LinkCache::default();
        let Some(row) = cache
            .pair(self, &found.site, &found.a, &found.b)
            .await?
            .into_iter()
            .find(|l| l.id == id)
        else {
            return Ok(false);
        };
        cache.put(LinkRow { active: 0, ..row }, false);
        let mut persons = PersonCache::default();
        persons
            .relink(self, &mut cache, &found.site, &[&found.a, &found.b])
            .await?;
        persons.flush(self).await?;
        cache.flush(self).await?;
        Ok(true)
    }
}
