//! drover's memory of a task's workspace: for each path it recorded, the blob it was and
//! the stat it had then, and the tree they all make. A snapshot reads again only the
//! files whose stat changed, and rebuilds only the trees above what changed.
//!
//! Kept in memory by the engine while an attempt runs, and on disk as one file written
//! whole (`tasks/<id>/index`, temp file and rename), so its entries and its tree never
//! disagree. A file that cannot be read is no cache: the next snapshot reads every file.
//! Seeded at creation from the index a checkout wrote, while drover was the only writer.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use git2::{Oid, Repository};

use crate::beneath::Stat;

const MAGIC: &str = "drover-stat-cache 1";

/// A path git would not take into a tree, and why.
pub type Refused = (Vec<u8>, String);

/// What a file's stat was when its blob was read. Size and inode are compared in their
/// low 32 bits (what git's index keeps); the times to the nanosecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    size: u32,
    ino: u32,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Key {
    pub fn of(s: &Stat) -> Key {
        Key {
            size: s.size as u32,
            ino: s.ino as u32,
            mtime: s.mtime,
            ctime: s.ctime,
        }
    }
}

/// One recorded path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cached {
    pub id: Oid,
    pub mode: u32,
    /// `None`: not vouched for (changed too recently, or never read): read it again.
    pub key: Option<Key>,
    /// Met by the snapshot being taken (bookkeeping of one walk; never saved).
    pub seen: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatCache {
    pub entries: HashMap<Vec<u8>, Cached>,
    /// The tree `entries` make, when known.
    pub tree: Option<Oid>,
}

impl StatCache {
    /// The files of `tree`, none vouched for (each is read once).
    pub fn from_tree(tree: &git2::Tree<'_>) -> Result<StatCache, git2::Error> {
        let mut index = git2::Index::new()?;
        index.read_tree(tree)?;
        let entries = index
            .iter()
            .map(|e| {
                let c = Cached {
                    id: e.id,
                    mode: e.mode,
                    key: None,
                    seen: false,
                };
                (e.path, c)
            })
            .collect();
        Ok(StatCache {
            entries,
            tree: Some(tree.id()),
        })
    }

    /// From the index a checkout of `tree` just wrote (drover's own writing): its stats
    /// vouch for the files it wrote.
    pub fn from_checkout(index: &Path, tree: Oid) -> Result<StatCache, git2::Error> {
        let index = git2::Index::open(index)?;
        let entries = index
            .iter()
            .map(|e| {
                let key = Key {
                    size: e.file_size,
                    ino: e.ino,
                    mtime: (e.mtime.seconds().into(), e.mtime.nanoseconds().into()),
                    ctime: (e.ctime.seconds().into(), e.ctime.nanoseconds().into()),
                };
                let c = Cached {
                    id: e.id,
                    mode: e.mode,
                    key: (e.ctime.seconds() != 0).then_some(key),
                    seen: false,
                };
                (e.path, c)
            })
            .collect();
        Ok(StatCache {
            entries,
            tree: Some(tree),
        })
    }

    /// The cache saved at `path`, or `None` when there is none or it does not parse.
    pub fn load(path: &Path) -> Option<StatCache> {
        let text = std::fs::read_to_string(path).ok()?;
        parse(&text)
    }

    /// Writes it whole to `path` (0600, via a temp file: never half written).
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let mut out = String::with_capacity(self.entries.len() * 120);
        let tree = self.tree.map_or("-".to_string(), |t| t.to_string());
        out.push_str(&format!("{MAGIC} {tree}\n"));
        let mut paths: Vec<&Vec<u8>> = self.entries.keys().collect();
        paths.sort();
        for p in paths {
            let c = &self.entries[p];
            let key = match c.key {
                Some(k) => format!(
                    "{} {} {}.{} {}.{}",
                    k.size, k.ino, k.mtime.0, k.mtime.1, k.ctime.0, k.ctime.1
                ),
                None => "- - - -".into(),
            };
            out.push_str(&format!("{} {:o} {key} {}\n", c.id, c.mode, hex::encode(p)));
        }
        out.push_str(&format!("end {}\n", self.entries.len()));
        if let Some(dir) = path.parent() {
            crate::paths::create_private_dir(dir)?;
        }
        crate::paths::write_private(path, out.as_bytes())
    }

    /// The tree of every entry, built afresh (when no earlier tree can be updated). Paths
    /// git will not take are left out and returned with the reason.
    pub fn build_tree(&mut self, store: &Repository) -> Result<(Oid, Vec<Refused>), git2::Error> {
        let mut index = git2::Index::new()?;
        let mut refused = Vec::new();
        for (path, c) in &self.entries {
            let e = git2::IndexEntry {
                ctime: git2::IndexTime::new(0, 0),
                mtime: git2::IndexTime::new(0, 0),
                dev: 0,
                ino: 0,
                mode: c.mode,
                uid: 0,
                gid: 0,
                file_size: 0,
                id: c.id,
                flags: 0,
                flags_extended: 0,
                path: path.clone(),
            };
            if let Err(err) = index.add(&e) {
                refused.push((path.clone(), err.message().to_string()));
            }
        }
        for (p, _) in &refused {
            self.entries.remove(p);
        }
        let tree = index.write_tree_to(store)?;
        self.tree = Some(tree);
        Ok((tree, refused))
    }
}

fn parse(text: &str) -> Option<StatCache> {
    let mut lines = text.lines();
    let head = lines.next()?.strip_prefix(MAGIC)?.trim();
    let tree = match head {
        "-" => None,
        t => Some(Oid::from_str(t).ok()?),
    };
    let mut entries = HashMap::new();
    for line in lines {
        if let Some(n) = line.strip_prefix("end ") {
            return (n.parse::<usize>().ok()? == entries.len())
                .then_some(StatCache { entries, tree });
        }
        let f: Vec<&str> = line.split(' ').collect();
        let [id, mode, size, ino, mtime, ctime, path] = f.as_slice() else {
            return None;
        };
        let key = if *size == "-" {
            None
        } else {
            let time = |t: &str| -> Option<(i64, i64)> {
                let (s, n) = t.split_once('.')?;
                Some((s.parse().ok()?, n.parse().ok()?))
            };
            Some(Key {
                size: size.parse().ok()?,
                ino: ino.parse().ok()?,
                mtime: time(mtime)?,
                ctime: time(ctime)?,
            })
        };
        let c = Cached {
            id: Oid::from_str(id).ok()?,
            mode: u32::from_str_radix(mode, 8).ok()?,
            key,
            seen: false,
        };
        entries.insert(hex::decode(path).ok()?, c);
    }
    // No end line: cut short.
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_saves_and_loads_whole_and_refuses_a_torn_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("index");
        let id = Oid::from_str("0123456789abcdef0123456789abcdef01234567").unwrap();
        let mut c = StatCache {
            tree: Some(id),
            ..Default::default()
        };
        c.entries.insert(
            b"a dir/\xffodd name".to_vec(),
            Cached {
                id,
                mode: 0o100755,
                seen: false,
                key: Some(Key {
                    size: 3,
                    ino: 7,
                    mtime: (1, 2),
                    ctime: (3, 4),
                }),
            },
        );
        c.entries.insert(
            b"link".to_vec(),
            Cached {
                id,
                mode: 0o120000,
                key: None,
                seen: false,
            },
        );
        c.save(&path).unwrap();
        assert_eq!(StatCache::load(&path), Some(c));
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, &text[..text.len() - 5]).unwrap();
        assert_eq!(StatCache::load(&path), None, "a torn line is no cache");
    }
}
