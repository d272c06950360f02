//! The peer list as configured: the base URL of every collector (`--peers`), and which of
//! them is this one (`--peer-self`).
//!
//! A URL is `http://HOST:PORT` (forwards travel inside the deployment; put TLS in front of
//! browsers, not between peers), written the same on every collector, since the owner of a
//! key is computed from the URLs' text. A trailing `/` is dropped.

/// The peers, in the order given, and this collector's place among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerList {
    /// Every collector's base URL, this one's included.
    pub urls: Vec<String>,
    /// The index of this collector in `urls`.
    pub me: usize,
}

impl PeerList {
    /// The list of `peers` (comma-separated) in which this collector is `me`.
    pub fn parse(peers: &str, me: &str) -> Result<PeerList, String> {
        let mut urls: Vec<String> = Vec::new();
        for url in peers.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            let url = normalise(url)?;
            if urls.contains(&url) {
                return Err(format!("{url} is listed twice"));
            }
            urls.push(url);
        }
        if urls.is_empty() {
            return Err("no peer URL".into());
        }
        let own = normalise(me.trim())?;
        let me = urls
            .iter()
            .position(|u| *u == own)
            .ok_or_else(|| format!("--peer-self {own} is not one of --peers"))?;
        Ok(PeerList { urls, me })
    }

    /// The `host:port` of peer `i`, as its `Host` header reads.
    pub fn authority(&self, i: usize) -> &str {
        self.urls
            .get(i)
            .and_then(|u| u.strip_prefix("http://"))
            .unwrap_or_default()
    }
}

fn normalise(url: &str) -> Result<String, String> {
    let url = url.trim_end_matches('/');
    let Some(authority) = url.strip_prefix("http://") else {
        return Err(format!("{url}: a peer is http://HOST:PORT"));
    };
    let port = authority.rsplit_once(':').map(|(_, p)| p);
    if authority.contains('/') || port.and_then(|p| p.parse::<u16>().ok()).is_none() {
        return Err(format!("{url}: a peer is http://HOST:PORT, without a path"));
    }
    Ok(url.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_finds_itself_and_refuses_what_is_not_a_peer_url() {
        let list = PeerList::parse(
            "http://10.0.0.1:8080, http://10.0.0.2:8080/,http://10.0.0.3:8080",
            "http://10.0.0.2:8080",
        );
        assert_eq!(
            list.as_ref().map(|l| (l.me, l.authority(1))),
            Ok((1, "10.0.0.2:8080"))
        );
        assert!(PeerList::parse("http://a:1,http://b:2", "http://c:3").is_err());
        assert!(PeerList::parse("http://a:1,http://a:1", "http://a:1").is_err());
        assert!(PeerList::parse("https://a:1", "https://a:1").is_err());
        assert!(PeerList::parse("http://a:1/x", "http://a:1/x").is_err());
        assert!(PeerList::parse("http://a", "http://a").is_err());
        assert!(PeerList::parse("", "http://a:1").is_err());
    }
}
