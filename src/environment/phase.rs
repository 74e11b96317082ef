//! A phase of the environment in a setup container of its own: the snapshot restored
//! into the workspace (for maintenance), commands run one by one with `setup_env` and
//! setup's network, then (for setup) what they left in the workspace copied into the
//! container, a check that no `setup_env` value was written anywhere, and a commit.
//!
//! The container is removed whatever happens. Output goes to a `PhaseLog`, redacted as
//! a stream. A failed command, a leaked value or a cancel means no snapshot.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::runtime::snapshot::LABEL_ENV_ENTRIES;
use crate::runtime::{ContainerSpec, ExecSpec, Runtime, RuntimeError, SNAPSHOT_DIR};

/// Where a phase's output goes (a task's transcript, or a terminal).
#[async_trait]
pub trait PhaseLog: Send + Sync {
    /// drover's own line ("$ pip install …", "exit 0 in 3.1s").
    async fn note(&self, text: String);
    /// Output of the running command, redacted, as it arrives (in batches).
    async fn output(&self, text: String);
}

/// What a phase does.
pub struct Phase {
    /// The setup container (`spec.setup` set).
    pub spec: ContainerSpec,
    /// Copy a snapshot's workspace files into /workspace first (maintenance).
    pub restore: bool,
    pub commands: Vec<String>,
    /// `setup_env` names and values, given to each command alone.
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    /// Commit the result as this image (setup), with these labels.
    pub commit: Option<(String, HashMap<String, String>)>,
    /// The setup container's way out when `setup_network` is allowlist or open (its
    /// spec mounts the proxy): proven before any command, refusals reported.
    pub egress: Option<std::sync::Arc<dyn Egress>>,
}

/// A phase's egress proxy, as the phase needs it.
#[async_trait]
pub trait Egress: Send + Sync {
    /// Waits for the container to have proven the policy from inside; why not.
    async fn ready(&self) -> Result<(), String>;
    /// What it refused since the last call, as lines ("CONNECT host:443 (why)").
    fn refused(&self) -> Vec<String>;
}

#[derive(Debug, thiserror::Error)]
pub enum PhaseError {
    #[error("{0}")]
    Docker(#[from] RuntimeError),
    #[error("setup command failed ({why}): {command}")]
    Failed { command: String, why: String },
    #[error(
        "setup wrote the value of {names} into {paths}: the agent would read it there, so nothing was kept (have the tool read the variable at run time instead, e.g. `${{NPM_TOKEN}}` in .npmrc)"
    )]
    Leaked { names: String, paths: String },
    #[error("cancelled")]
    Cancelled,
}

/// What a snapshot restore does in a container that mounts the workspace.
pub fn restore_script() -> String {
    format!(
        "if [ -d {SNAPSHOT_DIR}/workspace ]; then cp -a {SNAPSHOT_DIR}/workspace/. /workspace/; fi"
    )
}

/// Copies the snapshot's entries named on stdin (NUL-separated, as setup's list has them)
/// into /workspace, in a container that mounts it.
pub fn copy_script() -> String {
    format!(
        "set -o pipefail; tar -C {SNAPSHOT_DIR}/workspace --null -T - -cf - | tar -C /workspace -xpf -"
    )
}

/// Copies what setup left in the workspace (untracked and ignored files, tracked files
/// it changed; never .git) into the snapshot directory, and prints their list
/// (NUL-separated, untracked directories once, ending in `/`).
fn capture_script() -> String {
    format!(
        r#"set -eo pipefail
dest={SNAPSHOT_DIR}/workspace
mkdir -p "$dest"
cd /workspace
list=$(mktemp)
{{ git ls-files -z --others --directory; git ls-files -z --modified; }} > "$list"
tar --null -T "$list" --ignore-failed-read -cf - 2>/dev/null | tar -C "$dest" -xpf -
cat "$list"
rm -f "$list""#
    )
}

/// Runs `phase`; the committed image's id when it commits.
pub async fn run(
    rt: &Runtime,
    phase: &Phase,
    log: &dyn PhaseLog,
    cancel: &CancellationToken,
) -> Result<Option<String>, PhaseError> {
    let id = rt.create_setup_container(&phase.spec).await?;
    let result = tokio::select! {
        r = inside(rt, &id, phase, log) => r,
        _ = cancel.cancelled() => Err(PhaseError::Cancelled),
    };
    if let Err(e) = rt.remove(&id).await {
        tracing::warn!(
            "removing setup container {}: {e}",
            crate::runtime::short_id(&id)
        );
    }
    result
}

async fn inside(
    rt: &Runtime,
    id: &str,
    phase: &Phase,
    log: &dyn PhaseLog,
) -> Result<Option<String>, PhaseError> {
    if let Some(egress) = &phase.egress {
        egress.ready().await.map_err(|why| PhaseError::Failed {
            command: "network policy self-test".into(),
            why,
        })?;
    }
    if phase.restore {
        let spec = ExecSpec::shell(&restore_script(), phase.timeout);
        quiet(rt, id, &spec, "restoring the snapshot").await?;
    }
    let mut env: Vec<String> = phase.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if phase.egress.is_some() {
        env.extend(crate::runtime::forwarder::proxy_env());
    }
    for command in &phase.commands {
        log.note(format!("$ {command}")).await;
        let mut spec = ExecSpec::shell(command, phase.timeout);
        spec.env = env.clone();
        let started = Instant::now();
        let result = streamed(rt, id, &spec, log).await?;
        let secs = started.elapsed().as_secs_f64();
        for line in phase.egress.iter().flat_map(|e| e.refused()) {
            log.note(format!("blocked: {line}")).await;
        }
        if !result.success() {
            let why = match result.exit_code {
                _ if result.timed_out => format!("timed out after {}s", phase.timeout.as_secs()),
                Some(code) => format!("exit {code}"),
                None => "no exit status".into(),
            };
            log.note(format!("{why} after {secs:.1}s")).await;
            return Err(PhaseError::Failed {
                command: command.clone(),
                why,
            });
        }
        log.note(format!("exit 0 in {secs:.1}s")).await;
    }
    let Some((image, labels)) = &phase.commit else {
        return Ok(None);
    };
    let mut spec = ExecSpec::shell(&capture_script(), phase.timeout);
    // The list is read (stdout alone), whole when it can be a label.
    spec.merge_output = false;
    spec.raw = true;
    spec.head_cap = ENTRIES_MAX + 1;
    let listed = quiet(rt, id, &spec, "keeping the workspace files setup made").await?;
    leak_check(rt, id, phase).await?;
    let mut labels = labels.clone();
    // Always set: empty (no list, so restores copy) replaces one the image came with.
    let entries = listed.complete_bytes().and_then(|b| entries_label(&b));
    labels.insert(LABEL_ENV_ENTRIES.to_string(), entries.unwrap_or_default());
    let (repo, tag) = image.rsplit_once(':').unwrap_or((image.as_str(), "latest"));
    let image_id = rt.commit(id, repo, tag, labels).await?;
    Ok(Some(image_id))
}

/// Bytes of paths the entries label holds (Docker keeps labels in the image's config).
const ENTRIES_MAX: usize = 64 << 10;

/// The label listing what setup left (see `LABEL_ENV_ENTRIES`), from the capture's
/// NUL-separated list; `None` when it is too long to be a label or a path is not plain
/// text on one line (then every restore copies, as it cannot tell what to link).
fn entries_label(list: &[u8]) -> Option<String> {
    if list.len() > ENTRIES_MAX {
        return None;
    }
    let entries: Option<Vec<&str>> = list
        .split(|&b| b == 0)
        .filter(|e| !e.is_empty())
        .map(|e| std::str::from_utf8(e).ok().filter(|s| !s.contains('\n')))
        .collect();
    // Read raw (NULs and all): a path holding a secret is no label's business.
    if entries
        .iter()
        .flatten()
        .any(|e| crate::redact::redact(e) != *e)
    {
        return None;
    }
    serde_json::to_string(&entries?).ok()
}

/// A step of drover's own that must succeed; its output only matters when it fails.
async fn quiet(
    rt: &Runtime,
    id: &str,
    spec: &ExecSpec,
    what: &str,
) -> Result<crate::text::Capture, PhaseError> {
    let r = rt.exec(id, spec, &mut |_| {}).await?;
    if r.success() {
        return Ok(r.stdout);
    }
    Err(PhaseError::Failed {
        command: what.to_string(),
        why: format!(
            "exit {}: {}",
            r.exit_code.map_or("?".into(), |c| c.to_string()),
            crate::text::ellipsize(
                match spec.merge_output {
                    true => r.stdout.render(),
                    false => r.stderr.render(),
                }
                .trim(),
                400
            )
        ),
    })
}

/// Runs one command, its output going to `log` in batches as it arrives.
async fn streamed(
    rt: &Runtime,
    id: &str,
    spec: &ExecSpec,
    log: &dyn PhaseLog,
) -> Result<crate::runtime::ExecResult, PhaseError> {
    /// Output shown per command; the rest is counted, not kept.
    const SHOWN: usize = 1 << 20;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let exec = async move {
        let mut decoder = crate::text::Utf8Stream::default();
        let mut on_output = move |bytes: &[u8]| {
            let text = decoder.push(bytes);
            if !text.is_empty() {
                let _ = tx.send(text);
            }
        };
        rt.exec(id, spec, &mut on_output).await
    };
    let drain = async {
        let mut stream = crate::redact::RedactStream::default();
        let mut lines = Lines::default();
        let (mut shown, mut dropped) = (0usize, 0usize);
        while let Some(first) = rx.recv().await {
            let mut text = first;
            while let Ok(more) = rx.try_recv() {
                text.push_str(&more);
            }
            if shown >= SHOWN {
                dropped += text.len();
                continue;
            }
            shown += text.len();
            if let Some(whole) = lines.push(&stream.push(&text)) {
                log.output(whole).await;
            }
            // Lines arriving meanwhile go out together.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let end = stream.finish();
        if let Some(rest) = lines.finish_with(&end) {
            log.output(rest).await;
        }
        if dropped > 0 {
            log.note(format!("… {dropped} more bytes of output not shown"))
                .await;
        }
    };
    let (result, ()) = tokio::join!(exec, drain);
    Ok(result?)
}

/// Output cut at line ends: each transcript entry is shown as lines of its own, so a
/// line that arrived in two batches would read as two. A line longer than `MAX` (a
/// progress bar redrawn with `\r`) goes out as it is.
#[derive(Default)]
struct Lines {
    pending: String,
}

impl Lines {
    const MAX: usize = 64 << 10;

    /// What of `pending` + `text` ends a line (or is too long to wait for its end).
    fn push(&mut self, text: &str) -> Option<String> {
        self.pending.push_str(text);
        let cut = match self.pending.rfind('\n') {
            Some(at) => at + 1,
            None if self.pending.len() > Self::MAX => self.pending.len(),
            None => return None,
        };
        let rest = self.pending.split_off(cut);
        Some(std::mem::replace(&mut self.pending, rest))
    }

    /// Everything left, `text` last.
    fn finish_with(&mut self, text: &str) -> Option<String> {
        self.pending.push_str(text);
        Some(std::mem::take(&mut self.pending)).filter(|p| !p.is_empty())
    }
}

/// Fails when any `setup_env` value is in a file setup left (in the snapshot directory
/// or anywhere else in the container's own filesystem).
async fn leak_check(rt: &Runtime, id: &str, phase: &Phase) -> Result<(), PhaseError> {
    let values: Vec<&(String, String)> = phase
        .env
        .iter()
        .filter(|(_, v)| v.trim().len() >= 4)
        .collect();
    if values.is_empty() {
        return Ok(());
    }
    let changes = rt
        .docker()
        .container_changes(id)
        .await
        .map_err(RuntimeError::api("listing what setup changed"))?
        .unwrap_or_default();
    let skipped = [
        SNAPSHOT_DIR,
        "/tmp",
        "/var/tmp",
        "/proc",
        "/sys",
        "/dev",
        "/workspace",
    ];
    let mut paths = vec![SNAPSHOT_DIR.to_string()];
    paths.extend(changes.into_iter().map(|c| c.path).filter(|p| {
        !skipped
            .iter()
            .any(|s| p == s || p.starts_with(&format!("{s}/")))
    }));
    let patterns: String = values
        .iter()
        .map(|(name, _)| format!(" -e \"${name}\""))
        .collect();
    let script = format!("xargs -0 -r grep -rlsF{patterns} -- | head -n 20");
    let mut spec = ExecSpec::shell(&script, phase.timeout);
    spec.env = values.iter().map(|(k, v)| format!("{k}={v}")).collect();
    spec.stdin = Some(paths.join("\0").into_bytes());
    let r = rt.exec(id, &spec, &mut |_| {}).await?;
    let found: Vec<String> = r
        .stdout
        .render()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.replacen(&format!("{SNAPSHOT_DIR}/workspace"), "/workspace", 1))
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    Err(PhaseError::Leaked {
        names: values
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        paths: found.join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_goes_out_in_whole_lines() {
        let mut l = Lines::default();
        assert_eq!(l.push("set"), None);
        assert_eq!(l.push("up-ran-42\nnext").as_deref(), Some("setup-ran-42\n"));
        assert_eq!(l.push(" part\n\n").as_deref(), Some("next part\n\n"));
        assert_eq!(l.push("tail"), None);
        assert_eq!(l.finish_with(" end").as_deref(), Some("tail end"));
        assert_eq!(l.finish_with(""), None);
        let long = "x".repeat(Lines::MAX + 1);
        assert_eq!(l.push(&long).map(|s| s.len()), Some(Lines::MAX + 1));
    }

    #[test]
    fn the_entries_label_lists_plain_paths_or_nothing() {
        let got = entries_label(b".venv/\0src/__pycache__/\0changed.txt\0").unwrap();
        assert_eq!(got, r#"[".venv/","src/__pycache__/","changed.txt"]"#);
        assert_eq!(entries_label(b"").unwrap(), "[]");
        // A name on two lines, or not UTF-8: no label (every restore copies).
        assert_eq!(entries_label(b"a\nb/\0"), None);
        assert_eq!(entries_label(b"\xff/\0"), None);
        assert_eq!(entries_label(&vec![b'a'; ENTRIES_MAX + 1]), None);
    }
}
