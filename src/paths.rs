//! Where drover keeps its state: one data dir (`DROVER_HOME`, else the XDG data dir).
//!
//! The layout lives here and nowhere else. Directories are created 0700 and files 0600
//! whatever the umask, because transcripts can hold anything an agent printed.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::protocol::TaskId;

#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// `DROVER_HOME`, else `$XDG_DATA_HOME/drover` (usually `~/.local/share/drover`).
    pub fn from_env() -> io::Result<Self> {
        Self::at(data_root_from_env()?)
    }

    pub fn at(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        let root = if root.is_absolute() {
            root
        } else {
            std::env::current_dir()?.join(root)
        };
        create_private_dir(&root)?;
        Ok(DataDir { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A short stable name for this store, the `drover.data` container label.
    pub fn hash(&self) -> String {
        repo_hash(&self.root)
    }

    pub fn db(&self) -> PathBuf {
        self.root.join("drover.db")
    }

    pub fn lock(&self) -> PathBuf {
        self.root.join("engine.lock")
    }

    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }

    pub fn build_dir(&self) -> PathBuf {
        self.root.join("build")
    }

    /// The clone an agent works in (bind-mounted into its container).
    pub fn workspace(&self, id: &TaskId) -> PathBuf {
        self.root.join("workspaces").join(id.as_str())
    }

    /// The host directories of a task's writable layer over its environment snapshot
    /// (`environment::layer`): they go with its workspace.
    pub fn env_layer(&self, id: &TaskId) -> PathBuf {
        self.root.join("envrw").join(id.as_str())
    }

    /// The directory of a task's egress proxy socket (mounted into its containers).
    pub fn proxy_dir(&self, id: &TaskId) -> PathBuf {
        self.root.join("proxy").join(id.as_str())
    }

    /// The directory of the egress proxy socket of a task's setup container.
    pub fn setup_proxy_dir(&self, id: &TaskId) -> PathBuf {
        self.root
            .join("proxy")
            .join(format!("{}-setup", id.as_str()))
    }

    /// Marks of when each environment snapshot was last used (`envs/<key>`, its mtime).
    pub fn env_uses(&self) -> PathBuf {
        self.root.join("envs")
    }

    /// The tests' runs on base commits (`verify::baseline`), one file per key.
    pub fn baselines(&self) -> PathBuf {
        self.root.join("baselines")
    }

    /// Empty directories warm-pool containers mount until a task claims one: its
    /// workspace is made in it, then it is renamed to the task's `workspace`.
    pub fn pool(&self) -> PathBuf {
        self.root.join("pool")
    }

    /// Transcript, test log and final diff of one attempt.
    pub fn attempt_dir(&self, id: &TaskId, attempt: u32) -> PathBuf {
        self.root
            .join("tasks")
            .join(id.as_str())
            .join(attempt.to_string())
    }

    /// An attempt's transcript (JSON Lines).
    pub fn transcript(&self, id: &TaskId, attempt: u32) -> PathBuf {
        self.attempt_dir(id, attempt).join("transcript.jsonl")
    }

    /// drover's own git repository for a user repository (see `workspace::record`).
    pub fn git_store(&self, repo_hash: &str) -> PathBuf {
        self.root.join("git").join(format!("{repo_hash}.git"))
    }

    /// A task's stat cache for snapshots of its workspace (a git index file).
    pub fn task_index(&self, id: &TaskId) -> PathBuf {
        self.task_dir(id).join("index")
    }

    pub fn task_dir(&self, id: &TaskId) -> PathBuf {
        self.root.join("tasks").join(id.as_str())
    }
}

/// Where the data dir is (`DROVER_HOME`, else the XDG data dir), without making it.
pub fn data_root_from_env() -> io::Result<PathBuf> {
    match std::env::var_os("DROVER_HOME").filter(|v| !v.is_empty()) {
        Some(p) if Path::new(&p).is_absolute() => Ok(PathBuf::from(p)),
        Some(p) => Ok(std::env::current_dir()?.join(p)),
        None => directories::ProjectDirs::from("", "", "drover")
            .map(|d| d.data_dir().to_path_buf())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    "cannot find a home directory for drover's data: set DROVER_HOME",
                )
            }),
    }
}

/// `mkdir -p` with 0700 on every directory it creates, and on `dir` itself.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    // DirBuilder's mode is filtered by the umask; set it explicitly.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

/// Opens `path` for appending, creating it 0600.
pub fn open_private_append(path: &Path) -> io::Result<fs::File> {
    let file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

/// Writes `path` whole (0600), via a temp file and rename so readers never see half.
pub fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    // A name of its own, so two writers (threads or processes) never rename each other's.
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}-{n}.tmp", std::process::id()));
    let tmp = path.with_file_name(name);
    {
        let mut f = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        io::Write::write_all(&mut f, contents)?;
    }
    fs::rename(tmp, path)
}

/// `bytes` as "12.3 MiB".
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

/// Bytes of the files under `path` (links counted as themselves, never followed;
/// unreadable parts skipped). The walk is `workspace::beneath`'s: a workspace is the
/// agent's, and swapping a directory for a link must not lead the count elsewhere.
pub fn disk_usage(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    crate::beneath::Beneath::open(path)
        .and_then(|b| b.usage())
        .map_or(0, |u| u.bytes)
}

/// Short stable hash of a repository path (the `drover.repo` label).
pub fn repo_hash(root: &Path) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(root.as_os_str().as_encoded_bytes());
    hex::encode(&digest[..6])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirs_and_files_are_private() {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::at(tmp.path().join("a/b")).unwrap();
        let mode = fs::metadata(data.root()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let f = data.root().join("x.log");
        open_private_append(&f).unwrap();
        let mode = fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        write_private(&data.root().join("y"), b"hi").unwrap();
        let mode = fs::metadata(data.root().join("y"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
}
