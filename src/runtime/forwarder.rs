//! How a container behind drover's egress proxy reaches it: the host directory holding
//! the proxy's Unix socket is mounted read-only at `PROXY_DIR`, and a forwarder (socat)
//! inside listens on 127.0.0.1:`PROXY_PORT` and carries each connection to that socket.
//! The container has no network of its own, so this is its only way out, and the proxy
//! decides what that reaches. The usual proxy variables point tools there.
//!
//! The forwarder is started by an exec, again after drover ends a container's leftover
//! processes (it is one of them), and checked by asking the proxy for a host no policy
//! admits: a 403 from drover proves the path and the policy are in force (NET-05).

use std::time::Duration;

use super::{ExecSpec, Runtime, RuntimeError};

/// Where the proxy's socket directory is mounted inside the container.
pub const PROXY_DIR: &str = "/run/drover";
/// The proxy's socket, in the directory drover makes for it.
pub const PROXY_SOCKET: &str = "proxy.sock";
/// The forwarder's port on the container's loopback.
pub const PROXY_PORT: u16 = 3128;
/// A new host for the self-test to ask for: `.invalid` never resolves, and a fresh name
/// each time lets the proxy tell its own self-test from anything else.
pub fn probe_name() -> String {
    format!("drover-self-test-{:016x}.invalid", rand::random::<u64>())
}

/// Whether `target` (`host:port`) is a self-test's.
pub fn is_probe(target: &str) -> bool {
    target
        .strip_prefix("drover-self-test-")
        .and_then(|t| t.strip_suffix(".invalid:443"))
        .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The variables that send common tools (curl, pip, npm, git, cargo, go) to the proxy.
pub fn proxy_env() -> Vec<String> {
    let url = format!("http://127.0.0.1:{PROXY_PORT}");
    let mut env = Vec::new();
    for name in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
        env.push(format!("{name}={url}"));
        env.push(format!("{}={url}", name.to_ascii_lowercase()));
    }
    env.push("NO_PROXY=localhost,127.0.0.1,::1".into());
    env.push("no_proxy=localhost,127.0.0.1,::1".into());
    env.push(format!("npm_config_proxy={url}"));
    env.push(format!("npm_config_https_proxy={url}"));
    env.push(format!("CARGO_HTTP_PROXY={url}"));
    env
}

/// Starts the forwarder (unless it runs), waits for it to listen, checks that the
/// container has no route out, and asks the proxy for `probe`, which no policy admits;
/// prints the status line it got. Builtins but for socat, so it costs little.
fn script(probe: &str) -> String {
    format!(
        r#"if ! (exec 3<>/dev/tcp/127.0.0.1/{PROXY_PORT}) 2>/dev/null; then
  command -v socat >/dev/null || {{ echo "no socat in the image: network = allowlist or open needs it (apt-get install socat)"; exit 2; }}
  setsid socat TCP-LISTEN:{PROXY_PORT},bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:{PROXY_DIR}/{PROXY_SOCKET} </dev/null >/dev/null 2>&1 &
  for i in $(seq 400); do (exec 3<>/dev/tcp/127.0.0.1/{PROXY_PORT}) 2>/dev/null && break; sleep 0.005; done
fi
{{ read -r _; read -r route; }} < /proc/net/route 2>/dev/null
if [ -n "$route" ]; then echo "the container has a route out"; exit 4; fi
exec 3<>/dev/tcp/127.0.0.1/{PROXY_PORT} || {{ echo "the forwarder does not listen"; exit 3; }}
printf 'CONNECT {probe}:443 HTTP/1.1\r\n\r\n' >&3
IFS= read -r -t 10 line <&3
echo "$line""#
    )
}

/// The command a new container starts with: the forwarder and its self-test (whose
/// answer the proxy hears; nothing waits on this exec), then the idle program.
pub fn boot_command(probe: &str) -> Vec<String> {
    vec![
        "bash".into(),
        "-c".into(),
        // A subshell: a failed check ends it, not the container (the task fails on the
        // proxy not hearing the probe).
        format!(
            "( {}\n) >/dev/null 2>&1; exec sleep infinity",
            script(probe)
        ),
    ]
}

impl Runtime {
    /// Makes sure `container`'s forwarder runs and the policy is in force: nothing
    /// leaves directly, and a proxy refused the self-test host `probe` (which proxy is
    /// the caller's to check). The error says what is wrong.
    pub async fn start_forwarder(&self, container: &str, probe: &str) -> Result<(), RuntimeError> {
        let spec = ExecSpec {
            cmd: vec!["bash".into(), "-c".into(), script(probe)],
            stdin: None,
            timeout: Duration::from_secs(20),
            merge_output: true,
            head_cap: 1 << 10,
            tail_cap: 0,
            raw: false,
            env: Vec::new(),
        };
        let r = self.exec(container, &spec, &mut |_| {}).await?;
        let said = r.stdout.render();
        if r.success() && said.starts_with("HTTP/1.1 403") {
            return Ok(());
        }
        Err(RuntimeError::Api {
            context: "network policy self-test".into(),
            detail: match said.trim() {
                "" => "no answer from drover's proxy".into(),
                s => s.to_string(),
            },
        })
    }
}
