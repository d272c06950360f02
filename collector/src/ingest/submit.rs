//! The last step of `/collect`: hand the batch to the ingest writer and wait for its
//! commit. A tracked browser's batch goes with what the request says about its sender (the
//! signed cookie and whether it is vouched, the network fingerprints of today and
//! yesterday), and the writer resolves each event's visitor ([`resolve`](super::resolve));
//! an untracked one ([`privacy`](super::privacy)) goes as events already counted for the
//! day's cookieless visitor.

use std::net::IpAddr;

use super::privacy;
use super::{BrowserBatch, CookieAnswer};
use crate::event::ClientEvent;
use crate::http::error::AppError;
use crate::identity::fingerprint;
use crate::identity::resolver::Options;
use crate::state::AppState;
use crate::store::InsertOutcome;

/// Who sent a browser's batch, as far as the request says.
pub struct Sender<'a> {
    /// The client address (never stored).
    pub ip: IpAddr,
    /// The `User-Agent` (never stored).
    pub user_agent: &'a str,
    /// The visitor the request's signed server cookie names.
    pub cookie: Option<String>,
    /// Whether that cookie proves the browser owns the visitor.
    pub vouched: bool,
}

/// Stores a tracked browser's batch; answers with the cookie the response should set.
pub async fn browser(
    state: &AppState,
    site: &str,
    sender: Sender<'_>,
    events: Vec<ClientEvent>,
    now: i64,
) -> Result<(InsertOutcome, Option<CookieAnswer>), AppError> {
    let salt = state.salts.for_time(now).await?;
    let today = fingerprint::visitor_id(&salt, site, sender.ip, sender.user_agent);
    let yesterday_salt = state.salts.for_day_before(now).await?;
    let yesterday = fingerprint::visitor_id(&yesterday_salt, site, sender.ip, sender.user_agent);
    let browser = BrowserBatch {
        site: site.to_string(),
        events,
        received: now,
        cookie: sender.cookie,
        vouched: sender.vouched,
        fingerprint: today,
        yesterday,
        options: Options {
            recovery: !state.config.strict_identity,
            max_ids_per_cookie: state.config.max_ids_per_cookie,
        },
    };
    // The visitor's owner commits it: here, or the peer it is forwarded to (`--peers`).
    let (outcome, resolution) = crate::peers::submit_browser(state, browser).await?;
    tracing::debug!(
        site,
        stored = outcome.stored,
        duplicates = outcome.duplicates,
        "batch committed"
    );
    state.metrics.identity_links_capped(resolution.capped);
    Ok((outcome, resolution.cookie))
}

/// Stores an untracked browser's batch for today's cookieless visitor of `ip` and
/// `user_agent`.
pub async fn untracked(
    state: &AppState,
    site: &str,
    ip: IpAddr,
    user_agent: &str,
    events: Vec<ClientEvent>,
    now: i64,
) -> Result<InsertOutcome, AppError> {
    let salt = state.salts.for_time(now).await?;
    let visitor = fingerprint::visitor_id(&salt, site, ip, user_agent);
    let events = privacy::untracked(site, &visitor, events, now);
    crate::peers::submit(state, events).await
}
