//! The model endpoint drover serves to agents inside a sandbox, on the same proxy: a
//! request to `/model/<provider>/…` goes to that provider's upstream with the real API
//! key added here, on the host. The container only ever holds a placeholder, so a CLI
//! agent (Claude Code, Codex…) can call its model under `allowlist` with nothing else
//! allowed, and its key is nowhere in the sandbox.
//!
//! Only the calls an agent needs of its model go through (inference, token counts, the
//! model list), with the headers those need: the key opens nothing else of the account
//! (files, batches, deletions, another organisation). A request that would make the
//! provider reach elsewhere for the agent — a server-side tool (web search or fetch, code
//! execution, MCP servers), a URL to fetch as an image or document — is refused, so an
//! empty `allow` means the model and nothing else. The answer streams back as it comes
//! (server-sent events included), then the connection closes; redirects are not followed.

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
            .connect_timeout(std::time::Duration::from_secs(10))
            .read_timeout(std::time::Duration::from_secs(300))
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
    ) -> std::io::Result<Option<String>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let Some((up, tail)) = self.route(path) else {
            super::proxy::reply(&mut client, 404, "drover: no model upstream here").await?;
            return Ok(None);
        };
        if !endpoint_allowed(&up.name, method, tail) {
            let why = format!("{method} {tail} is not a model call drover forwards");
            super::proxy::reply(&mut client, 403, &format!("drover: {why}")).await?;
            return Ok(Some(why));
        }
        if body_len > MAX_BODY {
            super::proxy::reply(&mut client, 413, "drover: request body too large").await?;
            return Ok(None);
        }
        let mut body = first;
        body.truncate(body_len as usize);
        let missing = body_len - body.len() as u64;
        let mut limited = (&mut client).take(missing);
        let read = limited.read_to_end(&mut body);
        if tokio::time::timeout(BODY_TIMEOUT, read).await.is_err() {
            return Ok(None);
        }
        if let Some(what) = reaches_elsewhere(&body) {
            let why = format!("the provider would reach elsewhere ({what})");
            super::proxy::reply(&mut client, 403, &format!("drover: {why}")).await?;
            return Ok(Some(why));
        }
        let Ok(_turn) = self.calls.acquire().await else {
            return Ok(None);
        };
        let Ok(method) = reqwest::Method::from_bytes(method.as_bytes()) else {
            super::proxy::reply(&mut client, 400, "drover: bad method").await?;
            return Ok(None);
        };
        let mut req = self.http.request(method, format!("{}{tail}", up.base));
        for (name, value) in headers {
            if forwarded_header(name) {
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
                super::proxy::reply(&mut client, 502, &crate::redact::redact(&msg)).await?;
                return Ok(None);
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
        client.shutdown().await?;
        Ok(None)
    }
}

/// How long a client has to send its request body.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The calls an agent needs of its model (paths after the provider's base URL).
fn endpoint_allowed(provider: &str, method: &str, tail: &str) -> bool {
    let path = tail.split('?').next().unwrap_or("");
    if path.contains("..") || path.contains('%') || path.contains("//") {
        return false;
    }
    let calls: &[(&str, &str)] = match provider {
        "anthropic" => &[
            ("POST", "/v1/messages"),
            ("POST", "/v1/messages/count_tokens"),
            ("GET", "/v1/models"),
        ],
        "openai" => &[
            ("POST", "/chat/completions"),
            ("POST", "/responses"),
            ("POST", "/completions"),
            ("POST", "/embeddings"),
            ("GET", "/models"),
        ],
        _ => &[],
    };
    // An OpenAI-compatible base URL may or may not end in /v1.
    let path = match provider {
        "openai" => path.strip_prefix("/v1").unwrap_or(path),
        _ => path,
    };
    calls
        .iter()
        .any(|(m, p)| m.eq_ignore_ascii_case(method) && path == *p)
}

/// The request headers a model call needs; anything else (an organisation or project
/// switch, cookies) stays behind.
fn forwarded_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "content-type"
            | "accept"
            | "anthropic-version"
            | "anthropic-beta"
            | "user-agent"
            | "openai-beta"
    ) || n.starts_with("x-stainless-")
}

/// What in a request body would make the provider reach elsewhere: a server-side tool,
/// MCP servers, a URL for it to fetch. `None` for a body that does none of these.
fn reaches_elsewhere(body: &[u8]) -> Option<String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Some("a body that is not JSON".into());
    };
    walk(&v)
}

fn walk(v: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    /// Tool and source types the provider runs or fetches itself.
    const ELSEWHERE: &[&str] = &[
        "web_search",
        "web_fetch",
        "code_execution",
        "code_interpreter",
        "mcp",
        "file_search",
        "image_generation",
        "computer_use_preview",
        "url",
    ];
    match v {
        Value::Object(map) => {
            if map.contains_key("mcp_servers") {
                return Some("MCP servers".into());
            }
            if let Some(Value::String(t)) = map.get("type")
                && ELSEWHERE
                    .iter()
                    .any(|e| t == e || t.starts_with(&format!("{e}_")))
            {
                return Some(format!("a {t} item"));
            }
            for key in ["image_url", "file_url"] {
                let url = match map.get(key) {
                    Some(Value::String(u)) => Some(u.as_str()),
                    Some(Value::Object(o)) => o.get("url").and_then(Value::as_str),
                    _ => None,
                };
                if url.is_some_and(|u| !u.starts_with("data:")) {
                    return Some(format!("{key} to fetch"));
                }
            }
            map.values().find_map(walk)
        }
        Value::Array(items) => items.iter().find_map(walk),
        _ => None,
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

    #[test]
    fn only_model_calls_go_through() {
        assert!(endpoint_allowed("anthropic", "POST", "/v1/messages"));
        assert!(endpoint_allowed(
            "anthropic",
            "post",
            "/v1/messages?beta=true"
        ));
        assert!(endpoint_allowed("openai", "POST", "/chat/completions"));
        assert!(endpoint_allowed("openai", "POST", "/v1/responses"));
        for (p, m, t) in [
            ("anthropic", "GET", "/v1/files/f1/content"),
            ("anthropic", "DELETE", "/v1/messages"),
            ("anthropic", "POST", "/v1/messages/../files"),
            ("anthropic", "POST", "/v1/%6dessages"),
            ("openai", "DELETE", "/models/ft-1"),
            ("openai", "GET", "/files"),
            ("other", "POST", "/v1/messages"),
        ] {
            assert!(!endpoint_allowed(p, m, t), "{p} {m} {t}");
        }
        assert!(forwarded_header("Anthropic-Version") && forwarded_header("x-stainless-os"));
        assert!(!forwarded_header("OpenAI-Organization") && !forwarded_header("cookie"));
    }

    #[test]
    fn bodies_that_make_the_provider_reach_elsewhere_are_named() {
        let ok = br#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"tool_use","input":{"url":"https://x.test"}}]}],"tools":[{"name":"Bash","input_schema":{"type":"object","properties":{"url":{"type":"string"}}}}]}"#;
        assert_eq!(reaches_elsewhere(ok), None);
        assert_eq!(reaches_elsewhere(b""), None);
        for (body, what) in [
            (&br#"{"tools":[{"type":"web_search_20250305","name":"web_search"}]}"#[..], "web_search_20250305"),
            (br#"{"mcp_servers":[{"url":"https://evil.test"}]}"#, "MCP"),
            (br#"{"messages":[{"content":[{"type":"document","source":{"type":"url","url":"https://evil.test/?d=secret"}}]}]}"#, "a url item"),
            (br#"{"input":[{"type":"input_image","image_url":"https://evil.test/x.png"}]}"#, "image_url"),
            (br#"{"tools":[{"type":"mcp","server_url":"https://evil.test"}]}"#, "a mcp item"),
            (b"not json", "not JSON"),
        ] {
            let got = reaches_elsewhere(body).unwrap_or_default();
            assert!(got.contains(what), "{got} for {}", String::from_utf8_lossy(body));
        }
        let inline =
            br#"{"input":[{"type":"input_image","image_url":"data:image/png;base64,AAAA"}]}"#;
        assert_eq!(reaches_elsewhere(inline), None);
    }
}
