//! The tools every agent uses, executed in the task's container.
//!
//! A `ToolCall` (`crate::protocol`, as the transcript records it) is carried out by
//! `ContainerTools` through `docker exec`. File tools run `cat`/`rg` in
//! the container rather than touching the bind mount from the host, so a symlink an agent
//! planted can only point inside its own sandbox. Paths must stay under /workspace.

use std::path::{Component, Path};
use std::time::Duration;

use crate::protocol::ToolCall;
use crate::runtime::{ExecResult, ExecSpec, Runtime, RuntimeError};

pub const WORKSPACE: &str = "/workspace";

/// Largest file `edit_file` will rewrite.
const EDIT_MAX_BYTES: usize = 8 << 20;
/// Largest part of a file `read_file` returns.
const READ_MAX_BYTES: usize = 256 << 10;

/// What a tool call produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    pub ok: bool,
    pub exit_code: Option<i64>,
    /// Capped text (head + marker + tail).
    pub output: String,
    pub truncated: u64,
    pub timed_out: bool,
    pub duration: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The request itself was wrong (bad path, text not found…): the agent's problem.
    #[error("{0}")]
    Invalid(String),
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// `path` (relative, or absolute under /workspace) as an absolute path in /workspace.
pub fn resolve_path(path: &str) -> Result<String, ToolError> {
    let p = Path::new(path.trim());
    let rel = p.strip_prefix(WORKSPACE).unwrap_or(p);
    if rel.is_absolute() {
        return Err(ToolError::Invalid(format!(
            "path {path:?} is outside /workspace"
        )));
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(s) => {
                parts.push(s.to_str().ok_or_else(|| {
                    ToolError::Invalid(format!("path {path:?} is not valid UTF-8"))
                })?)
            }
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(ToolError::Invalid(format!(
                        "path {path:?} is outside /workspace"
                    )));
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(ToolError::Invalid(format!(
                    "path {path:?} is outside /workspace"
                )));
            }
        }
    }
    if parts.is_empty() {
        Ok(WORKSPACE.to_string())
    } else {
        Ok(format!("{WORKSPACE}/{}", parts.join("/")))
    }
}

/// Executes tool calls in one container.
#[derive(Debug, Clone)]
pub struct ContainerTools {
    pub runtime: Runtime,
    pub container: String,
    /// Longest any single call may run.
    pub timeout: Duration,
    /// The container's OOM-kill count when last looked at (shared by clones).
    pub oom_kills: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Its way out is drover's egress proxy, through a forwarder inside that ending the
    /// container's leftover processes ends too (so it is started again).
    pub proxied: bool,
}

impl ContainerTools {
    pub async fn execute(
        &self,
        call: &ToolCall,
        on_output: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<ToolOutput, ToolError> {
        match call {
            ToolCall::Bash {
                command,
                timeout_secs,
            } => {
                let timeout = timeout_secs
                    .map(Duration::from_secs)
                    .map_or(self.timeout, |t| t.min(self.timeout));
                let r = self
                    .run(ExecSpec::shell(command, timeout), on_output)
                    .await?;
                let mut out = from_exec(&r);
                // What bash says when fork fails: the pids limit held the command back.
                let pids_full = out
                    .output
                    .contains("fork: retry: Resource temporarily unavailable")
                    || out
                        .output
                        .contains("fork: Resource temporarily unavailable");
                if pids_full {
                    out.output.push_str(
                        "\n[process limit reached: the container's pids limit stopped new processes]",
                    );
                }
                // A timeout ends all the command started, in its process group or not;
                // a full process table is emptied too, or no later call could run.
                if r.timed_out || pids_full {
                    let mut note = match self.runtime.end_strays(&self.container).await {
                        Ok(swept) => swept.beside_forwarder(self.proxied).note(),
                        Err(e) => Some(format!("leftover processes could not be stopped: {e}")),
                    };
                    if self.proxied
                        && let Err(e) = self
                            .runtime
                            .start_forwarder(
                                &self.container,
                                &crate::runtime::forwarder::probe_name(),
                            )
                            .await
                    {
                        note = Some(format!("{}; {e}", note.unwrap_or_default()));
                    }
                    if let Some(n) = note {
                        out.output.push_str(&format!("\n[{n}]"));
                    }
                }
                // SIGKILL without a timeout: most often the kernel's OOM killer.
                if r.exit_code == Some(137) && !r.timed_out && self.oom_killed().await {
                    out.output.push_str(
                        "\n[killed: out of memory (the container's memory limit, see `limits` in the config)]",
                    );
                }
                Ok(out)
            }
            ToolCall::ReadFile { path } => {
                let abs = resolve_path(path)?;
                let mut spec = self.spec(vec!["cat".into(), "--".into(), abs]);
                spec.head_cap = READ_MAX_BYTES;
                let r = self.run(spec, &mut |_| {}).await?;
                Ok(file_result(&r))
            }
            ToolCall::WriteFile { path, content } => {
                let abs = resolve_path(path)?;
                self.write(&abs, content.as_bytes()).await
            }
            ToolCall::EditFile { path, old, new } => self.edit(path, old, new).await,
            ToolCall::ListFiles { path } => {
                let abs = resolve_path(path.as_deref().unwrap_or("."))?;
                let script = r#"cd -- "$1" && rg --files --hidden --glob '!.git' | LC_ALL=C sort"#;
                let r = self.run(self.script(script, &[abs]), &mut |_| {}).await?;
                Ok(file_result(&r))
            }
            ToolCall::Search { pattern, path } => {
                let abs = resolve_path(path.as_deref().unwrap_or("."))?;
                let script = r#"cd -- "$2" && rg -n --hidden --glob '!.git' -e "$1" ."#;
                let r = self
                    .run(self.script(script, &[pattern.clone(), abs]), &mut |_| {})
                    .await?;
                if r.exit_code == Some(1) && r.stdout.is_empty() {
                    return Ok(ToolOutput {
                        ok: true,
                        exit_code: Some(1),
                        output: "no matches".into(),
                        truncated: 0,
                        timed_out: false,
                        duration: r.duration,
                    });
                }
                Ok(file_result(&r))
            }
            ToolCall::Finish { summary } => Ok(ToolOutput {
                ok: true,
                exit_code: None,
                output: summary.clone(),
                truncated: 0,
                timed_out: false,
                duration: Duration::ZERO,
            }),
        }
    }

    /// Whether the kernel OOM-killed something in the container since the last look.
    /// Docker only reports OOM when the whole container exits, so ask the cgroup (v2
    /// `memory.events`, v1 `memory.oom_control`).
    pub(crate) async fn oom_killed(&self) -> bool {
        let script =
            "cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null";
        let Ok(r) = self.run(self.script(script, &[]), &mut |_| {}).await else {
            return false;
        };
        let kills = r
            .stdout
            .render()
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let before = self
            .oom_kills
            .swap(kills, std::sync::atomic::Ordering::SeqCst);
        kills > before
    }

    fn spec(&self, cmd: Vec<String>) -> ExecSpec {
        ExecSpec {
            cmd,
            stdin: None,
            timeout: self.timeout,
            merge_output: false,
            head_cap: 64 << 10,
            tail_cap: 0,
            raw: false,
            env: Vec::new(),
        }
    }

    /// `bash -c SCRIPT drover ARGS…`: arguments never pass through a shell string.
    fn script(&self, script: &str, args: &[String]) -> ExecSpec {
        let mut cmd = vec![
            "bash".to_string(),
            "-c".into(),
            script.into(),
            "drover".into(),
        ];
        cmd.extend(args.iter().cloned());
        self.spec(cmd)
    }

    async fn run(
        &self,
        spec: ExecSpec,
        on_output: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<ExecResult, ToolError> {
        Ok(self.runtime.exec(&self.container, &spec, on_output).await?)
    }

    async fn write(&self, abs: &str, content: &[u8]) -> Result<ToolOutput, ToolError> {
        let script = r#"mkdir -p -- "$(dirname -- "$1")" && cat > "$1""#;
        let mut spec = self.script(script, &[abs.to_string()]);
        spec.stdin = Some(content.to_vec());
        let r = self.run(spec, &mut |_| {}).await?;
        if !r.success() {
            return Err(ToolError::Invalid(format!(
                "cannot write {abs}: {}",
                r.stderr.render().trim()
            )));
        }
        Ok(ToolOutput {
            ok: true,
            exit_code: r.exit_code,
            output: format!("wrote {} bytes to {abs}", content.len()),
            truncated: 0,
            timed_out: false,
            duration: r.duration,
        })
    }

    async fn edit(&self, path: &str, old: &str, new: &str) -> Result<ToolOutput, ToolError> {
        let abs = resolve_path(path)?;
        if old.is_empty() {
            return Err(ToolError::Invalid(
                "edit_file: `old` must not be empty".into(),
            ));
        }
        let mut spec = self.spec(vec!["cat".into(), "--".into(), abs.clone()]);
        spec.head_cap = EDIT_MAX_BYTES;
        // The file's own bytes: they are written back (redacting them would corrupt it).
        spec.raw = true;
        let r = self.run(spec, &mut |_| {}).await?;
        if !r.success() {
            return Err(ToolError::Invalid(format!(
                "cannot read {path}: {}",
                r.stderr.render().trim()
            )));
        }
        let bytes = r.stdout.complete_bytes().ok_or_else(|| {
            ToolError::Invalid(format!(
                "{path} is larger than {} MiB: too large to edit",
                EDIT_MAX_BYTES >> 20
            ))
        })?;
        let text = String::from_utf8(bytes)
            .map_err(|_| ToolError::Invalid(format!("{path} is not UTF-8 text")))?;
        match text.matches(old).count() {
            0 => Err(ToolError::Invalid(format!(
                "edit_file: the `old` text was not found in {path}"
            ))),
            1 => {
                let updated = text.replacen(old, new, 1);
                let mut out = self.write(&abs, updated.as_bytes()).await?;
                out.output = format!("edited {path}");
                Ok(out)
            }
            n => Err(ToolError::Invalid(format!(
                "edit_file: the `old` text occurs {n} times in {path}; it must occur exactly once"
            ))),
        }
    }
}

fn from_exec(r: &ExecResult) -> ToolOutput {
    let mut output = r.stdout.render();
    if r.timed_out {
        output.push_str(&format!("\n[timed out after {}s]", r.duration.as_secs()));
    }
    ToolOutput {
        ok: r.success(),
        exit_code: r.exit_code,
        output,
        truncated: r.stdout.truncated(),
        timed_out: r.timed_out,
        duration: r.duration,
    }
}

/// stdout on success, stderr otherwise.
fn file_result(r: &ExecResult) -> ToolOutput {
    let (text, truncated) = if r.success() {
        (r.stdout.render(), r.stdout.truncated())
    } else {
        (r.stderr.render(), r.stderr.truncated())
    };
    ToolOutput {
        ok: r.success(),
        exit_code: r.exit_code,
        output: text,
        truncated,
        timed_out: r.timed_out,
        duration: r.duration,
    }
}

impl crate::protocol::EntryKind {
    /// The transcript entry for call `call`'s result.
    pub fn tool_result(call: u32, out: &ToolOutput) -> Self {
        Self::ToolResult {
            call,
            ok: out.ok,
            exit_code: out.exit_code,
            output: out.output.clone(),
            truncated: out.truncated,
            duration_ms: out.duration.as_millis() as u64,
            timed_out: out.timed_out,
        }
    }

    /// A stored result as the tool returned it: its call number and output.
    pub fn as_tool_result(&self) -> Option<(u32, ToolOutput)> {
        match self {
            Self::ToolResult {
                call,
                ok,
                exit_code,
                output,
                truncated,
                duration_ms,
                timed_out,
            } => Some((
                *call,
                ToolOutput {
                    ok: *ok,
                    exit_code: *exit_code,
                    output: output.clone(),
                    truncated: *truncated,
                    timed_out: *timed_out,
                    duration: Duration::from_millis(*duration_ms),
                },
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_in_the_workspace() {
        assert_eq!(resolve_path("calc.py").unwrap(), "/workspace/calc.py");
        assert_eq!(
            resolve_path("./a/../b/c.txt").unwrap(),
            "/workspace/b/c.txt"
        );
        assert_eq!(resolve_path("/workspace/x").unwrap(), "/workspace/x");
        assert_eq!(resolve_path(".").unwrap(), "/workspace");
        for bad in [
            "../etc/passwd",
            "/etc/passwd",
            "a/../../x",
            "/workspace/../etc",
        ] {
            let e = resolve_path(bad).unwrap_err().to_string();
            assert!(e.contains("outside /workspace"), "{bad}: {e}");
        }
    }

    #[test]
    fn tool_calls_serialize_by_name() {
        let c = ToolCall::EditFile {
            path: "a".into(),
            old: "x".into(),
            new: "y".into(),
        };
        let j = serde_json::to_string(&c).unwrap();
        assert_eq!(j, r#"{"tool":"edit_file","path":"a","old":"x","new":"y"}"#);
        assert_eq!(serde_json::from_str::<ToolCall>(&j).unwrap(), c);
        assert_eq!(
            ToolCall::Bash {
                command: "ls".into(),
                timeout_secs: None
            }
            .headline(),
            "$ ls"
        );
    }
}
