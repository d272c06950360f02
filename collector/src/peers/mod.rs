//! Many collectors behind a round-robin load balancer, each visitor owned by one:
//! partitioned ownership by visitor, with store-backed recovery.
//!
//! Every collector is given the same peer list ([`list`], `--peers`, `--peer-self`). Each
//! job the `/collect` and `/ingest` handlers prepare has a routing key known before its
//! identity is resolved ([`key`]); the live peer of highest rendezvous weight for that key
//! ([`ring`]) owns it. A collector that does not own a job does everything up to the
//! writer itself (parsing, validation, privacy, enrichment: no address or `User-Agent`
//! leaves it), then forwards the prepared job ([`wire`]) to the owner ([`forward`]), signed
//! under a key read from the shared store ([`auth`], [`replay`]), and answers its client
//! with the owner's answer once the owner has committed ([`endpoint`] on the owner's side).
//! So one writer resolves each visitor, in order, against caches nobody else writes
//! behind.
//!
//! A peer that does not answer is marked down and its keys go to the next peer of each
//! key's order, this collector included ([`liveness`]); a probe brings it back. Each change
//! of the live set moves the writer's identity epoch ([`epoch`]), so its caches are dropped
//! and read again from the store, which every collector shares: that is the recovery.
//! Counters in [`metrics`].
//!
//! Without `--peers` nothing here runs: the handlers hand their jobs to the local writer
//! as before.

pub mod auth;
pub mod endpoint;
pub mod epoch;
pub mod forward;
pub mod key;
pub mod list;
pub mod liveness;
pub mod metrics;
pub mod replay;
pub mod ring;
pub mod wire;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};

use crate::event::Event;
use crate::http::error::AppError;
use crate::ingest::{BrowserBatch, Resolution};
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::store::InsertOutcome;
use auth::{PeerKey, Refused};
use forward::{ForwardClient, Reply};
use list::PeerList;
use liveness::Liveness;
use replay::ReplayGuard;
use wire::{Answer, Job};

/// Most forwards in flight to one peer at once. Each holds a connection, and a collector
/// serves at most `--max-connections-per-client` (default 32) from one address: beyond
/// this, forwards wait for a turn instead of being refused by the owner.
pub const FORWARDS_PER_PEER: usize = 16;

/// The peers of this collector and how to reach them.
pub struct Peers {
    list: PeerList,
    /// [`FORWARDS_PER_PEER`] turns per peer.
    turns: Vec<tokio::sync::Semaphore>,
    key: PeerKey,
    liveness: Arc<Liveness>,
    client: ForwardClient,
    seen: ReplayGuard,
    metrics: Arc<Metrics>,
}

/// What asking one peer to commit a job came to.
enum Asked {
    /// Committed there.
    Committed(Answer),
    /// Not committed there; the next peer may be asked.
    Failed,
}

impl Peers {
    /// The peers of `list`, forwards signed under `key`, waiting at most `deadline` (the
    /// owner's store deadline) and a second more for an owner's answer.
    pub fn new(list: PeerList, key: PeerKey, metrics: Arc<Metrics>, deadline: Duration) -> Peers {
        let liveness = Arc::new(Liveness::new(list.urls.len(), list.me));
        metrics
            .peers
            .changed("up", list.urls.len(), list.urls.len());
        Peers {
            turns: (0..list.urls.len())
                .map(|_| tokio::sync::Semaphore::new(FORWARDS_PER_PEER))
                .collect(),
            liveness,
            key,
            client: ForwardClient::new(deadline + Duration::from_secs(1)),
            seen: ReplayGuard::default(),
            list,
            metrics,
        }
    }

    /// The live set, for the writer's epoch.
    pub fn liveness(&self) -> Arc<Liveness> {
        Arc::clone(&self.liveness)
    }

    /// Probes the down peers every [`liveness::PROBE_EVERY`] until `peers` is dropped.
    pub fn start_probing(peers: &Arc<Peers>) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Peers> = Arc::downgrade(peers);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(liveness::PROBE_EVERY).await;
                let Some(peers) = weak.upgrade() else {
                    return;
                };
                for i in peers.liveness.down() {
                    let Some(url) = peers.list.urls.get(i) else {
                        continue;
                    };
                    if peers.client.probe(url).await {
                        peers.liveness.set(i, true, &peers.metrics.peers);
                    }
                }
            }
        })
    }

    /// Checks a forward received at `path` (see [`auth`]) and notes its sender's view of
    /// the peers ([`Liveness::observe`]).
    pub fn verify(
        &self,
        headers: &HeaderMap,
        path: &str,
        body: &[u8],
        now_ms: i64,
    ) -> Result<(), Refused> {
        let (from, changes) = self.key.verify(
            headers,
            path,
            body,
            self.list.authority(self.list.me),
            now_ms,
            &self.seen,
        )?;
        self.liveness.observe(from, changes);
        Ok(())
    }

    /// The owner of `key` among the live peers not in `skip`.
    fn owner(&self, key: &str, skip: &HashSet<usize>) -> usize {
        ring::owner(&self.list.urls, key, |i| {
            i == self.list.me || (self.liveness.is_up(i) && !skip.contains(&i))
        })
        .unwrap_or(self.list.me)
    }

    /// Asks peer `i` to commit `body`, a job of `n` events.
    async fn ask(&self, i: usize, body: Bytes, n: usize) -> Result<Asked, AppError> {
        let (Some(url), authority) = (self.list.urls.get(i), self.list.authority(i)) else {
            return Ok(Asked::Failed);
        };
        let counters = &self.metrics.peers;
        // The semaphore is never closed; without a turn the forward goes ahead anyway.
        let _turn = match self.turns.get(i) {
            Some(turns) => turns.acquire().await.ok(),
            None => None,
        };
        let reply = match self
            .client
            .forward(
                url,
                authority,
                &self.key,
                self.liveness.view(),
                body,
                crate::clock::now_ms(),
            )
            .await
        {
            Ok(reply) => reply,
            Err(forward::Failure::Unreachable(why)) => {
                tracing::warn!(peer = %url, error = %why, "peer unreachable; marked down");
                counters.failure("unreachable");
                self.liveness.set(i, false, counters);
                return Ok(Asked::Failed);
            }
        };
        let Reply {
            status,
            headers,
            body,
        } = reply;
        if status == StatusCode::OK {
            return match serde_json::from_slice::<Answer>(&body) {
                Ok(answer) => {
                    counters.forwarded(n);
                    Ok(Asked::Committed(answer))
                }
                Err(e) => {
                    tracing::error!(peer = %url, error = %e, "unreadable answer from a peer");
                    counters.failure("answer");
                    Ok(Asked::Failed)
                }
            };
        }
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
            // The owner is there but cannot commit now (its queue is full or the store,
            // which every peer shares, fails): the client retries, as with a local 503.
            counters.failure("unavailable");
            let retry_after_secs = headers
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            return Err(AppError::Overloaded { retry_after_secs });
        }
        // Refused (keys that differ: peers on different stores) or a bug: never silent,
        // and the job goes to the next peer.
        tracing::error!(
            peer = %url,
            status = status.as_u16(),
            answer = %String::from_utf8_lossy(&body),
            "a peer refused a forward"
        );
        counters.failure(if status.is_client_error() {
            "refused"
        } else {
            "answer"
        });
        Ok(Asked::Failed)
    }
}

/// Commits a browser batch at its owner: here, or forwarded. Without peers, here.
pub async fn submit_browser(
    state: &AppState,
    batch: BrowserBatch,
) -> Result<(InsertOutcome, Resolution), AppError> {
    let Some(peers) = &state.peers else {
        return Ok(state.ingest.submit_browser(batch).await?);
    };
    let key = key::of_browser(&batch);
    let mut skip = HashSet::new();
    let mut body = None;
    loop {
        let owner = peers.owner(&key, &skip);
        if owner == peers.list.me {
            return Ok(state.ingest.submit_browser(batch).await?);
        }
        let body = body
            .get_or_insert_with(|| {
                Bytes::from(serde_json::to_vec(&Job::browser(&batch)).unwrap_or_default())
            })
            .clone();
        match peers.ask(owner, body, batch.events.len()).await? {
            Asked::Committed(answer) => return Ok(answer.into_parts()),
            Asked::Failed => {
                skip.insert(owner);
            }
        }
    }
}

/// Commits resolved events, each at its visitor's owner: one job per owner, all at once.
/// Without peers, here. The outcomes are summed; a failure of any part fails the request
/// (its retry is deduplicated where a part was stored).
pub async fn submit(state: &AppState, events: Vec<Event>) -> Result<InsertOutcome, AppError> {
    let Some(peers) = &state.peers else {
        return Ok(state.ingest.submit(events).await?);
    };
    let mut total = InsertOutcome::default();
    let mut skip = HashSet::new();
    let mut pending = events;
    while !pending.is_empty() {
        let mut groups: BTreeMap<usize, Vec<Event>> = BTreeMap::new();
        for event in pending.drain(..) {
            let owner = peers.owner(&key::of_event(&event), &skip);
            groups.entry(owner).or_default().push(event);
        }
        // Each part runs to its commit even if the request is dropped meanwhile, as a
        // job queued for the writer does.
        let mut parts = tokio::task::JoinSet::new();
        for (owner, events) in groups {
            let state = state.clone();
            parts.spawn(async move { (owner, commit_part(&state, owner, events).await) });
        }
        let mut failed = None;
        while let Some(joined) = parts.join_next().await {
            match joined {
                Ok((_, Ok(Ok(outcome)))) => {
                    total.stored += outcome.stored;
                    total.duplicates += outcome.duplicates;
                }
                Ok((owner, Ok(Err(events)))) => {
                    skip.insert(owner);
                    pending.extend(events);
                }
                Ok((_, Err(e))) => failed = Some(e),
                Err(e) => failed = Some(AppError::Internal(format!("a forward panicked: {e}"))),
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
    }
    Ok(total)
}

/// Commits `events` at `owner`: here, or forwarded; gives them back when the owner could
/// not be asked (the next owner will be).
async fn commit_part(
    state: &AppState,
    owner: usize,
    events: Vec<Event>,
) -> Result<Result<InsertOutcome, Vec<Event>>, AppError> {
    let peers = match &state.peers {
        Some(peers) if owner != peers.list.me => peers,
        _ => return Ok(Ok(state.ingest.submit(events).await?)),
    };
    let body = Bytes::from(serde_json::to_vec(&Job::resolved(&events)).unwrap_or_default());
    Ok(match peers.ask(owner, body, events.len()).await? {
        Asked::Committed(answer) => Ok(answer.into_parts().0),
        Asked::Failed => Err(events),
    })
}
