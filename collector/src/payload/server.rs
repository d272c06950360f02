//! The fields only an authenticated server-side client may send (`POST /ingest`): the real
//! client address and user agent of the browser it acts for, and the site's own user id.
//!
//! They are read from the same body as the common fields ([`parse_envelope`](super::parse_envelope)
//! checks those), one [`ServerFields`] per event. `/collect` never reads them: a browser
//! cannot choose its address or vouch for a login.

use std::net::IpAddr;

use serde_json::Value;

use super::kind::MAX_USER_CHARS;
use super::rules::check_label;

/// Longest `user_agent` accepted, in bytes.
pub const MAX_USER_AGENT_BYTES: usize = 512;

/// What a server-side client says about the browser behind one event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerFields {
    /// `ip`: the browser's address, for its network fingerprint and country; never stored.
    pub ip: Option<IpAddr>,
    /// `user_agent`: the browser's `User-Agent`, for its browser, OS and device class.
    pub user_agent: Option<String>,
    /// `user_id`: the site's user logged in on this event, linked as a verified login.
    pub user_id: Option<String>,
}

/// The server fields of each event of a `/ingest` body, in order; an event whose fields
/// break a rule gets the reason, naming the field (`events[2].ip: …`). A body that is not
/// a batch yields no entries (the envelope check refuses it first).
pub fn parse(body: &[u8]) -> Vec<Result<ServerFields, String>> {
    let Ok(Value::Object(batch)) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let Some(Value::Array(events)) = batch.get("events") else {
        return Vec::new();
    };
    events
        .iter()
        .enumerate()
        .map(|(i, e)| fields(e).map_err(|r| format!("events[{i}].{r}")))
        .collect()
}

fn fields(event: &Value) -> Result<ServerFields, String> {
    let text = |key: &str| -> Result<Option<&str>, String> {
        match event.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(format!("{key}: must be a string")),
        }
    };
    let ip = text("ip")?
        .map(|ip| {
            ip.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .map_err(|_| "ip: not an IPv4 or IPv6 address".to_string())
        })
        .transpose()?;
    let user_agent = text("user_agent")?
        .map(|ua| {
            if ua.len() > MAX_USER_AGENT_BYTES || ua.chars().any(char::is_control) {
                Err(format!(
                    "user_agent: at most {MAX_USER_AGENT_BYTES} bytes, no control characters"
                ))
            } else {
                Ok(ua.to_string())
            }
        })
        .transpose()?;
    let user_id = text("user_id")?
        .map(|u| check_label("user_id", u, MAX_USER_CHARS).map(|()| u.to_string()))
        .transpose()?;
    Ok(ServerFields {
        ip,
        user_agent,
        user_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(event: Value) -> Result<ServerFields, String> {
        let body = json!({"site": "demo", "events": [event]}).to_string();
        parse(body.as_bytes()).remove(0)
    }

    #[test]
    fn the_fields_are_read_and_checked() {
        let got =
            one(json!({"ip": "2001:db8::7", "user_agent": "Mozilla/5.0 X", "user_id": "u-1"}));
        assert_eq!(
            got,
            Ok(ServerFields {
                ip: "2001:db8::7".parse().ok(),
                user_agent: Some("Mozilla/5.0 X".into()),
                user_id: Some("u-1".into()),
            })
        );
        assert_eq!(one(json!({})), Ok(ServerFields::default()));
        for (bad, want) in [
            (json!({"ip": "300.1.1.1"}), "events[0].ip: not an IPv4"),
            (json!({"ip": 7}), "events[0].ip: must be a string"),
            (
                json!({"user_agent": "a\nb"}),
                "events[0].user_agent: at most",
            ),
            (
                json!({"user_id": "u".repeat(129)}),
                "events[0].user_id: must be 1 to 128",
            ),
        ] {
            let got = one(bad.clone()).err().unwrap_or_default();
            assert!(got.starts_with(want), "{bad}: {got}");
        }
        assert!(parse(b"not json").is_empty());
    }
}
