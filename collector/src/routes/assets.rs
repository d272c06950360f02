//! Static files: the built beacon (`/spoor.js`, `/spoor_bg.wasm`) and the site in `www/`.
//!
//! The wasm is served as `application/wasm` (by its extension), which browsers need for
//! streaming compilation; a test holds that. The beacon is revalidated on every load
//! (`no-cache`) so a deploy reaches visitors at once; `Last-Modified` keeps that cheap.

use std::path::Path;

use axum::Router;
use axum::http::{HeaderValue, header};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::state::AppState;

/// Routes for the beacon files in `beacon_dir`, with the site in `www_dir` as fallback.
pub fn router(beacon_dir: &Path, www_dir: &Path) -> Router<AppState> {
    let no_cache = SetResponseHeaderLayer::overriding(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    Router::new()
        .route_service("/spoor.js", ServeFile::new(beacon_dir.join("spoor.js")))
        .route_service(
            "/spoor_bg.wasm",
            ServeFile::new(beacon_dir.join("spoor_bg.wasm")),
        )
        .layer(no_cache)
        .fallback_service(ServeDir::new(www_dir))
}
