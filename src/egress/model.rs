//! The model endpoint drover serves to agents inside a sandbox, on the same proxy: a
//! request to `/model/<provider>/…` goes to that provider's upstream with the real API
//! key added here, on the host. The container only ever holds a placeholder, so a CLI
//! agent (Claude Code, Codex…) can call its model under `allowlist` with nothing else
//! allowed, and its key is nowhere in the sandbox.
//!
//! Requests are forwarded as they are (any path under the prefix, the client's headers
//! but its own credentials, the body whole up to `MAX_BODY`); the answer streams back
//! as it comes (server-sent events included), then the connection closes.

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Where model requests go on the proxy.
pub const MODEL_PATH: &str = "/model";
/// The key the container sees instead of the real one.
pub const PLACEHOLDER_KEY: &str = "drover-placeholder-key";
/// The largest request body forwarded (a long conversation is a few MiB).
const MAX_BODY: u64 = 16 << 20;
/// Model requests one proxy forwards at once (each may hold a body in memory).
const MAX_CALLS: usize = 8;

/// How a provider takes its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `x-api-key: KEY` (Anthropic).
    ApiKeyHeader,
    /// `Authorization: Bearer KEY` (OpenAI and compatible servers).
    Bearer,
}

/// One provider's upstream.
#[derive(Clone)]
pub struct Upstream {
    /// The path segment after `/model/` ("anthropic", "openai").
    pub name: String,
    /// Its base URL, without a trailing slash (`https://…` or a local `http://…`).
    pub base: String,
    pub auth: Auth,
    pub key: String,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        write!(f, "Upstream({} → {})", self.name, self.base)
    }
}

/// The model endpoint of one proxy.
pub struct ModelRoutes {
    upstreams: Vec<Upstream>,
    http: reqwest::Client,
    calls: tokio::sync::Semaphore,
}

impl ModelRoutes {
    pub fn new(upstreams: Vec<Upstream>) -> Result<ModelRoutes, String> {
        // Never a redirect: it would carry the key (an `x-api-key` header is not one
        // reqwest drops) to wherever the answer points.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("the model endpoint's HTTP client: {e}"))?;
        Ok(ModelRoutes {
            upstreams,
            http,
            calls: tokio::sync::Semaphore::new(MAX_CALLS),
        })
    }

    /// The upstream and the rest of the path for a request to `path`.
    fn route<'p>(&self, path: &'p str) -> Option<(&Upstream, &'p str)> {
        let rest = path.strip_prefix(MODEL_PATH)?.strip_prefix('/')?;
        let (name, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        let up = self.upstreams.iter().find(|u| u.name == name)?;
        Some((up, tail))
    }

    /// Forwards one request (its head parsed, `first` what followed it) and streams the
    /// answer back. A path no upstream serves gets a 404.
    pub(super) async fn forward<S>(
        &self,
        mut client: S,
        method: &str,
        path: &str,
        headers: &[(String, Vec<u8>)],
        body_len: u64,
        first: Vec<u8>,
    ) -> std::io::Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let Some((up, tail)) = self.route(path) else {
            return super::proxy::reply(&mut client, 404, "drover: no model upstream here").await;
        };
        if body_len > MAX_BODY {
            return super::proxy::reply(&mut client, 413, "drover: request body too large").await;
        }
        let Ok(_turn) = self.calls.acquire().await else {
            return Ok(());
        };
        let mut body = first;
        body.truncate(body_len as usize);
        let missing = body_len - body.len() as u64;
        (&mut client).take(missing).read_to_end(&mut body).await?;
        let Ok(method) = reqwest::Method::from_bytes(method.as_bytes()) else {
            return super::proxy::reply(&mut client, 400, "drover: bad method").await;
        };
        let mut req = self.http.request(method, format!("{}{tail}", up.base));
        for (name, value) in headers {
            let skip = [
                "x-api-key",
                "authorization",
                "content-length",
                "accept-encoding",
            ];
            if !skip.iter().any(|s| name.eq_ignore_ascii_case(s)) {
                req = req.header(name.as_str(), value.as_slice());
            }
        }
        req = match up.auth {
            Auth::ApiKeyHeader => req.header("x-api-key", &up.key),
            Auth::Bearer => req.bearer_auth(&up.key),
        };
        let resp = match req.body(body).send().await {
            Ok(r) => r,
            Err(e) => {
                let msg = format!("drover: the model upstream did not answer: {e}");
                return super::proxy::reply(&mut client, 502, &crate::redact::redact(&msg)).await;
            }
        };
        let status = resp.status();
        let mut head = format!(
            "HTTP/1.1 {} {}\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        );
        for (name, value) in resp.headers() {
            let hop = [
                "connection",
                "transfer-encoding",
                "content-length",
                "keep-alive",
            ];
            if !hop.iter().any(|h| name.as_str().eq_ignore_ascii_case(h))
                && let Ok(v) = value.to_str()
            {
                head.push_str(&format!("{name}: {v}\r\n"));
            }
        }
        head.push_str("Connection: close\r\n\r\n");
        client.write_all(head.as_bytes()).await?;
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    client.write_all(&bytes).await?;
                    client.flush().await?;
                }
                Err(_) => break,
            }
        }
        client.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_provider_and_never_shows_the_key() {
        let up = |name: &str| Upstream {
            name: name.into(),
            base: format!("https://{name}.test"),
            auth: Auth::Bearer,
            key: "sk-secret-value".into(),
        };
        let r = ModelRoutes::new(vec![up("anthropic"), up("openai")]).unwrap();
        let (u, tail) = r.route("/model/anthropic/v1/messages").unwrap();
        assert_eq!((u.name.as_str(), tail), ("anthropic", "/v1/messages"));
        let (u, tail) = r.route("/model/openai?x=1").unwrap();
        assert_eq!((u.name.as_str(), tail), ("openai", "?x=1"));
        assert!(r.route("/model/other/v1").is_none());
        assert!(r.route("/modelx/anthropic").is_none());
        assert!(!format!("{:?}", up("a")).contains("secret"));
    }
}
