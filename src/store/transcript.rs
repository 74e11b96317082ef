//! Transcripts on disk: one JSON object per line, appended and flushed per entry.
//!
//! Reading tolerates a torn last line (a crash mid-write): it is skipped with a warning and
//! everything before it loads.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use crate::paths::open_private_append;
use crate::protocol::Entry;

#[derive(Debug)]
pub struct TranscriptLog {
    path: PathBuf,
    file: File,
    /// Entries the file holds (as `read_transcript` reads them): the next one's index.
    count: u64,
    /// A write failed part-way: the next entry starts on a line of its own.
    torn: bool,
}

impl TranscriptLog {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            crate::paths::create_private_dir(dir)?;
        }
        let mut file = open_private_append(path)?;
        // A crash can leave a torn last line: end it, so the next entry is not glued to
        // it (the torn line is then skipped on load, and nothing after it is lost).
        if ends_torn(path)? {
            file.write_all(b"\n")?;
        }
        let count = read_transcript(path)?.0.len() as u64;
        Ok(TranscriptLog {
            path: path.to_path_buf(),
            file,
            count,
            torn: false,
        })
    }

    /// Appends `entry`; its index in the transcript (what a reader of the file counts it
    /// as), so a front end can join a history read back with what it saw live.
    pub fn append(&mut self, entry: &Entry) -> std::io::Result<u64> {
        let mut line = Vec::new();
        if self.torn {
            // What a failed write left is a line of its own (skipped when read), so it
            // counts for nothing and glues nothing to this entry.
            line.push(b'\n');
        }
        serde_json::to_writer(&mut line, entry)?;
        line.push(b'\n');
        // One write per entry: a crash tears at most the last line.
        self.torn = true;
        self.file.write_all(&line)?;
        self.file.flush()?;
        self.torn = false;
        self.count += 1;
        Ok(self.count - 1)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn ends_torn(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(path)?;
    if f.metadata()?.len() == 0 {
        return Ok(false);
    }
    f.seek(SeekFrom::End(-1))?;
    let mut last = [0u8];
    f.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// Entries of a transcript file, and a warning per line that could not be read.
pub fn read_transcript(path: &Path) -> std::io::Result<(Vec<Entry>, Vec<String>)> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(e),
    };
    let mut entries = Vec::new();
    let mut warnings = Vec::new();
    for (n, line) in BufReader::new(file).split(b'\n').enumerate() {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Entry>(&line) {
            Ok(e) => entries.push(e),
            Err(e) => warnings.push(format!(
                "{}:{}: skipped unreadable entry ({e})",
                path.display(),
                n + 1
            )),
        }
    }
    Ok((entries, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::EntryKind;

    #[test]
    fn dur_08_torn_tail_loads_everything_before_it() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("t/transcript.jsonl");
        let mut log = TranscriptLog::open(&p).unwrap();
        for i in 0..3 {
            log.append(&Entry::now(EntryKind::Info {
                text: format!("entry {i}"),
            }))
            .unwrap();
        }
        drop(log);
        let mut raw = std::fs::read(&p).unwrap();
        raw.extend_from_slice(br#"{"at":"2026-01-01T00:00:00Z","kind":"inf"#);
        std::fs::write(&p, raw).unwrap();
        let (entries, warnings) = read_transcript(&p).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains(":4: skipped"), "{warnings:?}");

        // Resumed, the log ends the torn line first: the next entry loads.
        let mut log = TranscriptLog::open(&p).unwrap();
        log.append(&Entry::now(EntryKind::Info {
            text: "after".into(),
        }))
        .unwrap();
        let (entries, warnings) = read_transcript(&p).unwrap();
        assert_eq!(entries.len(), 4, "{warnings:?}");
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn missing_file_is_empty() {
        let (e, w) = read_transcript(Path::new("/nonexistent/x.jsonl")).unwrap();
        assert!(e.is_empty() && w.is_empty());
    }
}
