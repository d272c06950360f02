//! The beacon's files and the site: embedded in the binary by default, from `--beacon` /
//! `--www` when given; CORS on the beacon for the sites' origins; no dotfiles and no
//! symlinks out of an override directory.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{TestCollector, body_bytes};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap()
}

/// A collector that serves the embedded beacon and site (no override directories).
async fn embedded() -> TestCollector {
    TestCollector::start_with(|c| {
        c.www = None;
        c.beacon = None;
    })
    .await
}

async fn get(c: &TestCollector, uri: &str, headers: &[(&str, &str)]) -> axum::response::Response {
    let mut request = Request::get(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    c.send(request.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn the_embedded_beacon_and_site_are_served_without_any_files_beside_the_binary() {
    let c = embedded().await;
    let root = repo_root();
    for (uri, file, media) in [
        ("/spoor.js", "beacon/pkg/spoor.js", "text/javascript"),
        (
            "/spoor_bg.wasm",
            "beacon/pkg/spoor_bg.wasm",
            "application/wasm",
        ),
        ("/", "www/index.html", "text/html"),
        ("/dashboard/", "www/dashboard/index.html", "text/html"),
        (
            "/dashboard/app.js",
            "www/dashboard/app.js",
            "text/javascript",
        ),
    ] {
        let response = get(&c, uri, &[]).await;
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        let h = response.headers().clone();
        assert!(
            h[header::CONTENT_TYPE].to_str().unwrap().starts_with(media),
            "{uri}"
        );
        assert_eq!(h[header::CACHE_CONTROL], "no-cache", "{uri}");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{uri}");
        let etag = h[header::ETAG].to_str().unwrap().to_string();
        let want = std::fs::read(root.join(file)).unwrap();
        assert!(body_bytes(response).await == want, "{uri} is not {file}");
        // A revalidation with the ETag costs no body.
        let again = get(&c, uri, &[("if-none-match", &etag)]).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{uri}");
        assert!(body_bytes(again).await.is_empty());
    }
    let response = get(&c, "/dashboard", &[]).await;
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(response.headers()[header::LOCATION], "/dashboard/");
    for missing in ["/nope.html", "/dashboard/nope.js", "/.gitignore"] {
        assert_eq!(
            get(&c, missing, &[]).await.status(),
            StatusCode::NOT_FOUND,
            "{missing}"
        );
    }
}

#[tokio::test]
async fn the_beacon_answers_cors_for_the_sites_origins_only() {
    let c = TestCollector::start_with(|c| {
        c.beacon = None;
        c.sites = "demo=app.example.com,*.shop.example".parse().unwrap();
    })
    .await;
    for uri in ["/spoor.js", "/spoor_bg.wasm"] {
        for origin in ["http://app.example.com:8080", "https://www.shop.example"] {
            let response = get(&c, uri, &[("origin", origin)]).await;
            assert_eq!(response.status(), StatusCode::OK, "{uri}");
            let h = response.headers();
            assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], origin, "{uri}");
            assert!(h.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
            assert_eq!(h[header::VARY], "origin");
        }
        // `null` (a sandboxed frame) is answered: see opaque_origin.rs.
        for stranger in ["http://evil.example", "http://app.example.com.evil.example"] {
            let response = get(&c, uri, &[("origin", stranger)]).await;
            assert_eq!(response.status(), StatusCode::OK, "{uri}");
            let h = response.headers();
            assert!(
                h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
                "{uri} {stranger}"
            );
            assert_eq!(
                h[header::VARY],
                "origin",
                "a cache must not mix the two answers"
            );
        }
    }
}

#[tokio::test]
async fn an_override_www_serves_neither_dotfiles_nor_symlinks_out_of_it() {
    let c = TestCollector::start().await;
    let www = c.dir.path().join("www");
    let outside = c.dir.path().join("outside");
    std::fs::create_dir_all(outside.join("dir")).unwrap();
    std::fs::write(outside.join("secret.txt"), "outside secret").unwrap();
    std::fs::write(outside.join("dir/page.html"), "outside page").unwrap();
    std::fs::write(www.join("page.html"), "<h1>page</h1>").unwrap();
    std::fs::write(www.join(".secret"), "dot secret").unwrap();
    std::fs::write(www.join(".env"), "TOKEN=x").unwrap();
    std::fs::create_dir_all(www.join(".git")).unwrap();
    std::fs::write(www.join(".git/config"), "[core]").unwrap();
    std::fs::create_dir_all(www.join("sub")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), www.join("leak.txt")).unwrap();
    std::os::unix::fs::symlink(outside.join("dir"), www.join("sub/out")).unwrap();
    std::os::unix::fs::symlink(www.join(".git/config"), www.join("config.txt")).unwrap();
    std::os::unix::fs::symlink(www.join("page.html"), www.join("alias.html")).unwrap();

    for ok in ["/page.html", "/alias.html"] {
        let response = get(&c, ok, &[]).await;
        assert_eq!(response.status(), StatusCode::OK, "{ok}");
        assert_eq!(body_bytes(response).await, b"<h1>page</h1>");
    }
    for refused in [
        "/.secret",
        "/%2esecret",
        "/.env",
        "/.git/config",
        "/.git/",
        "/leak.txt",
        "/sub/out/page.html",
        "/sub/out/",
        "/config.txt",
        "/sub/../../outside/secret.txt",
    ] {
        let response = get(&c, refused, &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{refused}");
        let body = String::from_utf8(body_bytes(response).await).unwrap();
        assert!(
            !body.contains("secret") && !body.contains("page"),
            "{refused}: {body}"
        );
    }
}
