//! One real `clickhouse-server` for a test binary: started on first use as a plain
//! process on free 127.0.0.1 ports in a temporary directory, shared by the binary's tests
//! (each store gets a database of its own), and stopped when the test binary exits (the
//! server runs under a shell that kills it once the test process's end of a pipe closes).
//! The server runs the shipped configuration (`deploy/clickhouse/single/config.xml` and
//! `deploy/clickhouse/users.xml`: the `spoor` user with a password, zstd parts, memory
//! caps), its placeholders filled in here as `scripts/cluster.sh` fills them.
//!
//! Where `clickhouse-server` is not installed the tests that need it are skipped with a
//! message, except under `CI=true`, where `scripts/setup.sh` installs it and a missing
//! server is a failure.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// The running server: its HTTP URL, and the handle that keeps it alive.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    _dir: tempfile::TempDir,
    _guard: Mutex<Child>,
}

static SERVER: OnceLock<Option<Server>> = OnceLock::new();
static DATABASES: AtomicU32 = AtomicU32::new(0);

/// A free TCP port on 127.0.0.1 (released again for the server to bind).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The shared server, started on first call; `None` (after a message) where ClickHouse is
/// not installed and this is not CI.
pub fn server() -> Option<&'static Server> {
    SERVER.get_or_init(start).as_ref()
}

/// The test server's user (the shipped `users.xml` has no other).
pub const USER: &str = "spoor";
/// Its password.
pub const PASSWORD: &str = "spoor-test-password";

/// A new, empty database name on the shared server, as `--store`'s URL
/// (`http://127.0.0.1:PORT/tPID_N`); log in as [`USER`] with [`PASSWORD`].
pub fn new_database() -> Option<String> {
    let server = server()?;
    let n = DATABASES.fetch_add(1, Ordering::SeqCst);
    Some(format!("{}/t{}_{n}", server.url, std::process::id()))
}

/// Fills each `@NAME@` of a `deploy/` template; panics on one left over.
fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("@{name}@"), value);
    }
    // Any stretch between two `@` that is a NAME is a placeholder left over.
    let parts: Vec<&str> = out.split('@').collect();
    let inner = parts
        .get(1..parts.len().saturating_sub(1))
        .unwrap_or_default();
    let left = inner
        .iter()
        .find(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'));
    assert!(
        left.is_none(),
        "placeholder @{}@ left in a deploy template",
        left.copied().unwrap_or_default()
    );
    out
}

fn start() -> Option<Server> {
    let Some(binary) = ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !ci,
            "clickhouse-server is not installed (scripts/setup.sh installs it)"
        );
        eprintln!("skipped: clickhouse-server is not installed (run scripts/setup.sh)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display().to_string();
    let (http, tcp) = (free_port(), free_port());
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/clickhouse");
    let config = render(
        &std::fs::read_to_string(deploy.join("single/config.xml")).unwrap(),
        &[
            ("DIR", &root),
            ("LISTEN_HOST", "127.0.0.1"),
            ("HTTP_PORT", &http.to_string()),
            ("TCP_PORT", &tcp.to_string()),
        ],
    );
    let sha: String = Sha256::digest(PASSWORD.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let users = render(
        &std::fs::read_to_string(deploy.join("users.xml")).unwrap(),
        &[("SPOOR_PASSWORD_SHA256", &sha)],
    );
    std::fs::create_dir_all(dir.path().join("log")).unwrap();
    std::fs::write(dir.path().join("config.xml"), config).unwrap();
    std::fs::write(dir.path().join("users.xml"), users).unwrap();
    let server = format!("{binary} --config-file={root}/config.xml");
    // The shell starts the server, waits for its stdin to close (the test process ended,
    // however it ended) and then kills it.
    let mut guard = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{server} >{root}/stdout.log 2>&1 & pid=$!; cat >/dev/null; kill -9 $pid; {{ wait $pid; }} 2>/dev/null; rm -rf {root}"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{http}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if ping(http) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "clickhouse-server did not answer /ping within 30 s; see {root}/error.log"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Keep the pipe open for the process's life.
    let _ = guard.stdin.as_mut().map(|s| s.flush());
    Some(Server {
        url,
        _dir: dir,
        _guard: Mutex::new(guard),
    })
}

/// Whether `GET /ping` on `port` answers `Ok.`.
fn ping(port: u16) -> bool {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply.ends_with("Ok.\n")
}
