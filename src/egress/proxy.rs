//! drover's egress proxy: HTTP `CONNECT` tunnels and plain HTTP requests in absolute
//! form, each checked against a `Policy` before anything leaves. No TLS interception:
//! a tunnel's first bytes are read only to check that a TLS client asks for the server
//! it connected to (its SNI), then bytes flow as they are. Names are resolved here,
//! never by the sandbox, and every address is checked.
//!
//! One request per connection for plain HTTP (the next one on a kept-alive connection
//! would pass unchecked), so requests go upstream with `Connection: close`. A refusal is
//! a `403` naming why, and a `Blocked` given to the caller's callback. Serves whatever
//! stream it is given (a Unix socket a container reaches, a TCP port in tests).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::model::ModelRoutes;
use super::policy::{Policy, Refusal};
use super::tls::{self, Hello};

/// Bytes of a request head (request line and headers) read at most.
const MAX_HEAD: usize = 16 << 10;
/// How long a client has to send its request head, and an upstream to answer a connect.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A request the policy refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// `CONNECT`, `GET`, …
    pub method: String,
    /// `host:port`.
    pub target: String,
    pub why: String,
}

/// Name lookups one proxy runs at once (each holds a thread of the blocking pool).
const MAX_LOOKUPS: usize = 16;

/// A proxy for one policy; `on_block` hears of every refusal.
pub struct Proxy {
    policy: Policy,
    on_block: Box<dyn Fn(Blocked) + Send + Sync>,
    lookups: tokio::sync::Semaphore,
    /// The model endpoint served at `/model/…` (requests in origin form), if any.
    model: Option<ModelRoutes>,
}

impl Proxy {
    pub fn new(policy: Policy, on_block: impl Fn(Blocked) + Send + Sync + 'static) -> Arc<Proxy> {
        Self::with_model(policy, None, on_block)
    }

    /// A proxy that also serves the model endpoint `model` (see `egress::model`).
    pub fn with_model(
        policy: Policy,
        model: Option<ModelRoutes>,
        on_block: impl Fn(Blocked) + Send + Sync + 'static,
    ) -> Arc<Proxy> {
        Arc::new(Proxy {
            policy,
            on_block: Box::new(on_block),
            lookups: tokio::sync::Semaphore::new(MAX_LOOKUPS),
            model,
        })
    }

    /// Serves one client connection to its end.
    pub async fn serve<S>(self: Arc<Self>, mut client: S) -> std::io::Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let Ok(head) = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut client)).await else {
            return Ok(());
        };
        let (head, rest) = match head? {
            Some(h) => h,
            None => return reply(&mut client, 400, "drover: not an HTTP proxy request").await,
        };
        let Some(req) = Request::parse(&head) else {
            return reply(&mut client, 400, "drover: not an HTTP proxy request").await;
        };
        if req.host.is_empty() {
            // Origin form: a request to the proxy itself, which only the model endpoint
            // answers.
            let Some(m) = &self.model else {
                return reply(&mut client, 400, "drover: not an HTTP proxy request").await;
            };
            let refused = m
                .forward(client, &req.method, &req.path, &req.headers, req.body, rest)
                .await?;
            if let Some(why) = refused {
                (self.on_block)(Blocked {
                    method: clean(&req.method),
                    target: clean(&format!("model endpoint {}", req.path)),
                    why: clean(&why),
                });
            }
            return Ok(());
        }
        let target = format!("{}:{}", req.host, req.port);
        let upstream = match self.check(&req).await {
            Ok(up) => up,
            Err(refusal) => {
                return self
                    .refuse(&mut client, &req.method, &target, refusal)
                    .await;
            }
        };
        if req.method == "CONNECT" {
            self.tunnel(client, upstream, &req, rest).await
        } else {
            forward(client, upstream, &req, rest).await
        }
    }

    /// The policy's verdict, and the connection to an admitted address.
    async fn check(&self, req: &Request) -> Result<TcpStream, Refusal> {
        self.policy.admits_method(&req.method)?;
        self.policy.admits_name(&req.host)?;
        let host = req.host.trim_start_matches('[').trim_end_matches(']');
        let Ok(Ok(_turn)) = tokio::time::timeout(CONNECT_TIMEOUT, self.lookups.acquire()).await
        else {
            return Err(Refusal::Unreachable);
        };
        let addrs: Vec<SocketAddr> =
            tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::lookup_host((host, req.port)))
                .await
                .ok()
                .and_then(Result::ok)
                .map(Iterator::collect)
                .unwrap_or_default();
        let mut last = Refusal::NotAllowed;
        let mut admitted = false;
        for addr in addrs {
            if let Err(r) = self.policy.admits_addr(addr.ip()) {
                last = r;
                continue;
            }
            admitted = true;
            if let Ok(Ok(s)) = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await
            {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
        }
        match admitted {
            // Allowed, but nothing answered: not the policy's doing.
            true => Err(Refusal::Unreachable),
            false => Err(last),
        }
    }

    async fn refuse<S: AsyncWrite + Unpin>(
        &self,
        client: &mut S,
        method: &str,
        target: &str,
        refusal: Refusal,
    ) -> std::io::Result<()> {
        if refusal == Refusal::Unreachable {
            return reply(client, 502, &format!("drover: {target} did not answer")).await;
        }
        let why = refusal.to_string();
        (self.on_block)(Blocked {
            method: clean(method),
            target: clean(target),
            why: clean(&why),
        });
        reply(
            client,
            403,
            &format!("drover: blocked {method} {target}: {why}"),
        )
        .await
    }

    /// A `CONNECT` tunnel: established, then the client's first record is read to see
    /// which server it asks for. Only TLS goes through, asking for the host the tunnel
    /// was opened to (or, to an address, for no name or a name the policy admits).
    async fn tunnel<S>(
        &self,
        mut client: S,
        mut upstream: TcpStream,
        req: &Request,
        mut first: Vec<u8>,
    ) -> std::io::Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await?;
        let read = tokio::time::timeout(HEAD_TIMEOUT, tls::read_hello(&mut client, &mut first));
        let hello = match read.await {
            Ok(Ok(h)) => h,
            _ => return Ok(()),
        };
        let host = req.host.trim_end_matches('.');
        let to_address = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok();
        let refusal = match hello {
            Hello::Named(name) if name == host => None,
            Hello::Named(name) if to_address && self.policy.admits_name(&name).is_ok() => None,
            Hello::Named(name) => Some(Refusal::Sni(name)),
            Hello::Unnamed if to_address => None,
            Hello::Unnamed => Some(Refusal::Sni("no server name".into())),
            Hello::Unreadable => Some(Refusal::NotTls),
        };
        if let Some(r) = refusal {
            (self.on_block)(Blocked {
                method: "CONNECT".into(),
                target: clean(&format!("{}:{}", req.host, req.port)),
                why: clean(&r.to_string()),
            });
            return Ok(());
        }
        upstream.write_all(&first).await?;
        tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
        Ok(())
    }
}

/// Text for a transcript from what a client sent: no control characters, bounded.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(256)
        .collect()
}

/// A proxy request's head, as far as the proxy needs it.
struct Request {
    method: String,
    host: String,
    port: u16,
    /// Origin-form target (`/path?q`) for plain HTTP.
    path: String,
    /// Bytes of body the client declared (`Content-Length`).
    body: u64,
    /// The headers to send upstream (hop-by-hop ones and `Host` left out).
    headers: Vec<(String, Vec<u8>)>,
}

impl Request {
    fn parse(head: &[u8]) -> Option<Request> {
        let mut headers = [httparse::EMPTY_HEADER; 96];
        let mut req = httparse::Request::new(&mut headers);
        let httparse::Status::Complete(_) = req.parse(head).ok()? else {
            return None;
        };
        let method = req.method?.to_ascii_uppercase();
        let target = req.path?;
        let header = |name: &str| {
            req.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .and_then(|h| std::str::from_utf8(h.value).ok())
        };
        let count = |name: &str| {
            req.headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .count()
        };
        // One length or none, and no other framing: nothing to disagree about upstream.
        if count("content-length") > 1 || count("transfer-encoding") > 0 {
            return None;
        }
        let body = match header("content-length") {
            Some(v) => v.trim().parse().ok()?,
            None => 0,
        };
        let hop = [
            "host",
            "connection",
            "proxy-connection",
            "proxy-authorization",
            "keep-alive",
            "upgrade",
            "te",
            "trailer",
        ];
        let headers = req
            .headers
            .iter()
            .filter(|h| !hop.iter().any(|n| h.name.eq_ignore_ascii_case(n)))
            .map(|h| (h.name.to_string(), h.value.to_vec()))
            .collect();
        let (authority, path, default_port) = if method == "CONNECT" {
            (target, "", 443)
        } else if target.starts_with('/') {
            // Origin form (see `Proxy::serve`): no host.
            return Some(Request {
                method,
                host: String::new(),
                port: 0,
                path: target.to_string(),
                body,
                headers,
            });
        } else {
            let rest = target.strip_prefix("http://")?;
            let cut = rest.find(['/', '?']).unwrap_or(rest.len());
            (&rest[..cut], &rest[cut..], 80)
        };
        let (host, port) = split_authority(authority, default_port)?;
        Some(Request {
            method,
            host,
            port,
            path: if path.is_empty() {
                "/".into()
            } else {
                path.to_string()
            },
            body,
            headers,
        })
    }
}

/// `host[:port]` or `[v6]:port`, without user info.
fn split_authority(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, rest) = v6.split_once(']')?;
        (format!("[{h}]"), rest.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok().filter(|&p| p != 0)?,
        None => default_port,
    };
    (!host.is_empty()).then_some((host.to_ascii_lowercase(), port))
}

/// The request head (through the blank line) and what came after it; `None` when the
/// client sent something else or too much.
async fn read_head<S: AsyncRead + Unpin>(s: &mut S) -> std::io::Result<Option<(Vec<u8>, Vec<u8>)>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok(Some((buf, rest)));
        }
        if buf.len() > MAX_HEAD {
            return Ok(None);
        }
    }
}

/// Sends a plain HTTP request upstream in origin form, its declared body, and the answer
/// back; nothing more from the client goes upstream.
async fn forward<S>(
    mut client: S,
    mut upstream: TcpStream,
    req: &Request,
    first: Vec<u8>,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // Rebuilt from what was parsed: the upstream sees the host the policy admitted.
    let mut out = format!("{} {} HTTP/1.1\r\n", req.method, req.path).into_bytes();
    let host = match req.port {
        80 => req.host.clone(),
        p => format!("{}:{p}", req.host),
    };
    out.extend_from_slice(format!("Host: {host}\r\n").as_bytes());
    for (name, value) in &req.headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    upstream.write_all(&out).await?;
    let already = (first.len() as u64).min(req.body);
    upstream.write_all(&first[..already as usize]).await?;
    let mut body = (&mut client).take(req.body - already);
    tokio::io::copy(&mut body, &mut upstream).await?;
    tokio::io::copy(&mut upstream, &mut client).await?;
    client.shutdown().await
}

pub(super) async fn reply<S: AsyncWrite + Unpin>(
    s: &mut S,
    code: u16,
    text: &str,
) -> std::io::Result<()> {
    let reason = match code {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        413 => "Content Too Large",
        _ => "Bad Gateway",
    };
    let msg = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{text}\n",
        text.len() + 1
    );
    s.write_all(msg.as_bytes()).await?;
    s.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_authorities() {
        let r =
            Request::parse(b"CONNECT Pkg.Example.org:8443 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(
            (r.method.as_str(), r.host.as_str(), r.port),
            ("CONNECT", "pkg.example.org", 8443)
        );
        let r = Request::parse(b"post http://[::1]:81/a?b HTTP/1.1\r\nContent-Length: 3\r\n\r\n")
            .unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.path.as_str(), r.body),
            ("[::1]", 81, "/a?b", 3)
        );
        // Origin form: to the proxy itself (only the model endpoint answers it).
        let r = Request::parse(b"POST /model/anthropic/v1/messages HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(
            (r.host.as_str(), r.path.as_str()),
            ("", "/model/anthropic/v1/messages")
        );
        let r = Request::parse(b"GET http://h.test HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!((r.port, r.path.as_str()), (80, "/"));
        for bad in [
            &b"GET https://h.test/ HTTP/1.1\r\n\r\n"[..],
            b"CONNECT user@h.test:443 HTTP/1.1\r\n\r\n",
            b"CONNECT h.test:0 HTTP/1.1\r\n\r\n",
            b"CONNECT h.test:99999 HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                Request::parse(bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
