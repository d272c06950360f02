//! The client address behind a real reverse proxy: Debian's nginx in front of the
//! collector, appending to `X-Forwarded-For`. Clients connect from distinct loopback
//! addresses (127.0.0.5, 127.0.0.6) so the proxy (127.0.0.1) and each client differ.
//!
//! The address itself is never stored, so the test observes it through the cookieless
//! visitor id, a keyed hash of (salt, site, address, user agent): same id, same address.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use spoor_e2e::RunningCollector;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// nginx from Debian's package, as a foreground process with its files in a temp dir.
struct Nginx {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Nginx {
    async fn start(upstream: &str) -> anyhow::Result<Nginx> {
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let d = dir.path().display();
        let conf = format!(
            "daemon off; master_process off; worker_processes 1;
             pid {d}/nginx.pid; error_log {d}/error.log;
             events {{ worker_connections 64; }}
             http {{
               access_log off;
               client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
               fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
               server {{
                 listen 127.0.0.1:{port};
                 location / {{
                   proxy_pass {upstream};
                   proxy_set_header Host $host;
                   proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                 }}
               }}
             }}"
        );
        let conf_path: PathBuf = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf)?;
        let binary = std::env::var("NGINX").unwrap_or_else(|_| "/usr/sbin/nginx".into());
        let child = Command::new(&binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {binary} (apt-get install nginx)"))?;
        let nginx = Nginx {
            port,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                bail!("nginx did not listen on {port}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(nginx)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POSTs one cookieless page view to `to` from source address `from`, with an optional
/// client-sent `X-Forwarded-For`; returns the status code.
async fn post_from(from: &str, to: SocketAddr, spoof: Option<&str>, n: u32) -> anyhow::Result<u16> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from.parse::<IpAddr>()?, 0))?;
    let mut stream = socket.connect(to).await?;
    let now = spoor_collector::clock::now_ms();
    let body = format!(
        r#"{{"site":"demo","events":[{{"id":"00000000-0000-4000-8000-{n:012x}","type":"pageview","url":"http://127.0.0.1/p{n}","ts":{now},"screen":"1280x720"}}]}}"#
    );
    let spoof = spoof
        .map(|s| format!("X-Forwarded-For: {s}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST /collect HTTP/1.1\r\nHost: {to}\r\nContent-Type: text/plain\r\nUser-Agent: ProxyTest/1.0\r\n{spoof}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        stream.read_to_string(&mut response),
    )
    .await??;
    let status = response.split(' ').nth(1).unwrap_or_default().parse()?;
    Ok(status)
}

/// The visitor of each stored event, in the order the events were numbered.
fn visitors(c: &RunningCollector) -> anyhow::Result<Vec<String>> {
    let rows = c.rows("SELECT visitor FROM events ORDER BY url")?;
    Ok(rows
        .iter()
        .map(|r| r["visitor"].as_str().unwrap_or_default().to_string())
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_behind_a_trusted_nginx_is_found_and_spoofing_changes_nothing()
-> anyhow::Result<()> {
    let collector = RunningCollector::start_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("a CIDR")];
    })
    .await?;
    let upstream: SocketAddr = collector.base_url.trim_start_matches("http://").parse()?;
    let nginx = Nginx::start(&collector.base_url).await?;
    let proxy = SocketAddr::from(([127, 0, 0, 1], nginx.port));

    assert_eq!(post_from("127.0.0.5", proxy, None, 1).await?, 204);
    assert_eq!(
        post_from("127.0.0.5", proxy, Some("1.2.3.4"), 2).await?,
        204
    );
    assert_eq!(
        post_from("127.0.0.5", proxy, Some("127.0.0.6"), 3).await?,
        204
    );
    assert_eq!(post_from("127.0.0.6", proxy, None, 4).await?, 204);
    // Straight to the collector, not through the proxy: the header is not believed.
    assert_eq!(
        post_from("127.0.0.5", upstream, Some("127.0.0.6"), 5).await?,
        204
    );

    let v = visitors(&collector)?;
    assert_eq!(v.len(), 5, "{v:?}");
    assert!(v.iter().all(|id| id.starts_with("fp_")), "{v:?}");
    assert_eq!(
        v[0], v[1],
        "a spoofed X-Forwarded-For does not change the client"
    );
    assert_eq!(v[0], v[2], "nor does claiming another client's address");
    assert_ne!(v[0], v[3], "two clients behind one proxy are told apart");
    assert_eq!(v[0], v[4], "an untrusted peer is its own address");
    drop(nginx);
    collector.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_trusted_proxies_everyone_behind_nginx_is_the_proxy() -> anyhow::Result<()> {
    let collector = RunningCollector::start().await?;
    let nginx = Nginx::start(&collector.base_url).await?;
    let proxy = SocketAddr::from(([127, 0, 0, 1], nginx.port));
    assert_eq!(post_from("127.0.0.5", proxy, None, 1).await?, 204);
    assert_eq!(post_from("127.0.0.6", proxy, None, 2).await?, 204);
    let v = visitors(&collector)?;
    assert_eq!(v.len(), 2);
    assert_eq!(
        v[0], v[1],
        "the header is ignored unless the proxy is trusted"
    );
    drop(nginx);
    collector.stop().await
}

/// Sends `request` (raw bytes, any header value) from source address `from` to `to`;
/// returns the status code.
async fn raw_from(from: &str, to: SocketAddr, request: &[u8]) -> anyhow::Result<u16> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from.parse::<IpAddr>()?, 0))?;
    let mut stream = socket.connect(to).await?;
    stream.write_all(request).await?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await??;
    let text = String::from_utf8_lossy(&response);
    Ok(text.split(' ').nth(1).unwrap_or_default().parse()?)
}

/// The critical bypass through the documented nginx setup: a client puts one byte that is
/// not ASCII in its own `X-Forwarded-For`, nginx appends the client's real address to the
/// same line. The collector must still find the client (not the proxy, 127.0.0.1), so the
/// reports stay closed and the client is counted as itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_ascii_forwarded_for_through_nginx_opens_nothing() -> anyhow::Result<()> {
    let collector = RunningCollector::start_with(|c| {
        c.admin_token = None;
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("a CIDR")];
    })
    .await?;
    let nginx = Nginx::start(&collector.base_url).await?;
    let proxy = SocketAddr::from(([127, 0, 0, 1], nginx.port));
    for (method, path) in [
        ("GET", "/api/summary?site=demo"),
        ("DELETE", "/api/erase?site=demo&visitor=v-1"),
        ("GET", "/metrics"),
    ] {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX-Forwarded-For: ",
            nginx.port
        )
        .into_bytes();
        request.push(0xff);
        request.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
        let status = raw_from("127.0.0.5", proxy, &request).await?;
        assert_eq!(status, 401, "{method} {path} through nginx");
    }
    // /collect still works, and counts the client as itself, not as the proxy.
    assert_eq!(post_from("127.0.0.5", proxy, None, 1).await?, 204);
    assert_eq!(post_from("127.0.0.5", proxy, Some("\u{e9}"), 2).await?, 204);
    assert_eq!(post_from("127.0.0.6", proxy, None, 3).await?, 204);
    let v = visitors(&collector)?;
    assert_eq!(v.len(), 3, "{v:?}");
    assert_eq!(
        v[0], v[1],
        "the unreadable hop does not hide the real client"
    );
    assert_ne!(v[0], v[2]);
    drop(nginx);
    collector.stop().await
}
