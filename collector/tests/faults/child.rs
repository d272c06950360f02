//! The collector binary as a child process on a free 127.0.0.1 port, and a minimal
//! HTTP/1.1 client over a raw socket, so a killed server shows up as the connection errors
//! a browser would see.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The admin token the child collectors start with; [`request`] presents it.
pub const ADMIN_TOKEN: &str = "fault-admin-token-0123456789";

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The collector binary running as a child process.
pub struct Collector {
    pub port: u16,
    pub db: PathBuf,
    dir: PathBuf,
    args: Vec<String>,
    child: Option<std::process::Child>,
    starts: usize,
}

impl Collector {
    /// Starts the binary on `port` over `dir/spoor.db` with `args` added, and waits until
    /// it answers `/healthz`.
    pub async fn start(dir: &Path, port: u16, args: &[&str]) -> Collector {
        std::fs::create_dir_all(dir.join("www")).unwrap();
        std::fs::create_dir_all(dir.join("beacon")).unwrap();
        let mut c = Collector {
            port,
            db: dir.join("spoor.db"),
            dir: dir.to_path_buf(),
            args: args.iter().map(|s| s.to_string()).collect(),
            child: None,
            starts: 0,
        };
        c.restart().await;
        c
    }

    /// Starts the process again (same port, same database) and waits until it is ready.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "the collector is still running");
        self.starts += 1;
        let log =
            std::fs::File::create(self.dir.join(format!("collector-{}.log", self.starts))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_spoor-collector"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--db")
            .arg(&self.db)
            .arg("--www")
            .arg(self.dir.join("www"))
            .arg("--beacon")
            .arg(self.dir.join("beacon"))
            // The load comes from one address, far faster than a browser's.
            .args(["--rate-limit-per-second", "0"])
            .args(&self.args)
            .env("RUST_LOG", "warn")
            .env("SPOOR_ADMIN_TOKEN", ADMIN_TOKEN)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let ready_by = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(resp) = request(self.port, "GET", "/healthz", "").await {
                if resp.status == 200 {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "collector exited at start with {status}: see {}",
                    self.log()
                );
            }
            assert!(Instant::now() < ready_by, "collector not ready within 20 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The process id of the running child.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// `SIGKILL`: the process dies wherever it is, with no chance to flush anything.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Sends `SIGTERM` and waits up to `limit` for the exit; returns its status and how
    /// long it took.
    pub fn terminate(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        let mut child = self.child.take().unwrap();
        let sent = Instant::now();
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -TERM failed");
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return (status, sent.elapsed());
            }
            if sent.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no exit within {limit:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Resident memory of the child in KiB, from `/proc`.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// The path of the latest log file (for failure messages).
    pub fn log(&self) -> String {
        self.dir
            .join(format!("collector-{}.log", self.starts))
            .display()
            .to_string()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What came back from one request.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`) with the admin token,
/// bounded to 15 s.
pub async fn request(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<Response> {
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: SpoorFaultTest/1.0\r\n\
             Authorization: Bearer {ADMIN_TOKEN}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        parse(&raw)
    };
    tokio::time::timeout(Duration::from_secs(15), exchange)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

fn parse(raw: &[u8]) -> std::io::Result<Response> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("truncated response"))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let retry_after = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
        .map(|(_, v)| v.trim().to_string());
    Ok(Response {
        status,
        retry_after,
        body: body.to_string(),
    })
}
