//! Static files: the built beacon (`/spoor.js`, `/spoor_bg.wasm`) and the site with its
//! dashboard (everything else), from the copies embedded in the binary ([`embedded`]) or,
//! when `--beacon` / `--www` name a directory, from there ([`dir`]).
//!
//! What may be served is decided by [`path`] once for both sources: no dotfiles, no
//! traversal; an override directory also refuses symlinks leading out of it.
//!
//! Every answer carries its media type by extension (`application/wasm` matters: browsers
//! need it for streaming compilation), `X-Content-Type-Options: nosniff`, an `ETag`
//! (`If-None-Match` is answered `304`) and `Cache-Control: no-cache`, so a deploy reaches
//! visitors at once and a revalidation costs no body. The beacon's files also answer CORS
//! for the configured sites' origins and for `null`, a sandboxed frame
//! ([`crate::http::cors::assets`]): a page on another origin loads `spoor.js` as a module
//! script, which browsers fetch in CORS mode.
//!
//! A binary compiled before the beacon was built has none embedded: `/spoor.js` and
//! `/spoor_bg.wasm` then answer `503` with the reason, and `main` says so at start.

pub mod dir;
pub mod embedded;
pub mod path;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::state::AppState;
use embedded::Table;

/// Where one kind of file comes from.
#[derive(Clone)]
enum Source {
    /// The copy compiled into the binary.
    Embedded(Table),
    /// An override directory.
    Dir(PathBuf),
}

/// The beacon's and the site's sources.
struct Sources {
    beacon: Source,
    www: Source,
}

/// Routes for the beacon files and, as the fallback, the site: from the configured
/// `--beacon` and `--www` directories when given, else from the embedded copies.
pub fn router(state: &AppState) -> Router<AppState> {
    let config = &state.config;
    let sources = Arc::new(Sources {
        beacon: config
            .beacon
            .clone()
            .map_or(Source::Embedded(embedded::BEACON), Source::Dir),
        www: config
            .www
            .clone()
            .map_or(Source::Embedded(embedded::WWW), Source::Dir),
    });
    let beacon_file = |name: &'static str| {
        let sources = Arc::clone(&sources);
        get(move |headers: HeaderMap| async move {
            beacon_response(&sources.beacon, name, &headers).await
        })
    };
    let site = {
        let sources = Arc::clone(&sources);
        move |request: Request| async move { site_response(&sources.www, request).await }
    };
    Router::new()
        .route("/spoor.js", beacon_file("spoor.js"))
        .route("/spoor_bg.wasm", beacon_file("spoor_bg.wasm"))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::http::cors::assets,
        ))
        .fallback(site)
}

/// `/spoor.js` or `/spoor_bg.wasm`.
async fn beacon_response(source: &Source, name: &str, headers: &HeaderMap) -> Response {
    if matches!(source, Source::Embedded(table) if table.is_empty()) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            "the beacon was not built when this collector was compiled: run \
             scripts/build-beacon.sh and build the collector again, or start it with \
             --beacon DIR",
        )
            .into_response();
    }
    file_response(source, name, headers).await
}

/// Any other path: a file of the site, a redirect from a directory to `…/`, or 404.
async fn site_response(source: &Source, request: Request) -> Response {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, HeaderValue::from_static("GET, HEAD"))],
            "static files answer GET and HEAD only",
        )
            .into_response();
    }
    let uri = request.uri();
    let Some((rel, slash)) = path::relative(uri.path()) else {
        return not_found();
    };
    if slash {
        let index = if rel.is_empty() {
            "index.html".to_string()
        } else {
            format!("{rel}/index.html")
        };
        return file_response(source, &index, request.headers()).await;
    }
    let response = file_response(source, &rel, request.headers()).await;
    if response.status() == StatusCode::NOT_FOUND && is_dir(source, &rel).await {
        let location = match uri.query() {
            Some(query) => format!("{}/?{query}", uri.path()),
            None => format!("{}/", uri.path()),
        };
        if let Ok(location) = HeaderValue::from_str(&location) {
            return (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, location)],
            )
                .into_response();
        }
    }
    response
}

async fn is_dir(source: &Source, rel: &str) -> bool {
    match source {
        Source::Embedded(table) => embedded::is_dir(table, rel),
        Source::Dir(root) => matches!(dir::find(root, rel).await, dir::Found::Dir),
    }
}

/// The file `rel` of `source` with its headers, `304` when `If-None-Match` has its ETag.
async fn file_response(source: &Source, rel: &str, headers: &HeaderMap) -> Response {
    let (body, etag): (Body, String) = match source {
        Source::Embedded(table) => match embedded::file(table, rel) {
            Some(file) => (Body::from(file.bytes), file.etag.to_string()),
            None => return not_found(),
        },
        Source::Dir(root) => match dir::find(root, rel).await {
            dir::Found::File { bytes, etag } => (Body::from(bytes), etag),
            dir::Found::Dir | dir::Found::Missing => return not_found(),
        },
    };
    let Ok(etag_value) = HeaderValue::from_str(&etag) else {
        return not_found();
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|list| {
            list.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == etag || t == "*")
        });
    let common = [
        (header::ETAG, etag_value),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(media_type(rel)),
        )],
        common,
        body,
    )
        .into_response()
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such file").into_response()
}

/// The media type of a file by its extension.
pub fn media_type(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" | "map" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "pdf" => "application/pdf",
        "woff2" => "font/woff2",
        "xml" => "application/xml",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_binary_compiled_without_the_beacon_answers_503_with_the_reason() {
        let response = beacon_response(&Source::Embedded(&[]), "spoor.js", &HeaderMap::new()).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains("scripts/build-beacon.sh"), "{body}");
    }

    #[test]
    fn media_types_follow_the_extension() {
        assert_eq!(media_type("spoor_bg.wasm"), "application/wasm");
        assert!(media_type("spoor.js").starts_with("text/javascript"));
        assert!(media_type("dashboard/vendor/echarts.esm.min.mjs").starts_with("text/javascript"));
        assert!(media_type("INDEX.HTML").starts_with("text/html"));
        assert_eq!(media_type("ECHARTS-LICENSE"), "application/octet-stream");
    }
}
