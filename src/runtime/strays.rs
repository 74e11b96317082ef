//! Ending every process left in a task container: what an agent or a test started and
//! left behind (a background server, a `setsid` daemon, a double fork, a fork bomb).
//!
//! Tests must judge files nothing is still changing, and a command's timeout must end
//! all it started, whether or not it left its process group. Inside the container, as its
//! user, a script made of shell builtins only (so it forks nothing a fork bomb could
//! starve) stops every process but init, the container's idle process and itself, round
//! after round until none runs (a stopped process cannot fork), then kills them all.
//! When even that cannot run (the pids limit is exhausted, so no exec starts), or
//! something survives, the container is restarted: everything in it ends, the workspace
//! stays (its `/tmp` does not). What the container is for is the caller's business.

use std::time::Duration;

use bollard::query_parameters::RestartContainerOptionsBuilder;

use super::{ExecSpec, Runtime, RuntimeError};

/// The idle process is init's child that started first; the script never touches it,
/// init, its own parent (the exec's `timeout`) or itself, and asks for a restart when the
/// idle process no longer runs the idle program (something took its place). `read`,
/// `set`, `kill`, `hash`, `test` and arithmetic are builtins: nothing here forks. A
/// process whose `stat` cannot be read is gone; a name with a newline or `) ` in it does
/// not shift the fields read after it.
const SCRIPT: &str = r#"me=$$; parent=$PPID; main=; first=
hash sleep 2>/dev/null; idle=${BASH_CMDS[sleep]}
# stat DIR: sets `f` to the fields after the command name (which may hold anything,
# newlines and ") " included: the last ") " ends it); fails if the process is gone.
stat() { f=; read -r -d '' f < "$1/stat" 2>/dev/null; [ -n "$f" ] || return 1; f=${f##*") "}; }
for d in /proc/[0-9]*; do
  stat "$d" || continue
  set -- $f
  [ "$2" = 1 ] || continue
  if [ -z "$first" ] || [ "${20}" -lt "$first" ]; then first=${20}; main=${d#/proc/}; fi
done
# The idle process must still be the idle program (not something that took its place).
changed=0
[ -n "$main" ] && [ -n "$idle" ] && ! [ "/proc/$main/exe" -ef "$idle" ] && changed=1
spare() { case "$1" in 1|"$me"|"$parent"|"$main") return 0;; esac; return 1; }
round=0
while [ $round -lt 200 ]; do
  round=$((round+1)); running=0
  for d in /proc/[0-9]*; do
    p=${d#/proc/}; spare "$p" && continue
    stat "$d" || continue
    set -- $f
    case "$1" in Z|X|T|t) continue;; esac
    kill -STOP "$p" 2>/dev/null && running=$((running+1))
  done
  [ $running = 0 ] && break
done
killed=0
for d in /proc/[0-9]*; do
  p=${d#/proc/}; spare "$p" && continue
  stat "$d" || continue
  set -- $f
  case "$1" in Z|X) continue;; esac
  kill -KILL "$p" 2>/dev/null && killed=$((killed+1))
done
left=0; tries=0
while [ $tries -lt 500 ]; do
  left=0; tries=$((tries+1))
  for d in /proc/[0-9]*; do
    p=${d#/proc/}; spare "$p" && continue
    stat "$d" || continue
    set -- $f
    case "$1" in Z|X) ;; *) left=$((left+1));; esac
  done
  [ $left = 0 ] && break
done
echo "killed=$killed left=$((left+changed))""#;

/// How the leftovers ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swept {
    /// This many processes were killed (0: there were none).
    Killed(usize),
    /// They could not be killed from inside: the container was restarted.
    Restarted,
}

impl Swept {
    /// The count without the proxy's forwarder, which is always among them when the
    /// container goes through drover's proxy (and is started again after).
    pub fn beside_forwarder(self, proxied: bool) -> Swept {
        match self {
            Swept::Killed(n) if proxied => Swept::Killed(n.saturating_sub(1)),
            other => other,
        }
    }

    /// A note for a transcript, or `None` when there was nothing to end.
    pub fn note(self) -> Option<String> {
        match self {
            Swept::Killed(0) => None,
            Swept::Killed(n) => Some(format!("stopped {n} process(es) left running")),
            Swept::Restarted => Some(
                "processes left running could not be stopped from inside (process limit reached): the container was restarted (its /tmp is empty)".into(),
            ),
        }
    }
}

impl Runtime {
    /// Ends every process in `container` except its init and idle process.
    pub async fn end_strays(&self, container: &str) -> Result<Swept, RuntimeError> {
        let spec = ExecSpec {
            // bash: the script relies on bash's `read` and `kill` builtins.
            cmd: vec!["bash".into(), "-c".into(), SCRIPT.into()],
            stdin: None,
            timeout: Duration::from_secs(20),
            merge_output: false,
            head_cap: 1 << 10,
            tail_cap: 0,
            raw: false,
            env: Vec::new(),
        };
        let swept = match self.exec(container, &spec, &mut |_| {}).await {
            Ok(r) if r.success() => parse(&r.stdout.render()),
            Ok(_) | Err(_) => None,
        };
        match swept {
            Some(n) => Ok(Swept::Killed(n)),
            // A container someone else stopped or removed is not brought back behind
            // their back: that is the caller's to see.
            None if !self.find(container).await?.is_some_and(|f| f.running) => {
                Err(RuntimeError::Api {
                    context: format!("container {}", super::short_id(container)),
                    detail: "it is not running (stopped or removed from outside drover)".into(),
                })
            }
            None => {
                self.restart(container).await?;
                Ok(Swept::Restarted)
            }
        }
    }

    /// Kills everything in `container` and starts it again (its mounts stay).
    pub async fn restart(&self, container: &str) -> Result<(), RuntimeError> {
        let opts = RestartContainerOptionsBuilder::new().t(0).build();
        self.docker
            .restart_container(container, Some(opts))
            .await
            .map_err(RuntimeError::api(format!(
                "restarting container {}",
                super::short_id(container)
            )))
    }
}

/// `killed=N left=0` → N; anything else (survivors, no answer) → None.
fn parse(out: &str) -> Option<usize> {
    let line = out.lines().rev().find(|l| l.starts_with("killed="))?;
    let mut killed = None;
    let mut left = None;
    for part in line.split_whitespace() {
        match part.split_once('=') {
            Some(("killed", n)) => killed = n.parse().ok(),
            Some(("left", n)) => left = n.parse::<usize>().ok(),
            _ => {}
        }
    }
    (left == Some(0)).then_some(killed).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_clean_sweep_counts() {
        assert_eq!(parse("killed=3 left=0\n"), Some(3));
        assert_eq!(parse("killed=0 left=0"), Some(0));
        assert_eq!(parse("killed=3 left=2"), None);
        assert_eq!(parse("bash: fork failed"), None);
    }
}
