//! Running a command in a task container: streamed output, exit code, timeout.
//!
//! Commands run under coreutils `timeout`, which puts them in their own process group
//! and kills the whole group when time is up (background children included); a host-side
//! deadline backs it up. Output is decoded, redacted as a stream (so no cut can split a
//! secret into parts that survive), then captured head + tail (bounded memory whatever
//! the command prints); the head is also handed to a callback as it arrives. Reads of
//! file contents ask for `raw` bytes instead. Stdin is closed unless given, so nothing
//! waits for a prompt.

use std::time::{Duration, Instant};

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::{Runtime, RuntimeError};
use crate::redact::RedactStream;
use crate::text::{Capture, Utf8Stream};

/// Extra time the host waits beyond the in-container timeout before giving up.
const HOST_GRACE: Duration = Duration::from_secs(15);
/// Output held back for redaction goes out when the command is quiet this long: a secret
/// arrives in one write, and a pause is no place to cut one.
const IDLE_FLUSH: Duration = Duration::from_millis(150);

#[derive(Debug, Clone)]
pub struct ExecSpec {
    pub cmd: Vec<String>,
    pub stdin: Option<Vec<u8>>,
    pub timeout: Duration,
    /// Stdout and stderr into one capture, in arrival order (what a terminal shows).
    pub merge_output: bool,
    pub head_cap: usize,
    pub tail_cap: usize,
    /// The bytes as they are (a file's content to edit), not redacted or decoded.
    pub raw: bool,
    /// `NAME=value` pairs for this command alone.
    pub env: Vec<String>,
}

impl ExecSpec {
    /// `bash -c SCRIPT` with merged output and default caps.
    pub fn shell(script: &str, timeout: Duration) -> Self {
        ExecSpec {
            cmd: vec!["bash".into(), "-c".into(), script.into()],
            stdin: None,
            timeout,
            merge_output: true,
            head_cap: 32 << 10,
            tail_cap: 32 << 10,
            raw: false,
            env: Vec::new(),
        }
    }
}

/// Raw bytes read through the redactor past the head's cap, and kept before the tail:
/// more than any secret is long (a private key block included), so one that crosses
/// either cut is seen whole.
const LOOKAHEAD: usize = 80 << 10;

/// One output stream on its way into a `Capture`: as raw bytes, or redacted. Redacted,
/// only what is kept is read: the stream's start (the head, shown live) goes through the
/// redactor as it arrives, reading on past the head's cap to see a secret that crosses
/// it; after that, the last bytes are kept raw and redacted when the stream ends. What
/// falls between is counted, never scanned, so a flood costs no more than a copy.
struct Sink {
    capture: Capture,
    text: Option<Redacting>,
}

struct Redacting {
    decode: Utf8Stream,
    redact: RedactStream,
    /// Raw bytes still to read through the redactor.
    through: usize,
    /// After those, the last raw bytes (the tail and its look-behind).
    after: std::collections::VecDeque<u8>,
    /// Raw bytes after the redactor's part, all told.
    after_total: u64,
    tail_cap: usize,
}

impl Sink {
    fn new(spec: &ExecSpec) -> Self {
        Sink {
            capture: Capture::new(spec.head_cap, spec.tail_cap),
            text: (!spec.raw).then(|| Redacting {
                decode: Utf8Stream::default(),
                redact: RedactStream::default(),
                through: spec.head_cap + LOOKAHEAD,
                after: Default::default(),
                after_total: 0,
                tail_cap: spec.tail_cap,
            }),
        }
    }

    fn push(&mut self, bytes: &[u8], on_output: &mut (dyn FnMut(&[u8]) + Send)) {
        let Some(t) = &mut self.text else {
            return keep(&mut self.capture, bytes, on_output);
        };
        // A head that redaction shrank has room for more: keep reading it through.
        if t.through == 0 && t.after_total == 0 && !self.capture.head_full() {
            t.through = LOOKAHEAD;
        }
        let n = t.through.min(bytes.len());
        if n > 0 {
            t.through -= n;
            let kept = t.redact.push(&t.decode.push(&bytes[..n]));
            keep(&mut self.capture, kept.as_bytes(), on_output);
        }
        let rest = &bytes[n..];
        if !rest.is_empty() {
            t.after_total += rest.len() as u64;
            t.after.extend(rest);
            let over = t.after.len().saturating_sub(t.tail_cap + LOOKAHEAD);
            t.after.drain(..over);
        }
    }

    /// Lets out what redaction held back (the stream paused).
    fn flush(&mut self, on_output: &mut (dyn FnMut(&[u8]) + Send)) {
        if let Some(t) = &mut self.text
            && t.after_total == 0
        {
            let rest = t.redact.finish();
            if !rest.is_empty() {
                keep(&mut self.capture, rest.as_bytes(), on_output);
            }
        }
    }

    fn finish(mut self, on_output: &mut (dyn FnMut(&[u8]) + Send)) -> Capture {
        let Some(mut t) = self.text.take() else {
            return self.capture;
        };
        // What the redactor still holds, then what came after it, as one text.
        let pending = t.redact.take_pending();
        let after: Vec<u8> = t.after.iter().copied().collect();
        if t.after_total > after.len() as u64 {
            // The start of `after` is a cut: keep its end, with no part of a secret.
            let start = after
                .iter()
                .position(|b| (b & 0xC0) != 0x80)
                .unwrap_or(after.len());
            let text = crate::text::decode_lossy(&after[start..]);
            let tail = crate::redact::redact_tail(&text, t.tail_cap);
            let dropped = t.after_total.saturating_sub(tail.len() as u64) + pending.len() as u64;
            self.capture.skip(dropped);
            keep(&mut self.capture, tail.as_bytes(), on_output);
        } else {
            let mut text = pending;
            text.push_str(&t.decode.push(&after));
            text.push_str(&t.decode.finish());
            let text = crate::redact::redact(&text);
            keep(&mut self.capture, text.as_bytes(), on_output);
        }
        self.capture
    }
}

/// Both streams of one command and where their head goes live. Dropped unfinished (the
/// caller gave up: a cancel, a quit), it lets out what redaction held back, so a call
/// cut short still shows all it printed.
struct Streams<'a> {
    stdout: Option<Sink>,
    stderr: Option<Sink>,
    on_output: &'a mut (dyn FnMut(&[u8]) + Send),
}

impl Streams<'_> {
    fn push(&mut self, is_err: bool, bytes: &[u8]) {
        let sink = if is_err {
            &mut self.stderr
        } else {
            &mut self.stdout
        };
        if let Some(s) = sink {
            s.push(bytes, &mut *self.on_output);
        }
    }

    fn flush(&mut self) {
        for s in [&mut self.stdout, &mut self.stderr].into_iter().flatten() {
            s.flush(&mut *self.on_output);
        }
    }

    fn finish(mut self) -> (Capture, Capture) {
        let empty = || Capture::new(0, 0);
        let out = self
            .stdout
            .take()
            .map_or_else(empty, |s| s.finish(&mut *self.on_output));
        let err = self
            .stderr
            .take()
            .map_or_else(empty, |s| s.finish(&mut *self.on_output));
        (out, err)
    }
}

impl Drop for Streams<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

fn keep(capture: &mut Capture, bytes: &[u8], on_output: &mut (dyn FnMut(&[u8]) + Send)) {
    let head = capture.push(bytes);
    if !head.is_empty() {
        on_output(head);
    }
}

#[derive(Debug, Clone)]
pub struct ExecResult {
    /// `None` when the host gave up waiting.
    pub exit_code: Option<i64>,
    /// Everything when `merge_output`, else stdout only.
    pub stdout: Capture,
    pub stderr: Capture,
    pub timed_out: bool,
    pub duration: Duration,
}

impl ExecResult {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }
}

impl Runtime {
    /// Runs `spec` in `container`; `on_output` sees each piece of output that enters the
    /// head of the capture (so a flood is not streamed live past the cap).
    pub async fn exec(
        &self,
        container: &str,
        spec: &ExecSpec,
        on_output: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<ExecResult, RuntimeError> {
        let secs = spec.timeout.as_secs().max(1);
        let mut cmd = vec![
            "timeout".to_string(),
            "-k".into(),
            "5".into(),
            format!("{secs}s"),
        ];
        cmd.extend(spec.cmd.iter().cloned());
        let created = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(cmd),
                    env: (!spec.env.is_empty()).then(|| spec.env.clone()),
                    attach_stdin: Some(spec.stdin.is_some()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    working_dir: Some("/workspace".to_string()),
                    ..Default::default()
                },
            )
            .await
            .map_err(RuntimeError::api("starting a command in the container"))?;
        let started = Instant::now();
        let opts = StartExecOptions {
            detach: false,
            tty: false,
            output_capacity: Some(64 << 10),
        };
        let StartExecResults::Attached {
            mut output,
            mut input,
        } = self
            .docker
            .start_exec(&created.id, Some(opts))
            .await
            .map_err(RuntimeError::api("starting a command in the container"))?
        else {
            return Err(RuntimeError::Api {
                context: "starting a command in the container".into(),
                detail: "Docker detached the exec".into(),
            });
        };

        if let Some(data) = &spec.stdin {
            let data = data.clone();
            // Write concurrently with reading so a large input cannot deadlock on a full pipe.
            tokio::spawn(async move {
                let _ = input.write_all(&data).await;
                let _ = input.shutdown().await;
            });
        } else {
            drop(input);
        }

        let mut streams = Streams {
            stdout: Some(Sink::new(spec)),
            stderr: Some(Sink::new(spec)),
            on_output,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs) + HOST_GRACE;
        let mut host_timeout = false;
        // Output the redactor may still hold back: only then is there a reason to wake
        // before the next frame (a quiet command must cost nothing while it waits).
        let mut held = false;
        loop {
            // A command that pauses has its held-back text shown (and kept) meanwhile.
            let wait = if held {
                deadline.min(tokio::time::Instant::now() + IDLE_FLUSH)
            } else {
                deadline
            };
            let next = tokio::time::timeout_at(wait, output.next()).await;
            let frame = match next {
                Err(_) if tokio::time::Instant::now() < deadline => {
                    streams.flush();
                    held = false;
                    continue;
                }
                Err(_) => {
                    host_timeout = true;
                    break;
                }
                Ok(None) => break,
                Ok(Some(frame)) => frame.map_err(RuntimeError::api("reading command output"))?,
            };
            let (is_err, bytes) = match frame {
                LogOutput::StdErr { message } => (true, message),
                LogOutput::StdOut { message } | LogOutput::Console { message } => (false, message),
                LogOutput::StdIn { .. } => continue,
            };
            streams.push(is_err && !spec.merge_output, &bytes);
            held = true;
        }
        let (stdout, stderr) = streams.finish();
        let duration = started.elapsed();
        let exit_code = if host_timeout {
            None
        } else {
            self.exit_code_of(&created.id).await?
        };
        // Killed with its container (docker kill, docker rm): that is no result of the
        // command's, and what runs next would find no container.
        if matches!(exit_code, None | Some(137) | Some(143))
            && !self.still_running(container).await?
        {
            return Err(RuntimeError::Api {
                context: format!("container {}", super::short_id(container)),
                detail: "it stopped while the command ran (stopped or removed from outside drover)"
                    .into(),
            });
        }
        // `timeout` exits 124 (TERM worked) or 137 (it had to KILL) when time ran out.
        let timed_out = host_timeout
            || (matches!(exit_code, Some(124) | Some(137))
                && duration >= Duration::from_secs(secs));
        Ok(ExecResult {
            exit_code,
            stdout,
            stderr,
            timed_out,
            duration,
        })
    }

    /// Kills what earlier tool calls left running in `container` (a resumed attempt must
    /// not have a lost command still changing its workspace). Tool calls are the execs
    /// under `timeout` (their own process group, parent outside the container); the idle
    /// process and a detached external agent, with whatever it runs, stay. How many
    /// calls were stopped.
    pub async fn reap_tool_calls(&self, container: &str) -> Result<usize, RuntimeError> {
        const SCRIPT: &str = r#"n=0
for d in /proc/[0-9]*; do
  p=${d#/proc/}
  [ "$p" = "$PPID" ] && continue
  [ "$(cat "$d/comm" 2>/dev/null)" = timeout ] || continue
  set -- $(cat "$d/stat" 2>/dev/null)
  [ "$4" = 0 ] || continue
  kill -KILL -- "-$p" 2>/dev/null && n=$((n+1))
done
echo "$n""#;
        let spec = ExecSpec {
            // bash: dash's `kill` cannot signal a process group.
            cmd: vec!["bash".into(), "-c".into(), SCRIPT.into()],
            stdin: None,
            timeout: Duration::from_secs(10),
            merge_output: false,
            head_cap: 1 << 10,
            tail_cap: 0,
            raw: false,
            env: Vec::new(),
        };
        let r = self.exec(container, &spec, &mut |_| {}).await?;
        Ok(r.stdout.render().trim().parse().unwrap_or(0))
    }

    /// Starts `cmd` in `container` and returns at once; it keeps running whatever drover
    /// does next (until the container stops). `env` is `NAME=value` pairs for it alone.
    pub async fn exec_detached(
        &self,
        container: &str,
        cmd: Vec<String>,
        env: Vec<String>,
    ) -> Result<(), RuntimeError> {
        let created = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(cmd),
                    env: Some(env),
                    attach_stdin: Some(false),
                    attach_stdout: Some(false),
                    attach_stderr: Some(false),
                    working_dir: Some("/workspace".to_string()),
                    ..Default::default()
                },
            )
            .await
            .map_err(RuntimeError::api(
                "starting a background command in the container",
            ))?;
        let opts = StartExecOptions {
            detach: true,
            tty: false,
            output_capacity: None,
        };
        self.docker
            .start_exec(&created.id, Some(opts))
            .await
            .map_err(RuntimeError::api(
                "starting a background command in the container",
            ))?;
        Ok(())
    }

    /// Whether `container` runs, given a moment to notice a kill that just happened (its
    /// commands die before Docker records that it stopped).
    async fn still_running(&self, container: &str) -> Result<bool, RuntimeError> {
        for _ in 0..5 {
            if !self.find(container).await?.is_some_and(|f| f.running) {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(true)
    }

    /// The exit code; Docker may report the exec as running for a moment after its
    /// output ends.
    async fn exit_code_of(&self, exec_id: &str) -> Result<Option<i64>, RuntimeError> {
        for _ in 0..50 {
            let info = self
                .docker
                .inspect_exec(exec_id)
                .await
                .map_err(RuntimeError::api("reading a command's exit code"))?;
            if info.running != Some(true) {
                return Ok(info.exit_code);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(chunks: &[&[u8]], head: usize, tail: usize) -> (String, String) {
        let mut spec = ExecSpec::shell("", Duration::from_secs(1));
        (spec.head_cap, spec.tail_cap) = (head, tail);
        let mut sink = Sink::new(&spec);
        let mut live = Vec::new();
        for c in chunks {
            sink.push(c, &mut |b| live.extend_from_slice(b));
        }
        let capture = sink.finish(&mut |b| live.extend_from_slice(b));
        (
            capture.render(),
            String::from_utf8_lossy(&live).into_owned(),
        )
    }

    #[test]
    fn htb_09_secrets_across_the_head_and_tail_cuts_are_redacted_whole() {
        let token = format!("gh{}_{}", "p", "Q7".repeat(18));
        let middle = "m".repeat(300 << 10);
        let text = format!(
            "{}{token} {middle}{token}\n{}",
            "a".repeat(995),
            "z".repeat(990)
        );
        // In one piece and in small pieces alike.
        for size in [text.len(), 4096, 37] {
            let chunks: Vec<&[u8]> = text.as_bytes().chunks(size).collect();
            let (stored, live) = kept(&chunks, 1000, 1000);
            // Both secrets redacted (the markers themselves may be cut by the caps).
            assert!(
                stored.contains("[REDA") && stored.contains("-token]"),
                "{size}"
            );
            assert!(!stored.contains("Q7Q7"), "{size}: no part kept");
            assert!(!live.contains("Q7Q7"), "{size}: none shown");
            assert!(stored.contains("bytes truncated"), "{size}");
            assert!(stored.ends_with(&"z".repeat(990)), "{size}");
        }
    }
}
