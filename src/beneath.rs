//! Reading a directory tree that someone else writes (a task's workspace, a cloned
//! repository's files) without ever leaving it: the one way drover's host side reads
//! untrusted files.
//!
//! Built on cap-std: every open is relative to a directory handle already opened, one
//! path component at a time, with `O_NOFOLLOW` (and openat2's `RESOLVE_BENEATH` where
//! the kernel has it). So a symlink is read as a link and never followed, `..` cannot
//! climb out, and a directory swapped for a link between two calls makes the open fail
//! instead of leading elsewhere. Files are opened non-blocking and checked to be regular
//! files on the handle itself, so a FIFO cannot hang a reader. Special files are reported,
//! never opened. Nothing here writes; callers decide what a file means.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt, OsMetadataExt};
use cap_std::fs::{Dir, File, Metadata, OpenOptions};

/// How deep a walk goes: deeper trees are reported, not read (each level holds a handle).
pub const MAX_DEPTH: usize = 100;

/// What a directory entry is, without following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// A FIFO, socket or device: never opened.
    Special(&'static str),
}

impl Kind {
    fn of(meta: &Metadata) -> Kind {
        use cap_fs_ext::FileTypeExt;
        let t = meta.file_type();
        if t.is_symlink() {
            Kind::Symlink
        } else if t.is_dir() {
            Kind::Dir
        } else if t.is_file() {
            Kind::File
        } else if t.is_fifo() {
            Kind::Special("fifo")
        } else if t.is_socket() {
            Kind::Special("socket")
        } else if t.is_block_device() || t.is_char_device() {
            Kind::Special("device")
        } else {
            Kind::Special("unknown file type")
        }
    }
}

/// The stat fields drover compares to know a file is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stat {
    pub size: u64,
    pub mode: u32,
    pub ino: u64,
    pub dev: u64,
    pub uid: u32,
    pub gid: u32,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    /// 512-byte blocks it occupies.
    pub blocks: u64,
}

impl Stat {
    pub fn of(meta: &Metadata) -> Stat {
        Stat {
            size: meta.size(),
            mode: meta.mode(),
            ino: meta.ino(),
            dev: meta.dev(),
            uid: meta.uid(),
            gid: meta.gid(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            blocks: meta.blocks(),
        }
    }

    fn of_raw(s: &rustix::fs::Stat) -> Stat {
        Stat {
            size: s.st_size as u64,
            mode: s.st_mode,
            ino: s.st_ino,
            dev: s.st_dev,
            uid: s.st_uid,
            gid: s.st_gid,
            mtime: (s.st_mtime, s.st_mtime_nsec as i64),
            ctime: (s.st_ctime, s.st_ctime_nsec as i64),
            blocks: s.st_blocks as u64,
        }
    }

    pub fn executable(&self) -> bool {
        self.mode & 0o111 != 0
    }
}

/// A root directory opened once; everything below is reached through it.
#[derive(Debug)]
pub struct Beneath {
    root: Dir,
    path: PathBuf,
}

/// One entry met by `walk`.
pub struct Visit<'a> {
    /// The directory holding it (open it relative to this, by `name`).
    pub parent: &'a Dir,
    pub name: &'a OsStr,
    /// Path from the root, `/`-separated bytes.
    pub path: &'a [u8],
    pub kind: Kind,
    pub depth: usize,
}

impl Visit<'_> {
    /// Its metadata, not following a link.
    pub fn metadata(&self) -> io::Result<Metadata> {
        self.parent.symlink_metadata(self.name)
    }

    /// Its stat, not following a link: one `fstatat` on its directory's handle with its
    /// own name (a single component read from that directory: nothing to resolve).
    pub fn stat(&self) -> io::Result<Stat> {
        rustix::fs::statat(
            self.parent,
            self.name,
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .map(|s| Stat::of_raw(&s))
        .map_err(io::Error::from)
    }

    /// Opens it as a regular file (see `open_file`).
    pub fn open(&self) -> io::Result<(File, Metadata)> {
        open_file(self.parent, self.name)
    }

    /// It as a directory (fails if it was swapped for a link meanwhile).
    pub fn open_dir(&self) -> io::Result<Dir> {
        self.parent.open_dir_nofollow(self.name)
    }

    /// A symlink's target, as stored (never resolved).
    pub fn link_target(&self) -> io::Result<Vec<u8>> {
        self.parent
            .read_link_contents(self.name)
            .map(|p| p.into_os_string().into_encoded_bytes())
    }
}

/// What `walk` does with a directory after visiting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Descend,
    Skip,
}

/// Opens `name` in `dir` for reading if it is a regular file: no link followed, no
/// blocking on a FIFO, the type checked on the opened handle.
pub fn open_file(dir: &Dir, name: &OsStr) -> io::Result<(File, Metadata)> {
    let mut opts = OpenOptions::new();
    opts.read(true).follow(FollowSymlinks::No);
    cap_fs_ext::OpenOptionsExt::custom_flags(&mut opts, rustix::fs::OFlags::NONBLOCK.bits() as i32);
    let file = dir.open_with(name, &opts)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other(format!(
            "{} is not a regular file",
            Path::new(name).display()
        )));
    }
    Ok((file, meta))
}

/// The components of a relative path, refusing anything that is not a plain name.
fn names(rel: &Path) -> io::Result<Vec<&OsStr>> {
    rel.components()
        .map(|c| match c {
            Component::Normal(n) => Ok(n),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: only plain relative paths are read", rel.display()),
            )),
        })
        .collect()
}

impl Beneath {
    /// Opens `root` (a path drover chose; what is under it is untrusted).
    pub fn open(root: &Path) -> io::Result<Beneath> {
        let root_dir = Dir::open_ambient_dir(root, cap_std::ambient_authority())?;
        Ok(Beneath {
            root: root_dir,
            path: root.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory at `rel` (every component a real directory, none a link).
    pub fn dir(&self, rel: &Path) -> io::Result<Dir> {
        let mut dir = self.root.try_clone()?;
        for n in names(rel)? {
            dir = dir.open_dir_nofollow(n)?;
        }
        Ok(dir)
    }

    /// Splits `rel` into the directory holding it and its last name.
    fn parent_of<'p>(&self, rel: &'p Path) -> io::Result<(Dir, &'p OsStr)> {
        let parts = names(rel)?;
        let (last, dirs) = parts.split_last().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "an empty path names no file")
        })?;
        let mut dir = self.root.try_clone()?;
        for n in dirs {
            dir = dir.open_dir_nofollow(n)?;
        }
        Ok((dir, last))
    }

    /// What `rel` is, if it exists (links not followed, at any level).
    pub fn kind(&self, rel: &Path) -> Option<Kind> {
        let (dir, name) = self.parent_of(rel).ok()?;
        dir.symlink_metadata(name).ok().map(|m| Kind::of(&m))
    }

    /// The content of the regular file at `rel`, if there is one of at most `max` bytes.
    /// `Ok(None)`: missing, not a regular file (a link, a directory, a FIFO) or too big.
    pub fn read(&self, rel: &Path, max: u64) -> io::Result<Option<Vec<u8>>> {
        let (dir, name) = match self.parent_of(rel) {
            Ok(p) => p,
            Err(e) if gone(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        match dir.symlink_metadata(name) {
            Ok(m) if m.is_file() && m.len() <= max => {}
            Ok(_) => return Ok(None),
            Err(e) if gone(&e) => return Ok(None),
            Err(e) => return Err(e),
        }
        let (file, meta) = match open_file(&dir, name) {
            Ok(f) => f,
            Err(e) if gone(&e) || e.kind() == io::ErrorKind::Other => return Ok(None),
            Err(e) => return Err(e),
        };
        if meta.len() > max {
            return Ok(None);
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(max + 1).read_to_end(&mut bytes)?;
        Ok((bytes.len() as u64 <= max).then_some(bytes))
    }

    /// The first `max` bytes of the regular file at `rel` (all of it when smaller), and
    /// whether there was more. `None` as for `read`, whatever its size.
    pub fn read_head(&self, rel: &Path, max: u64) -> Option<(Vec<u8>, bool)> {
        let (dir, name) = self.parent_of(rel).ok()?;
        if !dir.symlink_metadata(name).ok()?.is_file() {
            return None;
        }
        let (file, meta) = open_file(&dir, name).ok()?;
        let mut bytes = Vec::with_capacity(meta.len().min(max) as usize);
        file.take(max).read_to_end(&mut bytes).ok()?;
        Some((bytes, meta.len() > max))
    }

    /// `read` as text (lossy), for small files such as configs and docs.
    pub fn read_text(&self, rel: &Path, max: u64) -> Option<String> {
        let bytes = self.read(rel, max).ok()??;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The entries of the directory at `rel`, with what each is.
    pub fn list(&self, rel: &Path) -> io::Result<Vec<(OsString, Kind)>> {
        let dir = self.dir(rel)?;
        let mut out = Vec::new();
        for e in dir.entries()? {
            let e = e?;
            let kind = entry_kind(&dir, &e)?;
            out.push((e.file_name(), kind));
        }
        Ok(out)
    }

    /// Visits every entry under the root, depth first; `visit` decides whether to go
    /// into each directory. Entries that vanish while walking are skipped; a directory
    /// deeper than `MAX_DEPTH` is visited but never entered (the visitor sees its depth).
    pub fn walk(&self, visit: &mut dyn FnMut(&Visit<'_>) -> io::Result<Step>) -> io::Result<()> {
        let mut path = Vec::new();
        walk_dir(&self.root, &mut path, 0, visit)
    }
}

/// Space taken by a tree of files: their sizes, what they occupy on disk, how many.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub bytes: u64,
    pub disk: u64,
    pub files: u64,
}

impl Usage {
    fn add(&mut self, s: &Stat) {
        self.bytes += s.size;
        self.disk += s.blocks * 512;
        self.files += 1;
    }
}

impl Beneath {
    /// Everything under the root, links counted as themselves.
    pub fn usage(&self) -> io::Result<Usage> {
        usage_of(&self.root, 0)
    }
}

/// Everything under `dir`, which is `depth` levels below a walk's root (the walk goes no
/// deeper than `MAX_DEPTH` in all); entries that vanish meanwhile are skipped.
pub fn usage_of(dir: &Dir, depth: usize) -> io::Result<Usage> {
    let mut total = Usage::default();
    let mut path = Vec::new();
    walk_dir(dir, &mut path, depth, &mut |v| {
        match v.stat() {
            Ok(s) if v.kind != Kind::Dir => total.add(&s),
            Ok(s) => total.disk += s.blocks * 512,
            Err(e) if gone(&e) => {}
            Err(e) => return Err(e),
        }
        Ok(Step::Descend)
    })?;
    Ok(total)
}

fn gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    ) || e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
}

fn entry_kind(dir: &Dir, e: &cap_std::fs::DirEntry) -> io::Result<Kind> {
    let t = e.file_type()?;
    if t.is_dir() {
        return Ok(Kind::Dir);
    }
    if t.is_file() {
        return Ok(Kind::File);
    }
    if t.is_symlink() {
        return Ok(Kind::Symlink);
    }
    // Unknown on some file systems (or special): ask without following.
    dir.symlink_metadata(e.file_name()).map(|m| Kind::of(&m))
}

fn walk_dir(
    dir: &Dir,
    path: &mut Vec<u8>,
    depth: usize,
    visit: &mut dyn FnMut(&Visit<'_>) -> io::Result<Step>,
) -> io::Result<()> {
    // Listed whole first, so each level below holds one handle (its directory's), not two.
    let mut listed = Vec::new();
    for e in dir.entries()? {
        let e = match e {
            Ok(e) => e,
            Err(e) if gone(&e) => continue,
            Err(e) => return Err(e),
        };
        match entry_kind(dir, &e) {
            Ok(k) => listed.push((e.file_name(), k)),
            Err(e) if gone(&e) => continue,
            Err(e) => return Err(e),
        }
    }
    for (name, kind) in listed {
        let len = path.len();
        if len > 0 {
            path.push(b'/');
        }
        path.extend_from_slice(name.as_bytes());
        let step = visit(&Visit {
            parent: dir,
            name: &name,
            path,
            kind,
            depth,
        })?;
        if kind == Kind::Dir && step == Step::Descend && depth + 1 < MAX_DEPTH {
            match dir.open_dir_nofollow(&name) {
                Ok(sub) => walk_dir(&sub, path, depth + 1, visit)?,
                // Replaced by a link or removed since it was listed: not followed.
                Err(e) if gone(&e) => {}
                Err(e) => return Err(e),
            }
        }
        path.truncate(len);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> (tempfile::TempDir, tempfile::TempDir) {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "OUTSIDE").unwrap();
        std::fs::create_dir(root.path().join("sub")).unwrap();
        std::fs::write(root.path().join("sub/a.txt"), "inside").unwrap();
        symlink(outside.path().join("secret"), root.path().join("link")).unwrap();
        symlink(outside.path(), root.path().join("dirlink")).unwrap();
        symlink("../../..", root.path().join("sub/up")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.path().join("fifo"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        (root, outside)
    }

    #[test]
    fn reads_stay_beneath_the_root_and_never_follow_links() {
        let (root, _outside) = tree();
        let b = Beneath::open(root.path()).unwrap();
        // Positive control: a real file beneath the root reads.
        assert_eq!(
            b.read(Path::new("sub/a.txt"), 100).unwrap().unwrap(),
            b"inside"
        );
        assert_eq!(b.read(Path::new("link"), 100).unwrap(), None);
        assert_eq!(b.read(Path::new("dirlink/secret"), 100).unwrap(), None);
        assert_eq!(
            b.read(Path::new("sub/up/etc/passwd"), 1 << 20).unwrap(),
            None
        );
        assert!(b.read(Path::new("../x"), 100).is_err());
        assert!(b.read(Path::new("/etc/passwd"), 100).is_err());
        // A FIFO neither blocks nor reads.
        assert_eq!(b.read(Path::new("fifo"), 100).unwrap(), None);
        assert_eq!(b.kind(Path::new("fifo")), Some(Kind::Special("fifo")));
        assert_eq!(b.kind(Path::new("link")), Some(Kind::Symlink));
        // Too big is none, not a truncated read.
        assert_eq!(b.read(Path::new("sub/a.txt"), 3).unwrap(), None);
    }

    #[test]
    fn walk_reports_links_as_links_and_does_not_enter_them() {
        let (root, _outside) = tree();
        let b = Beneath::open(root.path()).unwrap();
        let mut seen = Vec::new();
        b.walk(&mut |v| {
            let target = (v.kind == Kind::Symlink).then(|| v.link_target().unwrap());
            seen.push((String::from_utf8_lossy(v.path).into_owned(), v.kind, target));
            Ok(Step::Descend)
        })
        .unwrap();
        seen.sort_by(|a, b| a.0.cmp(&b.0));
        let names: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(
            names,
            ["dirlink", "fifo", "link", "sub", "sub/a.txt", "sub/up"]
        );
        assert_eq!(seen[5].2.as_deref(), Some(&b"../../.."[..]));
        assert_eq!(seen[1].1, Kind::Special("fifo"));
    }
}
