//! The enrich step: what the request itself says about the client, added to each event
//! before it is stored — its browser, OS and device classes from the `User-Agent`
//! ([`agent`](crate::enrich::agent)) and, with `--geoip-csv`, its country from the address
//! ([`geo`](crate::enrich::geo)). Neither the user agent nor the address is stored.

use std::net::IpAddr;

use crate::event::ClientEvent;
use crate::state::AppState;

/// Adds the classes of `user_agent` and the country of `ip` to every event.
pub fn request(state: &AppState, events: &mut [ClientEvent], user_agent: &str, ip: IpAddr) {
    let agent = crate::enrich::agent::classify(user_agent);
    let country = state.config.geoip.as_ref().and_then(|g| g.country(ip));
    for e in events {
        e.context.agent = Some(agent);
        e.context.country.clone_from(&country);
    }
}
