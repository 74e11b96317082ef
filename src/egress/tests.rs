//! The proxy against real sockets on loopback: an upstream the test serves, a client
//! speaking HTTP proxy requests. Each refusal has its positive control first.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{Blocked, Policy, Proxy};

/// A proxy on a loopback port for `allow` (and `methods`), and what it blocked.
async fn proxy(
    open: bool,
    allow: &[&str],
    methods: Option<&[&str]>,
) -> (u16, Arc<Mutex<Vec<Blocked>>>) {
    let allow: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
    let methods: Option<Vec<String>> = methods.map(|m| m.iter().map(|s| s.to_string()).collect());
    let policy = Policy::new(open, &allow, methods.as_deref()).unwrap();
    let blocked = Arc::new(Mutex::new(Vec::new()));
    let seen = blocked.clone();
    let proxy = Proxy::new(policy, move |b| seen.lock().unwrap().push(b));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(proxy.clone().serve(s));
        }
    });
    (port, blocked)
}

/// An upstream that answers every connection with what it read first, prefixed.
async fn upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let body = String::from_utf8_lossy(&buf[..n]).into_owned();
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(answer.as_bytes()).await;
            });
        }
    });
    port
}

/// Sends `request` to the proxy and reads everything it answers.
async fn ask(proxy: u16, request: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", proxy)).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// A minimal TLS 1.2 ClientHello record naming `name`.
fn client_hello(name: &str) -> Vec<u8> {
    hello_with(&sni_ext(name))
}

/// The server name extension for `name`.
fn sni_ext(name: &str) -> Vec<u8> {
    let n = name.as_bytes();
    let mut sni = vec![0x00, 0x00];
    let list_len = (n.len() + 3) as u16;
    sni.extend_from_slice(&(list_len + 2).to_be_bytes());
    sni.extend_from_slice(&list_len.to_be_bytes());
    sni.push(0);
    sni.extend_from_slice(&(n.len() as u16).to_be_bytes());
    sni.extend_from_slice(n);
    sni
}

/// A ClientHello record with these extensions.
fn hello_with(sni: &[u8]) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[7u8; 32]);
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x02, 0xc0, 0x2f]); // one cipher suite
    body.extend_from_slice(&[0x01, 0x00]); // no compression
    body.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    body.extend_from_slice(sni);
    let mut hs = vec![0x01];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    record.extend_from_slice(&hs);
    record
}

#[test]
fn hellos_named_unnamed_and_hidden() {
    use super::tls::{Hello, hello};
    assert_eq!(
        hello(&client_hello("Pkg.test")),
        Hello::Named("pkg.test".into())
    );
    assert_eq!(hello(&hello_with(&[])), Hello::Unnamed);
    // An encrypted ClientHello hides the real name behind the one shown.
    let mut ech = sni_ext("pkg.test");
    ech.extend_from_slice(&[0xfe, 0x0d, 0x00, 0x01, 0x00]);
    assert_eq!(hello(&hello_with(&ech)), Hello::Unreadable);
    assert_eq!(hello(b"\x16\x03\x01\x00\x02ab"), Hello::Unreadable);
    assert_eq!(hello(b"SSH-2.0-OpenSSH\r\n"), Hello::Unreadable);
}

#[tokio::test]
async fn net_03_a_tunnel_to_an_allowed_host_and_none_to_another() {
    let up = upstream().await;
    let (port, blocked) = proxy(false, &["127.0.0.1"], None).await;
    // Positive control: the allowed upstream answers through the tunnel (a TLS hello
    // to an address names no server).
    let mut req =
        format!("CONNECT 127.0.0.1:{up} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").into_bytes();
    req.extend_from_slice(&hello_with(&[]));
    let got = ask(port, &req).await;
    assert!(
        got.starts_with("HTTP/1.1 200 Connection Established"),
        "{got}"
    );
    assert!(got.contains("HTTP/1.1 200 OK"), "{got}");
    assert!(blocked.lock().unwrap().is_empty());

    let got = ask(port, b"CONNECT elsewhere.test:443 HTTP/1.1\r\n\r\n").await;
    assert!(got.starts_with("HTTP/1.1 403"), "{got}");
    assert!(
        got.contains("blocked CONNECT elsewhere.test:443: not on the allowlist"),
        "{got}"
    );
    let b = blocked.lock().unwrap().clone();
    assert_eq!(b.len(), 1);
    assert_eq!(
        (b[0].method.as_str(), b[0].target.as_str()),
        ("CONNECT", "elsewhere.test:443")
    );
}

#[tokio::test]
async fn net_03_a_tunnel_carries_no_handshake_for_another_server() {
    let up = upstream().await;
    let (port, blocked) = proxy(false, &["localhost", "127.0.0.1"], None).await;
    // Positive control: a hello for the server it connected to goes through.
    let mut req = format!("CONNECT localhost:{up} HTTP/1.1\r\n\r\n").into_bytes();
    req.extend_from_slice(&client_hello("localhost"));
    let got = ask(port, &req).await;
    assert!(
        got.contains("HTTP/1.1 200 OK"),
        "the upstream answered: {got}"
    );

    // Another server's name, no name, or not TLS at all: the tunnel ends.
    for first in [
        client_hello("example.com"),
        hello_with(&[]),
        b"SSH-2.0-OpenSSH_9.2\r\n".to_vec(),
    ] {
        let mut req = format!("CONNECT localhost:{up} HTTP/1.1\r\n\r\n").into_bytes();
        req.extend_from_slice(&first);
        let got = ask(port, &req).await;
        assert!(
            !got.contains("HTTP/1.1 200 OK"),
            "it reached the upstream: {got}"
        );
    }
    let b = blocked.lock().unwrap().clone();
    assert_eq!(b.len(), 3, "{b:?}");
    assert!(b[0].why.contains("example.com"), "{b:?}");
    assert!(b[1].why.contains("no server name"), "{b:?}");
    assert!(b[2].why.contains("TLS only"), "{b:?}");
}

#[tokio::test]
async fn net_07_methods_are_enforced_on_plain_http() {
    let up = upstream().await;
    let (port, blocked) = proxy(false, &["127.0.0.1"], Some(&["GET", "HEAD"])).await;
    let get = format!(
        "GET http://127.0.0.1:{up}/simple/pkg/?q=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nProxy-Connection: keep-alive\r\n\r\n"
    );
    let got = ask(port, get.as_bytes()).await;
    assert!(got.starts_with("HTTP/1.1 200 OK"), "{got}");
    // The upstream saw an origin-form request, closing.
    assert!(got.contains("GET /simple/pkg/?q=1 HTTP/1.1\r\n"), "{got}");
    assert!(
        got.contains("Connection: close") && !got.contains("Proxy-Connection"),
        "{got}"
    );
    // The upstream is told the host the policy admitted, whatever the client said.
    let spoof = format!("GET http://127.0.0.1:{up}/ HTTP/1.1\r\nHost: elsewhere.test\r\n\r\n");
    let got = ask(port, spoof.as_bytes()).await;
    assert!(got.contains(&format!("Host: 127.0.0.1:{up}\r\n")), "{got}");
    assert!(!got.contains("elsewhere.test"), "{got}");
    // Framing the upstream might read otherwise is refused.
    for framing in [
        "Transfer-Encoding: chunked\r\n",
        "Content-Length: 1\r\nContent-Length: 2\r\n",
    ] {
        let req = format!("GET http://127.0.0.1:{up}/ HTTP/1.1\r\n{framing}\r\n");
        assert!(ask(port, req.as_bytes()).await.starts_with("HTTP/1.1 400"));
    }

    let post =
        format!("POST http://127.0.0.1:{up}/upload HTTP/1.1\r\nContent-Length: 4\r\n\r\ndata");
    let got = ask(port, post.as_bytes()).await;
    assert!(got.starts_with("HTTP/1.1 403"), "{got}");
    assert!(got.contains("method POST is not allowed"), "{got}");
    // A tunnel hides its method: under a methods limit it needs CONNECT listed.
    let got = ask(
        port,
        format!("CONNECT 127.0.0.1:{up} HTTP/1.1\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(got.starts_with("HTTP/1.1 403"), "{got}");
    assert_eq!(blocked.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn net_02_internal_addresses_are_refused_even_when_open() {
    let up = upstream().await;
    let (port, blocked) = proxy(true, &[], None).await;
    // A name that resolves to loopback (DNS rebinding) is refused like the address.
    for target in [
        format!("127.0.0.1:{up}"),
        format!("localhost:{up}"),
        "169.254.169.254:80".to_string(),
        "10.0.0.1:80".to_string(),
        "[::1]:80".to_string(),
    ] {
        let got = ask(
            port,
            format!("CONNECT {target} HTTP/1.1\r\n\r\n").as_bytes(),
        )
        .await;
        assert!(got.starts_with("HTTP/1.1 403"), "{target}: {got}");
        assert!(
            got.contains("private, loopback or host address"),
            "{target}: {got}"
        );
    }
    assert_eq!(blocked.lock().unwrap().len(), 5);
    // Named explicitly, the same upstream is reached (the positive control).
    let (port, _) = proxy(true, &["127.0.0.1"], None).await;
    let mut req = format!("CONNECT 127.0.0.1:{up} HTTP/1.1\r\n\r\n").into_bytes();
    req.extend_from_slice(&hello_with(&[]));
    let got = ask(port, &req).await;
    assert!(got.contains("200 OK"), "{got}");
}

#[tokio::test]
async fn what_is_not_a_proxy_request_gets_400() {
    let (port, blocked) = proxy(true, &[], None).await;
    for req in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"\x16\x03\x01garbage\r\n\r\n",
    ] {
        let got = ask(port, req).await;
        assert!(got.starts_with("HTTP/1.1 400"), "{got}");
    }
    let huge = format!("GET http://a.test/{} HTTP/1.1\r\n", "x".repeat(20_000));
    assert!(ask(port, huge.as_bytes()).await.starts_with("HTTP/1.1 400"));
    assert!(blocked.lock().unwrap().is_empty());
}
