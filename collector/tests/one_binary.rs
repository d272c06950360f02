//! One binary: `spoor-collector` copied alone into an empty directory and started there
//! serves the beacon, the demo site and the dashboard it embedded when it was compiled;
//! an override directory that does not exist stops the start with a clear error.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap()
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The copied binary, running; killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `start` again while it fails with "text file busy": a binary just copied by one
/// test thread cannot be executed while another thread's fork still holds the copy's
/// write descriptor (until that child execs), a race of the test harness, not the product.
fn retrying_busy<T>(mut start: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    let mut tries = 0;
    loop {
        match start() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// `dir/spoor-collector`: the binary cargo built for these tests, copied.
fn copy_binary(dir: &Path) -> PathBuf {
    let binary = dir.join("spoor-collector");
    std::fs::copy(env!("CARGO_BIN_EXE_spoor-collector"), &binary).unwrap();
    binary
}

/// The binary started in `dir` (its working directory) with `args`, no `SPOOR_*` settings.
fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(copy_binary(dir));
    command
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SPOOR_") {
            command.env_remove(key);
        }
    }
    command
}

/// Status, headers (lower-case names) and body of one `GET` over a fresh connection.
async fn get(port: u16, path: &str) -> std::io::Result<(u16, String, Vec<u8>)> {
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        let head =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        stream.write_all(head.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| std::io::Error::other("truncated response"))?;
        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other("no status line"))?;
        Ok((status, head, raw[end + 4..].to_vec()))
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

#[tokio::test]
async fn the_binary_alone_in_an_empty_directory_serves_the_beacon_the_site_and_the_dashboard() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("collector.log")).unwrap();
    let mut command = command(dir.path(), &["--listen", &format!("127.0.0.1:{port}")]);
    command.stdout(log.try_clone().unwrap()).stderr(log);
    let child = retrying_busy(|| command.spawn()).unwrap();
    let mut running = Running(child);
    let ready_by = Instant::now() + Duration::from_secs(20);
    while !matches!(get(port, "/healthz").await, Ok((200, _, _))) {
        if let Some(status) = running.0.try_wait().unwrap() {
            let log = std::fs::read_to_string(dir.path().join("collector.log")).unwrap();
            panic!("exited at start with {status}: {log}");
        }
        assert!(Instant::now() < ready_by, "not ready within 20 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // No site or beacon beside it: what it serves comes from the binary.
    for absent in ["www", "beacon"] {
        assert!(!dir.path().join(absent).exists(), "{absent}");
    }

    let root = repo_root();
    for (path, file, media) in [
        ("/spoor.js", "beacon/pkg/spoor.js", "text/javascript"),
        (
            "/spoor_bg.wasm",
            "beacon/pkg/spoor_bg.wasm",
            "application/wasm",
        ),
        ("/", "www/index.html", "text/html"),
    ] {
        let (status, head, body) = get(port, path).await.unwrap();
        assert_eq!(status, 200, "{path}: {head}");
        assert!(
            head.contains(&format!("content-type: {media}")),
            "{path}: {head}"
        );
        assert!(head.contains("etag: \""), "{path}: {head}");
        assert!(
            body == std::fs::read(root.join(file)).unwrap(),
            "{path} is not {file}"
        );
    }
    // The dashboard: its page, unless an admin gate asks this client for a credential
    // first (which is not a missing file).
    let (status, head, body) = get(port, "/dashboard/").await.unwrap();
    match status {
        200 => assert!(
            body == std::fs::read(root.join("www/dashboard/index.html")).unwrap(),
            "{head}"
        ),
        401 | 403 => {}
        other => panic!("/dashboard/ answered {other}: {head}"),
    }
    let (status, _, body) = get(port, "/dashboard/app.js").await.unwrap();
    if status == 200 {
        assert!(body == std::fs::read(root.join("www/dashboard/app.js")).unwrap());
    }
    drop(running);
}

#[tokio::test]
async fn an_override_directory_that_does_not_exist_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    for flag in ["--www", "--beacon"] {
        let mut command = command(
            dir.path(),
            &[
                "--listen",
                &format!("127.0.0.1:{}", free_port()),
                flag,
                "no/such/dir",
            ],
        );
        let output = retrying_busy(|| command.output()).unwrap();
        assert!(!output.status.success(), "{flag}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(flag) && stderr.contains("no such directory"),
            "{flag}: {stderr}"
        );
    }
}
