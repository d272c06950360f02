//! The `Origin` step of `/collect`: a browser names the page's origin on every
//! cross-origin request (and on same-origin POSTs); when it does, it must be one of the
//! site's hosts, or `null` for a page with an opaque origin (a frame sandboxed without
//! `allow-same-origin`) unless `--refuse-opaque-origin`. See [`cors`](crate::http::cors)
//! for the trade-off.

use axum::http::{HeaderMap, header};

use super::refusal::Refusal;
use crate::sites::Site;

/// Where the batch comes from, as far as `Origin` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// No `Origin`, or one of the site's hosts.
    Site,
    /// `Origin: null`: its batch neither reads nor sets the server cookie.
    Opaque,
}

/// Checks the request's `Origin` against `site`.
pub fn check(headers: &HeaderMap, site: &Site, refuse_opaque: bool) -> Result<Origin, Refusal> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(Origin::Site);
    };
    let origin = origin.to_str().unwrap_or("");
    if origin == crate::http::cors::OPAQUE {
        return if refuse_opaque {
            Err(Refusal::OpaqueOrigin)
        } else {
            Ok(Origin::Opaque)
        };
    }
    if site.allows_origin(origin) {
        Ok(Origin::Site)
    } else {
        Err(Refusal::Origin {
            origin: origin.chars().take(100).collect(),
            site: site.id.clone(),
        })
    }
}
