//! [`RateLimiter`]: a token bucket per client, so one client cannot flood `/collect`.
//!
//! The key is the resolved client address ([`Peer`](crate::http::extract::peer::Peer)): the
//! socket peer, or the forwarded client when the peer is a trusted proxy. So a client that
//! sends its own `X-Forwarded-For` from an untrusted address is still keyed by its socket
//! address and cannot reset its bucket. An IPv4 address is one key; an IPv6 address is
//! keyed by its /64, the block one household or one host usually gets (an IPv4-mapped IPv6
//! address is its IPv4 address).
//!
//! Each bucket holds up to `burst` tokens and gains `per_second` a second; a request takes
//! one, and a request finding none is answered `429` with `Retry-After` ([`layer`], before
//! the body is read). Time is the
//! collector's [`Clock`](crate::clock::Clock) in milliseconds, so a simulation replays at
//! its own pace. Memory is bounded: at `max_clients` keys, buckets that have refilled
//! (idle clients) are dropped, and if that is not enough, the least recently seen half.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::error::AppError;
use crate::http::extract::peer::Peer;
use crate::state::AppState;

/// Rate limit settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitConfig {
    /// Requests a second each client may sustain; 0 turns the limit off
    /// (`--rate-limit-per-second`).
    pub per_second: f64,
    /// Requests a client may send at once after being idle (`--rate-limit-burst`,
    /// `SPOOR_RATE_LIMIT_BURST`; default 100).
    pub burst: u32,
    /// Most clients tracked at once (`--rate-limit-clients`).
    pub max_clients: usize,
}

impl Default for RateLimitConfig {
    /// The options' defaults (see [`Config`](crate::config::Config)).
    fn default() -> Self {
        crate::config::Config::default().rate_limit
    }
}

/// What a client is counted as: an IPv4 address, or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// One IPv4 address.
    V4(u32),
    /// The first 64 bits of an IPv6 address.
    V6(u64),
}

impl ClientKey {
    /// The key of `ip`.
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip {
            IpAddr::V4(v4) => ClientKey::V4(v4.into()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey::V4(v4.into()),
                None => ClientKey::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated_ms: i64,
}

/// Token buckets per client; shared by all requests.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitConfig,
    buckets: Mutex<HashMap<ClientKey, Bucket>>,
}

impl RateLimiter {
    /// A limiter with `config`.
    pub fn new(config: RateLimitConfig) -> RateLimiter {
        RateLimiter {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `ip` at `now_ms`; `Err` carries the seconds until one is free.
    pub fn check(&self, ip: IpAddr, now_ms: i64) -> Result<(), u32> {
        let RateLimitConfig {
            per_second,
            burst,
            max_clients,
        } = self.config;
        if per_second <= 0.0 {
            return Ok(());
        }
        let burst = f64::from(burst.max(1));
        let key = ClientKey::of(ip);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let refill = |b: &Bucket| {
            let elapsed = (now_ms - b.updated_ms).max(0) as f64 / 1000.0;
            (b.tokens + elapsed * per_second).min(burst)
        };
        if !buckets.contains_key(&key) && buckets.len() >= max_clients.max(1) {
            buckets.retain(|_, b| refill(b) < burst);
            if buckets.len() >= max_clients.max(1) {
                let mut seen: Vec<i64> = buckets.values().map(|b| b.updated_ms).collect();
                seen.sort_unstable();
                let cutoff = seen[seen.len() / 2];
                buckets.retain(|_, b| b.updated_ms > cutoff);
            }
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            updated_ms: now_ms,
        });
        let tokens = refill(bucket);
        bucket.updated_ms = bucket.updated_ms.max(now_ms);
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            Ok(())
        } else {
            bucket.tokens = tokens;
            Err(((1.0 - tokens) / per_second).ceil().max(1.0) as u32)
        }
    }

    /// How many clients are tracked now.
    pub fn clients(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Middleware on `/collect`: refuses a client over its limit before its body is read, and
/// counts it (one item, rejected as `rate_limited`).
pub async fn layer(
    State(state): State<AppState>,
    peer: Peer,
    request: Request,
    next: Next,
) -> Response {
    match state.rate_limiter.check(peer.ip, state.clock.now_ms()) {
        Ok(()) => next.run(request).await,
        Err(retry_after_secs) => {
            state.metrics.received(1);
            state.metrics.rate_limited();
            AppError::RateLimited { retry_after_secs }.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: f64, burst: u32, max_clients: usize) -> RateLimiter {
        RateLimiter::new(RateLimitConfig {
            per_second,
            burst,
            max_clients,
        })
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let l = limiter(2.0, 3, 10);
        for _ in 0..3 {
            assert_eq!(l.check(ip("192.0.2.1"), 0), Ok(()));
        }
        assert_eq!(l.check(ip("192.0.2.1"), 0), Err(1));
        assert_eq!(l.check(ip("192.0.2.2"), 0), Ok(()), "another client");
        assert_eq!(l.check(ip("192.0.2.1"), 499), Err(1));
        assert_eq!(
            l.check(ip("192.0.2.1"), 500),
            Ok(()),
            "half a second: one token"
        );
        assert_eq!(l.check(ip("192.0.2.1"), 500), Err(1));
    }

    #[test]
    fn ipv6_is_keyed_by_its_64_and_mapped_ipv4_by_the_ipv4() {
        let l = limiter(1.0, 1, 10);
        assert_eq!(l.check(ip("2001:db8:1:2::1"), 0), Ok(()));
        assert!(l.check(ip("2001:db8:1:2:ffff::9"), 0).is_err(), "same /64");
        assert_eq!(l.check(ip("2001:db8:1:3::1"), 0), Ok(()), "next /64");
        assert_eq!(l.check(ip("198.51.100.4"), 0), Ok(()));
        assert!(l.check(ip("::ffff:198.51.100.4"), 0).is_err());
    }

    #[test]
    fn memory_is_bounded_and_idle_clients_go_first() {
        let l = limiter(1.0, 2, 100);
        let busy = ip("203.0.113.1");
        l.check(busy, 0).unwrap();
        l.check(busy, 0).unwrap();
        for i in 0..1000u32 {
            let _ = l.check(
                IpAddr::from((0x0a00_0000 + i).to_be_bytes()),
                10_000 + i64::from(i),
            );
            assert!(l.clients() <= 100);
        }
        assert!(l.clients() <= 100);
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let l = limiter(0.0, 1, 1);
        for _ in 0..1000 {
            assert_eq!(l.check(ip("192.0.2.1"), 0), Ok(()));
        }
        assert_eq!(l.clients(), 0);
    }
}
