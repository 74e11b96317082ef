//! The signals that mean "stop": SIGTERM (kill, systemd), SIGHUP (the terminal closed)
//! and SIGINT (Ctrl-C outside raw mode, `kill -INT`). Front ends wait on them to shut the
//! engine down cleanly: state flushed, running tasks interrupted, terminal restored.
//!
//! What stopping does is the caller's; this only listens.

use tokio::signal::unix::{Signal, SignalKind, signal};

pub struct Terminate {
    term: Signal,
    hup: Signal,
    int: Signal,
}

/// Which signal arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Term,
    Hup,
    Int,
}

impl Stop {
    pub fn name(self) -> &'static str {
        match self {
            Stop::Term => "SIGTERM",
            Stop::Hup => "SIGHUP",
            Stop::Int => "SIGINT",
        }
    }

    /// The shell convention: 128 + the signal number.
    pub fn exit_code(self) -> i32 {
        match self {
            Stop::Hup => 129,
            Stop::Int => 130,
            Stop::Term => 143,
        }
    }
}

impl Terminate {
    /// Listens from now on (the default action, dying at once, no longer applies).
    pub fn new() -> std::io::Result<Self> {
        Ok(Terminate {
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    pub async fn recv(&mut self) -> Stop {
        tokio::select! {
            _ = self.term.recv() => Stop::Term,
            _ = self.hup.recv() => Stop::Hup,
            _ = self.int.recv() => Stop::Int,
        }
    }
}
