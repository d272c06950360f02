//! Runs one scenario through a real collector (router, resolver, ingest writer, SQLite
//! store) on a simulated clock, and scores every scheme against the truth.

use std::collections::HashMap;
use std::sync::Arc;

use spoor_collector::clock::Clock;
use spoor_collector::config::Config;
use spoor_collector::identity::graph::Mode;
use spoor_collector::store::Store;
use spoor_collector::store::sqlite::SqliteStore;
use spoor_collector::{Collector, app};

use crate::baselines::{Scheme, daily_salt_ceiling};
use crate::browser::{Browser, SITE, Sent};
use crate::scenario::{Params, START_MS, generate};
use crate::score::{Scores, bcubed};

/// A scenario's outcome: each scheme with its scores, in [`Scheme::ALL`] order.
#[derive(Debug, Clone)]
pub struct Report {
    /// The scenario's name.
    pub name: &'static str,
    /// People who made at least one page view.
    pub people: usize,
    /// Page views scored.
    pub pageviews: usize,
    /// Scores per scheme.
    pub scores: Vec<(Scheme, Scores)>,
    /// The scores of [`daily_salt_ceiling`]: no scheme that forgets cookieless browsers
    /// daily does better.
    pub ceiling: Scores,
}

/// Generates `params`' traffic, sends it through a fresh in-memory collector and scores it.
pub async fn run(params: &Params) -> anyhow::Result<Report> {
    let traffic = generate(params);
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory()?);
    let clock = Clock::manual(START_MS);
    let mut config = Config::default();
    // Visits are replayed one at a time, so no request would ever share a transaction:
    // waiting for company only slows the replay down.
    config.ingest.batch_max_wait = std::time::Duration::ZERO;
    // The simulated browsers visit one site, on its own host.
    config.sites = format!("{}=shop.example", crate::browser::SITE)
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    let collector =
        Collector::with_store_and_clock(config, Arc::clone(&store), clock.clone()).await?;
    let router = app(collector.state());
    let mut browsers: Vec<Browser> = traffic
        .browsers
        .iter()
        .enumerate()
        .map(|(i, spec)| Browser::new(i, spec.clone()))
        .collect();
    let mut sent: Vec<Sent> = Vec::new();
    let mut next_event = 0u64;
    for visit in &traffic.visits {
        clock.set(visit.at_ms);
        let browser = browsers
            .get_mut(visit.browser)
            .ok_or_else(|| anyhow::anyhow!("visit names an unknown browser"))?;
        sent.extend(browser.visit(&router, visit, &mut next_event).await?);
    }

    let ours: HashMap<String, String> = store
        .event_persons(SITE, Mode::Inclusive)
        .await?
        .into_iter()
        .collect();
    let mut scores = Vec::new();
    for scheme in Scheme::ALL {
        let pairs = sent.iter().map(|s| {
            let key = match scheme {
                Scheme::Ours => ours
                    .get(&s.event)
                    .cloned()
                    .unwrap_or_else(|| format!("missing:{}", s.event)),
                other => other.key(s),
            };
            (s.person, key)
        });
        scores.push((scheme, bcubed(pairs)));
    }
    let ceiling = bcubed(sent.iter().map(|s| s.person).zip(daily_salt_ceiling(&sent)));
    let mut people: Vec<u32> = sent.iter().map(|s| s.person).collect();
    people.sort_unstable();
    people.dedup();
    Ok(Report {
        name: params.name,
        people: people.len(),
        pageviews: sent.len(),
        scores,
        ceiling,
    })
}
