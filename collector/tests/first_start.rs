//! The real binary secure by default: the first start without a configured token prints a
//! token and a one-time sign-in URL to stderr; later starts print a fresh URL but no token
//! (only its hash is stored); `admin-token --reset` replaces the token.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_spoor-collector");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary running on `port`; killed when dropped.
struct Running {
    child: Child,
    stderr: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary over `dir/spoor.db` on `port` and waits for its sign-in URL.
fn start(dir: &Path, port: u16, run: usize) -> Running {
    let err = dir.join(format!("stderr-{run}.log"));
    let child = Command::new(BIN)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--db")
        .arg(dir.join("spoor.db"))
        .arg("--www")
        .arg(dir)
        .arg("--beacon")
        .arg(dir)
        .env_remove("SPOOR_ADMIN_TOKEN")
        .env_remove("SPOOR_ADMIN_TOKEN_FILE")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let mut running = Running {
        child,
        stderr: String::new(),
    };
    let ready_by = Instant::now() + Duration::from_secs(20);
    loop {
        running.stderr = std::fs::read_to_string(&err).unwrap_or_default();
        if running.stderr.contains("signin?code=") {
            return running;
        }
        assert!(
            running.child.try_wait().unwrap().is_none(),
            "exited at start: {}",
            running.stderr
        );
        assert!(
            Instant::now() < ready_by,
            "no sign-in URL: {}",
            running.stderr
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The line after `heading` in `text`, trimmed.
fn line_after(text: &str, heading: &str) -> Option<String> {
    let mut lines = text.lines();
    lines.find(|l| l.contains(heading))?;
    lines.next().map(|l| l.trim().to_string())
}

/// `GET target` (a path, or a full `http://host:port/path` URL) on 127.0.0.1:`port` with
/// `headers`; the status. Retries while the server is not listening yet.
async fn get(port: u16, target: &str, headers: &[(&str, &str)]) -> u16 {
    let path = target
        .find("/dashboard")
        .or_else(|| target.find("/api"))
        .map_or(target, |i| &target[i..]);
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}Connection: close\r\n\r\n"
    );
    for _ in 0..200 {
        if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            stream.write_all(head.as_bytes()).await.unwrap();
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw).await.unwrap();
            let text = String::from_utf8_lossy(&raw);
            return text.split(' ').nth(1).unwrap().parse().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nothing listens on {port}");
}

#[tokio::test]
async fn the_first_start_prints_a_token_and_every_start_a_one_time_sign_in_url() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();

    let first = start(dir.path(), port, 1);
    let token = line_after(&first.stderr, "made an admin token").expect("a token is printed");
    let url = line_after(&first.stderr, "Open the dashboard").unwrap();
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{port}/dashboard/signin?code=")),
        "{url}"
    );
    let bearer = format!("Bearer {token}");
    assert_eq!(get(port, "/api/sites", &[]).await, 401, "closed by default");
    assert_eq!(
        get(port, "/api/sites", &[("Authorization", &bearer)]).await,
        200
    );
    assert_eq!(get(port, &url, &[]).await, 303, "the link signs in");
    assert_eq!(get(port, &url, &[]).await, 403, "once");
    drop(first);

    let second = start(dir.path(), port, 2);
    assert!(
        line_after(&second.stderr, "made an admin token").is_none(),
        "the token is not recoverable: {}",
        second.stderr
    );
    let again = line_after(&second.stderr, "Open the dashboard").unwrap();
    assert_ne!(again, url, "a fresh link at each start");
    assert_eq!(get(port, &url, &[]).await, 403, "the old link is gone");
    assert_eq!(get(port, &again, &[]).await, 303);
    assert_eq!(
        get(port, "/api/sites", &[("Authorization", &bearer)]).await,
        200
    );
    drop(second);

    let reset = Command::new(BIN)
        .args(["admin-token", "--reset", "--db"])
        .arg(dir.path().join("spoor.db"))
        .output()
        .unwrap();
    assert!(reset.status.success());
    let new_token = String::from_utf8(reset.stdout).unwrap().trim().to_string();
    assert_eq!(new_token.len(), 64);
    let _third = start(dir.path(), port, 3);
    assert_eq!(
        get(port, "/api/sites", &[("Authorization", &bearer)]).await,
        401
    );
    let new_bearer = format!("Bearer {new_token}");
    assert_eq!(
        get(port, "/api/sites", &[("Authorization", &new_bearer)]).await,
        200
    );
}
