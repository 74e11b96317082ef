//! One engine per data dir: an exclusive lock on `engine.lock`, which also names its PID.
//!
//! The OS releases the lock when the process dies, however it dies, so a crash never
//! leaves a stale lock behind.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum LockHeld {
    #[error("another drover engine (pid {pid}) is using {path}")]
    Held { pid: String, path: String },
    #[error("cannot open {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug)]
pub struct EngineLock {
    _file: File,
}

impl EngineLock {
    pub fn acquire(path: &Path) -> Result<EngineLock, LockHeld> {
        let io = |source| LockHeld::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                return Err(LockHeld::Held {
                    pid: if pid.is_empty() {
                        "unknown".into()
                    } else {
                        pid.to_string()
                    },
                    path: path.parent().unwrap_or(path).display().to_string(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(EngineLock { _file: file })
    }

    /// Whether some engine currently holds the lock (without taking it for long).
    pub fn is_held(path: &Path) -> bool {
        matches!(EngineLock::acquire(path), Err(LockHeld::Held { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_told_the_pid() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("engine.lock");
        let first = EngineLock::acquire(&p).unwrap();
        let e = EngineLock::acquire(&p).unwrap_err().to_string();
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        assert!(EngineLock::is_held(&p));
        drop(first);
        assert!(!EngineLock::is_held(&p));
        EngineLock::acquire(&p).unwrap();
    }
}
