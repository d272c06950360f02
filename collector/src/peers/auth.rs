//! How a forward proves it comes from a peer: an HMAC-SHA256 over the target's host and
//! path, the sender's time, a random nonce, the sender's view of the peers and the body,
//! under a key every collector reads from the shared store (the store secret
//! [`KEY_SECRET`], made once by whichever collector starts first), so peers need no extra
//! configuration and an attacker without the store has no key.
//!
//! The receiver refuses (each refusal a metrics label, and an answer naming it):
//! - `unsigned` (401): a header is missing or malformed;
//! - `signature` (401): the MAC does not match: forged, or the body, path, time, nonce,
//!   view or `Host` changed on the way;
//! - `host` (403): signed for another peer (a forward captured on its way to one peer and
//!   sent to another);
//! - `stale` (401): the signed time is more than [`WINDOW_MS`] from the receiver's clock;
//! - `replayed` (403): the nonce was accepted before ([`ReplayGuard`]).
//!
//! The MAC is checked before anything else is told, so a caller without the key learns
//! nothing but `unsigned` or `signature`.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::replay::{ReplayGuard, Seen, WINDOW_MS};

/// The store secret that keys the forwards' MACs.
pub const KEY_SECRET: &str = "peers";

/// The sender's time, Unix ms.
pub const TIME_HEADER: &str = "x-spoor-peer-time";
/// 16 random bytes, hex.
pub const NONCE_HEADER: &str = "x-spoor-peer-nonce";
/// The MAC, hex.
pub const SIGNATURE_HEADER: &str = "x-spoor-peer-signature";
/// The sender's view of the peers: `INDEX:CHANGES`, its place in the list and how many
/// times its live set has changed (see [`Liveness::observe`](super::liveness::Liveness::observe)).
pub const VIEW_HEADER: &str = "x-spoor-peer-view";

/// Why a forward was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// A header is missing or malformed.
    Unsigned,
    /// The MAC does not match.
    Signature,
    /// Signed for another host.
    Host,
    /// Signed too long ago (or ahead).
    Stale,
    /// Accepted before.
    Replayed,
    /// Too many nonces to remember; try later.
    Busy,
}

impl Refused {
    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Refused::Unsigned => "unsigned",
            Refused::Signature => "signature",
            Refused::Host => "host",
            Refused::Stale => "stale",
            Refused::Replayed => "replayed",
            Refused::Busy => "busy",
        }
    }

    /// What the answer says.
    pub fn reason(self) -> &'static str {
        match self {
            Refused::Unsigned => {
                "peer forwards are signed: x-spoor-peer-time, -nonce and -signature"
            }
            Refused::Signature => "the peer signature does not match this request",
            Refused::Host => "this forward was signed for another peer",
            Refused::Stale => "the peer signature's time is outside the accepted window",
            Refused::Replayed => "this forward was accepted before",
            Refused::Busy => "too many forwards to remember; retry",
        }
    }
}

/// The MAC key, from the store.
#[derive(Clone)]
pub struct PeerKey(Vec<u8>);

impl std::fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerKey(<redacted>)")
    }
}

/// The headers of a signed forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// [`TIME_HEADER`].
    pub time: String,
    /// [`NONCE_HEADER`].
    pub nonce: String,
    /// [`SIGNATURE_HEADER`].
    pub signature: String,
    /// [`VIEW_HEADER`].
    pub view: String,
}

impl PeerKey {
    /// A key of `bytes`.
    pub fn new(bytes: Vec<u8>) -> PeerKey {
        PeerKey(bytes)
    }

    fn mac(
        &self,
        host: &str,
        path: &str,
        time: &str,
        nonce: &str,
        view: &str,
        body: &[u8],
    ) -> Hmac<Sha256> {
        // A key of any length is accepted by HMAC; the fallback is never taken.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0)
            .unwrap_or_else(|_| Hmac::<Sha256>::new(&Default::default()));
        for part in ["spoor-peer-v1", host, path, time, nonce, view] {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        mac.update(body);
        mac
    }

    /// Signs a forward of `body` to `path` on `host` at `now_ms`, under `nonce`, from a
    /// sender whose view of the peers is `view` (`INDEX:CHANGES`).
    pub fn sign(
        &self,
        host: &str,
        path: &str,
        now_ms: i64,
        nonce: [u8; 16],
        view: (usize, u64),
        body: &[u8],
    ) -> Signed {
        let time = now_ms.to_string();
        let nonce = hex(&nonce);
        let view = format!("{}:{}", view.0, view.1);
        let signature = hex(&self
            .mac(host, path, &time, &nonce, &view, body)
            .finalize()
            .into_bytes());
        Signed {
            time,
            nonce,
            signature,
            view,
        }
    }

    /// Checks a forward received as `headers` (its `Host` among them) at `path` with `body`
    /// by the peer whose host is `own_host`, at `now_ms`; records its nonce. Answers the
    /// sender's view (its index, its live set's changes).
    pub fn verify(
        &self,
        headers: &HeaderMap,
        path: &str,
        body: &[u8],
        own_host: &str,
        now_ms: i64,
        seen: &ReplayGuard,
    ) -> Result<(usize, u64), Refused> {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(time), Some(nonce_text), Some(signature), Some(host), Some(view_text)) = (
            text(TIME_HEADER),
            text(NONCE_HEADER),
            text(SIGNATURE_HEADER),
            text(axum::http::header::HOST.as_str()),
            text(VIEW_HEADER),
        ) else {
            return Err(Refused::Unsigned);
        };
        let view = view_text
            .split_once(':')
            .and_then(|(i, n)| Some((i.parse::<usize>().ok()?, n.parse::<u64>().ok()?)));
        let (Some(nonce), Some(given), Ok(sent_at), Some(view)) = (
            unhex::<16>(nonce_text),
            unhex::<32>(signature),
            time.parse::<i64>(),
            view,
        ) else {
            return Err(Refused::Unsigned);
        };
        self.mac(host, path, time, nonce_text, view_text, body)
            .verify_slice(&given)
            .map_err(|_| Refused::Signature)?;
        if !host.eq_ignore_ascii_case(own_host) {
            return Err(Refused::Host);
        }
        if (now_ms - sent_at).abs() > WINDOW_MS {
            return Err(Refused::Stale);
        }
        seen.accept(nonce, now_ms).map_err(|s| match s {
            Seen::Replayed => Refused::Replayed,
            Seen::Full => Refused::Busy,
        })?;
        Ok(view)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const NOW: i64 = 1_800_000_000_000;

    fn headers(host: &str, signed: &Signed) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_str(host).unwrap());
        h.insert(TIME_HEADER, HeaderValue::from_str(&signed.time).unwrap());
        h.insert(NONCE_HEADER, HeaderValue::from_str(&signed.nonce).unwrap());
        h.insert(
            SIGNATURE_HEADER,
            HeaderValue::from_str(&signed.signature).unwrap(),
        );
        h.insert(VIEW_HEADER, HeaderValue::from_str(&signed.view).unwrap());
        h
    }

    #[test]
    fn every_alteration_of_a_signed_forward_is_refused_with_its_reason() {
        let key = PeerKey::new(vec![7; 32]);
        let seen = ReplayGuard::default();
        let path = "/internal/ingest";
        let body = br#"{"kind":"resolved","events":[]}"#;
        let signed = key.sign("10.0.0.2:8080", path, NOW, [9; 16], (0, 4), body);
        let check = |h: &HeaderMap, body: &[u8], now| {
            key.verify(h, path, body, "10.0.0.2:8080", now, &seen)
        };
        let good = headers("10.0.0.2:8080", &signed);

        assert_eq!(check(&HeaderMap::new(), body, NOW), Err(Refused::Unsigned));
        let mut no_sig = good.clone();
        no_sig.remove(SIGNATURE_HEADER);
        assert_eq!(check(&no_sig, body, NOW), Err(Refused::Unsigned));
        let forged =
            PeerKey::new(vec![8; 32]).sign("10.0.0.2:8080", path, NOW, [9; 16], (0, 4), body);
        assert_eq!(
            check(&headers("10.0.0.2:8080", &forged), body, NOW),
            Err(Refused::Signature)
        );
        assert_eq!(
            check(&good, br#"{"kind":"resolved","events":[1]}"#, NOW),
            Err(Refused::Signature),
            "body changed"
        );
        assert_eq!(
            check(&headers("10.0.0.3:8080", &signed), body, NOW),
            Err(Refused::Signature),
            "Host changed"
        );
        let mut moved_view = signed.clone();
        moved_view.view = "0:5".into();
        assert_eq!(
            check(&headers("10.0.0.2:8080", &moved_view), body, NOW),
            Err(Refused::Signature),
            "view changed"
        );
        let mut moved_time = signed.clone();
        moved_time.time = (NOW + 1).to_string();
        assert_eq!(
            check(&headers("10.0.0.2:8080", &moved_time), body, NOW),
            Err(Refused::Signature),
            "time changed"
        );
        // Signed properly, but for another peer, and sent here with its own Host.
        let elsewhere = key.sign("10.0.0.3:8080", path, NOW, [9; 16], (0, 4), body);
        assert_eq!(
            check(&headers("10.0.0.3:8080", &elsewhere), body, NOW),
            Err(Refused::Host)
        );
        let old = key.sign(
            "10.0.0.2:8080",
            path,
            NOW - WINDOW_MS - 1,
            [5; 16],
            (0, 4),
            body,
        );
        assert_eq!(
            check(&headers("10.0.0.2:8080", &old), body, NOW),
            Err(Refused::Stale)
        );
        assert_eq!(check(&good, body, NOW), Ok((0, 4)));
        assert_eq!(check(&good, body, NOW + 10), Err(Refused::Replayed));
    }
}
