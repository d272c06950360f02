//! Who sent each event of a browser batch, decided by the writer, one request after the
//! other, against the identity memory as the batch being built leaves it
//! (`ingest::identity_memory`).
//!
//! `/collect` hands over what the request says (its cookie, whether the cookie is vouched,
//! the network fingerprints) as a [`BrowserBatch`]; `resolve_batch` applies the rule of
//! [`resolver`](crate::identity::resolver) to each event and answers with the cookie the
//! response should set. Because requests are resolved in sequence, what one request links
//! is seen by the next, even in the same commit: the per-cookie cap on client ids
//! ([`Options::max_ids_per_cookie`]) holds exactly under parallel requests.
//!
//! Within a request the memory is read once, before its first event (so every event of a
//! request sees the same "is this id known"), and the cookie moves on as the response will
//! move it: the events after a `reset` (or after a provisional cookie yielded) are read
//! against the new visitor.

use std::collections::{HashMap, HashSet};

use super::identity_memory::View;
use crate::event::{ClientEvent, Event, EventKind, IdentityEffects};
use crate::identity::graph::LinkKind;
use crate::identity::resolver::{Memory, NewLink, Options, Signals, resolve};
use crate::identity::salt::DAY_MS;
use crate::store::StoreError;

/// A browser's batch, checked and enriched by `/collect`, with what its request says about
/// who sent it.
#[derive(Debug, Clone)]
pub struct BrowserBatch {
    /// The site.
    pub site: String,
    /// The events, in the order sent.
    pub events: Vec<ClientEvent>,
    /// When the collector received the request, Unix ms.
    pub received: i64,
    /// The visitor the request's signed server cookie names.
    pub cookie: Option<String>,
    /// Whether that cookie proves the browser owns its visitor (see
    /// [`server_cookie::vouched`](crate::identity::server_cookie::vouched)).
    pub vouched: bool,
    /// Today's network fingerprint visitor of the request (`fp_…`).
    pub fingerprint: String,
    /// Yesterday's, under yesterday's salt.
    pub yesterday: String,
    /// The rule's tuning.
    pub options: Options,
}

/// The cookie a browser's response should set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieAnswer {
    /// The visitor it names.
    pub visitor: String,
    /// The browser proved it owns that visitor (its vouched cookie, or a client id no one
    /// had used): a full cookie; else a claimed one.
    pub vouched: bool,
}

/// What resolving a browser batch decided besides its events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    /// The cookie to set (`None`: leave the jar as it is).
    pub cookie: Option<CookieAnswer>,
    /// Client-id links not made because the cookie had reached its daily cap.
    pub capped: usize,
}

/// Resolves every event of `batch`; see the module docs. Also returns the client ids the
/// store did not know before the batch.
pub(crate) fn resolve_batch(
    batch: BrowserBatch,
    view: &mut View<'_>,
) -> Result<(Vec<Event>, Resolution, HashSet<String>), StoreError> {
    let BrowserBatch {
        site,
        events: clients,
        received: now,
        cookie: cookie_visitor,
        vouched,
        fingerprint,
        yesterday,
        options,
    } = batch;
    let day = now.div_euclid(DAY_MS);
    let owned = cookie_visitor.clone().filter(|_| vouched);
    let mut memories: HashMap<Option<String>, Memory> = HashMap::new();
    for c in &clients {
        if !memories.contains_key(&c.client_id) {
            let m = view.memory(&site, c.client_id.as_deref(), &fingerprint, day)?;
            memories.insert(c.client_id.clone(), m);
        }
    }
    // Yesterday only matters while one visitor is behind today's fingerprint (the same
    // for every id of the batch): only then can a recovery or fingerprint link be made.
    if memories.values().any(|m| m.behind_fingerprint.len() == 1) {
        let shared = view.shared(&site, &yesterday, day - 1)?;
        for memory in memories.values_mut() {
            memory.shared_yesterday = shared;
        }
    }
    // Client ids the store did not know before this batch: whoever sends them first owns
    // them.
    let fresh_ids: HashSet<String> = memories
        .iter()
        .filter(|(_, m)| !m.client_id_known)
        .filter_map(|(id, _)| id.clone())
        .collect();

    let mut cookie = cookie_visitor;
    let mut events = Vec::with_capacity(clients.len());
    let mut capped = 0;
    for client in clients {
        let user = match &client.kind {
            EventKind::Identify { user } => Some(user.as_str()),
            _ => None,
        };
        let signals = Signals {
            server_cookie: cookie.as_deref(),
            client_id: client.client_id.as_deref(),
            user,
            reset: client.reset,
            fingerprint: &fingerprint,
            now_ms: now,
        };
        let mut memory = memories.get(&client.client_id).cloned().unwrap_or_default();
        memory.cookie_ids_today = match &cookie {
            Some(c) => view.cookie_ids(&site, c, day)?,
            None => 0,
        };
        let mut outcome = resolve(&signals, &memory, options);
        mark_verified(
            &mut outcome.links,
            owned.as_deref(),
            &client,
            &memory,
            &outcome.visitor,
        );
        for l in &outcome.links {
            // Each pair once: the store records the link once and counts it once.
            if l.kind == LinkKind::ClientId && view.first_link(&site, &l.a, &l.b) {
                view.count_link(&site, &l.b, day)?;
            }
        }
        capped += usize::from(outcome.link_capped);
        cookie = Some(outcome.cookie.clone());
        events.push(Event {
            site: site.clone(),
            visitor: outcome.visitor,
            evidence: outcome.evidence,
            received: now,
            identity: IdentityEffects {
                fingerprint: fingerprint.clone(),
                links: outcome.links,
                observe_fingerprint: outcome.observe_fingerprint,
                withdraw_fingerprint_links: outcome.withdraw_fingerprint_links,
            },
            client,
        });
    }
    let cookie = cookie.map(|visitor| CookieAnswer {
        vouched: owned.as_ref() == Some(&visitor) || fresh_ids.contains(&visitor),
        visitor,
    });
    Ok((events, Resolution { cookie, capped }, fresh_ids))
}

/// Marks the links the collector itself can vouch for ([`NewLink::verified`]), given the
/// visitor the request's own cookie proves the browser owns (`request_cookie`: a vouched
/// cookie, see [`server_cookie`](crate::identity::server_cookie); not the one moved within
/// the batch):
/// - a login, when the site signed the user id and the visitor is that cookie's or a
///   client id no one had used (so not a known visitor id someone else put in the event);
/// - a link between that cookie's visitor and a client id no one had used.
///
/// A client id the store already knows may be anyone's: whoever sends it is not proven to
/// be its owner, so nothing that joins it is verified.
fn mark_verified(
    links: &mut [NewLink],
    request_cookie: Option<&str>,
    client: &ClientEvent,
    memory: &Memory,
    visitor: &str,
) {
    let fresh_id = client
        .client_id
        .as_deref()
        .filter(|_| !memory.client_id_known);
    let anchored = request_cookie == Some(visitor) || fresh_id == Some(visitor);
    for link in links {
        link.verified = match link.kind {
            LinkKind::Login => client.signature.is_some() && anchored,
            LinkKind::ClientId | LinkKind::ServerCookie => match (request_cookie, fresh_id) {
                (Some(cookie), Some(id)) => {
                    (link.a == cookie && link.b == id) || (link.a == id && link.b == cookie)
                }
                _ => false,
            },
            LinkKind::Fingerprint | LinkKind::Recovery => false,
        };
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::config::IngestConfig;
    use crate::ingest::{Ingest, IngestError};
    use crate::store::sqlite::{SqliteOptions, SqliteStore};

    const CAP: u32 = 10;

    fn config() -> IngestConfig {
        IngestConfig {
            queue_capacity: 256,
            batch_max_events: 500,
            // Long enough that every request below shares one commit.
            batch_max_wait: Duration::from_millis(200),
            store_deadline: Duration::from_secs(5),
            hot_visitors: 1000,
        }
    }

    /// A batch of one page view (event `n`) with `client_id`, from a browser whose request
    /// carries `cookie`.
    fn browser(n: u128, client_id: &str, cookie: Option<&str>) -> BrowserBatch {
        let mut e = crate::store::sqlite::tests::event(n, "unused", "s").client;
        e.client_id = Some(client_id.into());
        BrowserBatch {
            site: "demo".into(),
            received: crate::store::sqlite::tests::event(0, "", "").received,
            events: vec![e],
            cookie: cookie.map(str::to_string),
            vouched: cookie.is_some(),
            fingerprint: "fp_00".into(),
            yesterday: "fp_01".into(),
            options: Options {
                recovery: true,
                max_ids_per_cookie: CAP,
            },
        }
    }

    fn day() -> i64 {
        crate::store::sqlite::tests::event(0, "", "")
            .received
            .div_euclid(DAY_MS)
    }

    #[tokio::test]
    async fn parallel_requests_of_one_cookie_link_no_more_ids_than_the_cap()
    -> Result<(), IngestError> {
        let store = Arc::new(SqliteStore::open_in_memory()?);
        let (ingest, writer) = Ingest::start(store.clone(), config());
        // 30 requests at once, each a fresh client id under the same cookie: read apart,
        // each would see the cookie under its cap and link its id.
        let requests = (0..30u128).map(|i| {
            let ingest = ingest.clone();
            tokio::spawn(async move {
                ingest
                    .submit_browser(browser(i + 1, &format!("id-{i:02}"), Some("home")))
                    .await
            })
        });
        let mut capped = 0;
        for r in requests {
            let (outcome, resolution) = r.await.map_err(|e| StoreError::Task(e.to_string()))??;
            assert_eq!(outcome.stored, 1, "every event is stored, capped or not");
            capped += resolution.capped;
        }
        assert_eq!(store.cookie_ids("demo", "home", day())?, CAP);
        assert_eq!(capped, 30 - CAP as usize);
        drop(ingest);
        writer.await.map_err(|e| StoreError::Task(e.to_string()))?;
        Ok(())
    }

    #[tokio::test]
    async fn a_failed_commit_leaves_the_memory_as_the_store_has_it() -> Result<(), IngestError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Task(e.to_string()))?;
        let path = dir.path().join("spoor.db");
        let options = SqliteOptions {
            busy_timeout: Duration::from_millis(100),
            ..Default::default()
        };
        let store = Arc::new(SqliteStore::open_with(&path, options)?);
        let quick = IngestConfig {
            batch_max_wait: Duration::from_millis(1),
            ..config()
        };
        let (ingest, writer) = Ingest::start(store.clone(), quick);
        let lock = rusqlite::Connection::open(&path).map_err(StoreError::from)?;
        lock.execute_batch("BEGIN IMMEDIATE")
            .map_err(StoreError::from)?;
        let refused = ingest.submit_browser(browser(1, "x", Some("home"))).await;
        assert!(matches!(refused, Err(IngestError::Store(_))), "{refused:?}");
        lock.execute_batch("ROLLBACK").map_err(StoreError::from)?;
        // The refused batch made `x` known and counted it for `home` only in its overlay:
        // the retry finds `x` new (so the cookie is vouched for it) and counts it once.
        let (outcome, resolution) = ingest.submit_browser(browser(1, "x", None)).await?;
        assert_eq!(outcome.stored, 1);
        assert_eq!(
            resolution.cookie,
            Some(CookieAnswer {
                visitor: "x".into(),
                vouched: true
            }),
            "x is still a fresh id"
        );
        ingest.submit_browser(browser(2, "y", Some("home"))).await?;
        assert_eq!(store.cookie_ids("demo", "home", day())?, 1);
        drop(ingest);
        writer.await.map_err(|e| StoreError::Task(e.to_string()))?;
        Ok(())
    }

    #[tokio::test]
    async fn a_visitor_deleted_by_another_process_is_forgotten_by_the_caches_too()
    -> Result<(), IngestError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Task(e.to_string()))?;
        let path = dir.path().join("spoor.db");
        let store = Arc::new(SqliteStore::open(&path)?);
        let quick = IngestConfig {
            batch_max_wait: Duration::from_millis(1),
            ..config()
        };
        let (ingest, writer) = Ingest::start(store.clone(), quick);
        ingest.submit_browser(browser(1, "x", None)).await?;
        let (_, again) = ingest.submit_browser(browser(2, "x", None)).await?;
        assert_eq!(again.cookie.map(|c| c.vouched), Some(false), "x is known");
        // As `spoor-collector erase` run beside the server would: another connection.
        let other = rusqlite::Connection::open(&path).map_err(StoreError::from)?;
        other
            .execute("DELETE FROM events WHERE visitor = 'x'", [])
            .map_err(StoreError::from)?;
        let (_, after) = ingest.submit_browser(browser(3, "x", None)).await?;
        assert_eq!(
            after.cookie.map(|c| c.vouched),
            Some(true),
            "x is new again"
        );
        drop(ingest);
        writer.await.map_err(|e| StoreError::Task(e.to_string()))?;
        Ok(())
    }

    #[tokio::test]
    async fn an_erased_visitor_is_forgotten_by_the_caches_too() -> Result<(), IngestError> {
        let store = Arc::new(SqliteStore::open_in_memory()?);
        let quick = IngestConfig {
            batch_max_wait: Duration::from_millis(1),
            ..config()
        };
        let (ingest, writer) = Ingest::start(store.clone(), quick);
        ingest.submit_browser(browser(1, "x", None)).await?;
        let (_, again) = ingest.submit_browser(browser(2, "x", None)).await?;
        assert_eq!(again.cookie.map(|c| c.vouched), Some(false), "x is known");
        store.erase(
            "demo",
            &crate::maintenance::erasure::Subject::Visitor("x".into()),
        )?;
        let (_, after) = ingest.submit_browser(browser(3, "x", None)).await?;
        assert_eq!(
            after.cookie.map(|c| c.vouched),
            Some(true),
            "once erased, x is a fresh id again"
        );
        drop(ingest);
        writer.await.map_err(|e| StoreError::Task(e.to_string()))?;
        Ok(())
    }
}
