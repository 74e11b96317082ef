//! The egress proxy on loopback: the latency it adds to one plain HTTP request (a new
//! connection each time, as a package manager's fetches through a proxy are), and 100
//! CONNECT tunnels at once through one proxy, each carrying 64 KiB each way.
//!
//! Run: `cargo bench --bench proxy`. No Docker. Not a test: nothing here passes or
//! fails on a number.

#![allow(unreachable_pub, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use drover::egress::{Policy, Proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const REQUESTS: usize = 1000;
const TUNNELS: usize = 100;
const TUNNEL_BYTES: usize = 64 << 10;

/// An HTTP server answering `ok` to each request, closing after it.
async fn http_upstream() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    port
}

/// An echo server.
async fn echo_upstream() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.into_split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    port
}

async fn proxy() -> u16 {
    let policy = Policy::new(false, &["127.0.0.1".to_string()], None).unwrap();
    let proxy = Proxy::new(policy, |_| {});
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(proxy.clone().serve(s));
        }
    });
    port
}

async fn request(port: u16, head: &[u8]) -> Duration {
    let t = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(head).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    assert!(out.ends_with(b"ok"), "{}", String::from_utf8_lossy(&out));
    t.elapsed()
}

fn median_us(v: &mut [Duration]) -> (f64, f64) {
    v.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    (us(v[v.len() / 2]), us(v[v.len() * 99 / 100]))
}

/// A minimal TLS ClientHello with no server name (a client connecting to an address):
/// a tunnel carries TLS only.
fn client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[7u8; 32]);
    body.push(0);
    body.extend_from_slice(&[0x00, 0x02, 0xc0, 0x2f, 0x01, 0x00, 0x00, 0x00]);
    let mut hs = vec![0x01];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    record.extend_from_slice(&hs);
    record
}

async fn tunnel(proxy: u16, up: u16) -> bool {
    let mut s = TcpStream::connect(("127.0.0.1", proxy)).await.unwrap();
    s.write_all(format!("CONNECT 127.0.0.1:{up} HTTP/1.1\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = [0u8; 39];
    s.read_exact(&mut head).await.unwrap();
    assert!(head.starts_with(b"HTTP/1.1 200"));
    let mut data = client_hello();
    let hello = data.len();
    data.resize(hello + TUNNEL_BYTES, b'x');
    let (mut r, mut w) = s.into_split();
    let writer = tokio::spawn(async move { w.write_all(&data).await.is_ok() });
    let mut back = vec![0u8; hello + TUNNEL_BYTES];
    let read = r.read_exact(&mut back).await.is_ok();
    writer.await.unwrap() && read && back[hello..].iter().all(|&b| b == b'x')
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let up = http_upstream().await;
        let px = proxy().await;
        let direct_head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_vec();
        let proxied_head = format!("GET http://127.0.0.1:{up}/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        let (mut direct, mut proxied) = (Vec::new(), Vec::new());
        for _ in 0..50 {
            request(up, &direct_head).await;
            request(px, proxied_head.as_bytes()).await;
        }
        // Alternated, so the machine's noise falls on both.
        for _ in 0..REQUESTS {
            direct.push(request(up, &direct_head).await);
            proxied.push(request(px, proxied_head.as_bytes()).await);
        }
        let (d50, d99) = median_us(&mut direct);
        let (p50, p99) = median_us(&mut proxied);

        let echo = echo_upstream().await;
        let t = Instant::now();
        let all: Vec<_> = (0..TUNNELS)
            .map(|_| tokio::spawn(tunnel(px, echo)))
            .collect();
        let mut ok = 0;
        for h in all {
            ok += usize::from(h.await.unwrap());
        }
        let tunnels = t.elapsed();

        println!("{REQUESTS} requests alternated, loopback, a new connection each\n");
        println!("| figure | p50 | p99 |");
        println!("|---|---|---|");
        println!("| direct request | {d50:.0} µs | {d99:.0} µs |");
        println!("| through the proxy | {p50:.0} µs | {p99:.0} µs |");
        println!("| added by the proxy (p50) | {:.0} µs | |", p50 - d50);
        println!(
            "| {TUNNELS} tunnels at once, 64 KiB each way | {:.0} ms for all, {ok}/{TUNNELS} intact | |",
            tunnels.as_secs_f64() * 1000.0
        );
    });
}
