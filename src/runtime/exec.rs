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
        }
    }
}

/// One output stream on its way into a `Capture`: as raw bytes, or decoded and redacted
/// first.
struct Sink {
    capture: Capture,
    text: Option<(Utf8Stream, RedactStream)>,
}

impl Sink {
    fn new(spec: &ExecSpec) -> Self {
        Sink {
            capture: Capture::new(spec.head_cap, spec.tail_cap),
            text: (!spec.raw).then(Default::default),
        }
    }

    fn push(&mut self, bytes: &[u8], on_output: &mut (dyn FnMut(&[u8]) + Send)) {
        let kept = match &mut self.text {
            None => return keep(&mut self.capture, bytes, on_output),
            Some((decode, redact)) => redact.push(&decode.push(bytes)),
        };
        keep(&mut self.capture, kept.as_bytes(), on_output);
    }

    /// Lets out what redaction held back (the stream paused).
    fn flush(&mut self, on_output: &mut (dyn FnMut(&[u8]) + Send)) {
        if let Some((_, redact)) = &mut self.text {
            let rest = redact.finish();
            if !rest.is_empty() {
                keep(&mut self.capture, rest.as_bytes(), on_output);
            }
        }
    }

    fn finish(mut self, on_output: &mut (dyn FnMut(&[u8]) + Send)) -> Capture {
        if let Some((mut decode, mut redact)) = self.text.take() {
            let mut rest = redact.push(&decode.finish());
            rest.push_str(&redact.finish());
            keep(&mut self.capture, rest.as_bytes(), on_output);
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
        loop {
            // A command that pauses has its held-back text shown (and kept) meanwhile.
            let wait = deadline.min(tokio::time::Instant::now() + IDLE_FLUSH);
            let next = tokio::time::timeout_at(wait, output.next()).await;
            let frame = match next {
                Err(_) if tokio::time::Instant::now() < deadline => {
                    streams.flush();
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
