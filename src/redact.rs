//! Secrets out of everything drover writes: known values from the environment (API keys,
//! tokens) and high-confidence token patterns become `[REDACTED:<kind>]`.
//!
//! Command output is redacted as a stream (`RedactStream`), before anything keeps head and
//! tail of it: a secret split across two chunks, or across the cut of a long output, is
//! held back until it is whole, so no part of it survives. Transcript entries, test logs,
//! summaries, titles, prompts and scripts are redacted again before they are stored.

use std::borrow::Cow;
use std::sync::{OnceLock, RwLock, RwLockReadGuard};

use regex::Regex;

pub struct Redactor {
    /// (value, kind), longest first so a value containing another is replaced whole.
    /// Grows when drover hands a value to a sandbox (`learn`): a `setup_env` variable.
    values: RwLock<Vec<(String, String)>>,
    patterns: Vec<(Regex, &'static str)>,
}

fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    [
        "_API_KEY",
        "_TOKEN",
        "_SECRET",
        "_PASSWORD",
        "_ACCESS_KEY",
        "_SECRET_KEY",
    ]
    .iter()
    .any(|s| n.ends_with(s))
        || [
            "GITHUB_TOKEN",
            "GH_TOKEN",
            "ANTHROPIC_API_KEY",
            "OPENAI_API_KEY",
        ]
        .contains(&n.as_str())
}

impl Redactor {
    pub fn new(env: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut values: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, v)| secret_name(k) && v.trim().len() >= 8)
            .map(|(k, v)| (v.trim().to_string(), format!("env:{k}")))
            .collect();
        values.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
        let pat = |re: &str, kind| Regex::new(re).ok().map(|r| (r, kind));
        let patterns = [
            pat(
                r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
                "private-key",
            ),
            pat(r"sk-ant-[A-Za-z0-9_\-]{16,}", "anthropic-key"),
            pat(r"github_pat_[A-Za-z0-9_]{20,}", "github-token"),
            pat(r"gh[pousr]_[A-Za-z0-9]{30,}", "github-token"),
            pat(r"sk-[A-Za-z0-9_\-]{20,}", "openai-key"),
            pat(r"\bAKIA[0-9A-Z]{16}\b", "aws-key"),
        ]
        .into_iter()
        .flatten()
        .collect();
        Redactor {
            values: RwLock::new(values),
            patterns,
        }
    }

    fn values(&self) -> RwLockReadGuard<'_, Vec<(String, String)>> {
        // A panic elsewhere while holding the lock leaves a list that is still whole.
        self.values.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Redacts `value` from now on, as `[REDACTED:env:<name>]`: drover is about to give
    /// it to a sandbox (whatever it prints or writes is redacted before it is kept).
    /// Values shorter than 4 characters are not secrets and would redact everything.
    pub fn learn(&self, name: &str, value: &str) {
        let value = value.trim();
        if value.len() < 4 {
            return;
        }
        let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
        if values.iter().any(|(v, _)| v == value) {
            return;
        }
        values.push((value.to_string(), format!("env:{name}")));
        values.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
    }

    /// The process's redactor, from its environment at first use.
    pub fn global() -> &'static Redactor {
        static R: OnceLock<Redactor> = OnceLock::new();
        R.get_or_init(|| Redactor::new(std::env::vars()))
    }

    /// Where the first secret in `s` starts, and its kind (not its value, so it cannot
    /// leak into a message).
    pub fn find_at(&self, s: &str) -> Option<(usize, String)> {
        let values = self.values();
        let by_value = values
            .iter()
            .filter_map(|(v, kind)| s.find(v.as_str()).map(|i| (i, kind.clone())));
        let by_pattern = self
            .patterns
            .iter()
            .filter_map(|(re, kind)| re.find(s).map(|m| (m.start(), kind.to_string())));
        by_value.chain(by_pattern).min_by_key(|(i, _)| *i)
    }

    /// The kind of the first secret in `s` (its value is not returned, so it cannot leak
    /// into a message).
    pub fn find(&self, s: &str) -> Option<String> {
        if let Some((_, kind)) = self.values().iter().find(|(v, _)| s.contains(v.as_str())) {
            return Some(kind.clone());
        }
        self.patterns
            .iter()
            .find(|(re, _)| re.is_match(s))
            .map(|(_, kind)| kind.to_string())
    }

    pub fn redact<'a>(&self, s: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(s);
        for (value, kind) in self.values().iter() {
            if out.contains(value.as_str()) {
                out = Cow::Owned(out.replace(value.as_str(), &format!("[REDACTED:{kind}]")));
            }
        }
        for (re, kind) in &self.patterns {
            if re.is_match(&out) {
                out = Cow::Owned(
                    re.replace_all(&out, format!("[REDACTED:{kind}]").as_str())
                        .into_owned(),
                );
            }
        }
        out
    }
}

/// Redacts `s` with the process's redactor.
pub fn redact(s: &str) -> Cow<'_, str> {
    Redactor::global().redact(s)
}

impl Redactor {
    /// The byte ranges of every secret in `s` (they may overlap).
    fn ranges(&self, s: &str) -> Vec<std::ops::Range<usize>> {
        let mut out: Vec<std::ops::Range<usize>> = self
            .values()
            .iter()
            .flat_map(|(v, _)| s.match_indices(v.as_str()).map(|(i, m)| i..i + m.len()))
            .collect();
        for (re, _) in &self.patterns {
            out.extend(re.find_iter(s).map(|m| m.range()));
        }
        out
    }

    /// How much of a stream's end may be the start of a secret still arriving.
    fn hold(&self) -> usize {
        let longest = self
            .values()
            .iter()
            .map(|(v, _)| v.len())
            .max()
            .unwrap_or(0);
        (longest + 1).max(256)
    }
}

/// Where an unfinished private key block starts in `s`, if one does.
fn open_key_block(s: &str) -> Option<usize> {
    static BEGIN: OnceLock<Option<Regex>> = OnceLock::new();
    let begin = BEGIN
        .get_or_init(|| Regex::new(r"-----BEGIN [A-Z ]*PRIVATE KEY-----").ok())
        .as_ref()?;
    let last = begin.find_iter(s).last()?;
    (!s[last.end()..].contains("PRIVATE KEY-----")).then_some(last.start())
}

/// A private key block longer than this is redacted from its start without its end.
const KEY_BLOCK_MAX: usize = 64 << 10;

/// Redacts a text stream that arrives in pieces. What `push` returns never holds a part
/// of a secret whose rest is still to come: the stream's last bytes (as long as the
/// longest secret), any match reaching into them, and an unfinished private key block
/// wait for more text, or for `finish`.
#[derive(Debug, Default)]
pub struct RedactStream {
    pending: String,
    /// Scan again once this much is pending: a stream arriving a byte at a time is not
    /// rescanned per byte (the held part grows, so the work stays in proportion to it).
    next_scan: usize,
}

impl RedactStream {
    pub fn push(&mut self, text: &str) -> String {
        self.pending.push_str(text);
        if self.pending.len() < self.next_scan {
            return String::new();
        }
        let out = self.scan();
        let r = Redactor::global();
        self.next_scan = self.pending.len() + r.hold().max(self.pending.len() / 2);
        out
    }

    fn scan(&mut self) -> String {
        let r = Redactor::global();
        let mut cut = floor_char(&self.pending, self.pending.len().saturating_sub(r.hold()));
        if let Some(begin) = open_key_block(&self.pending) {
            if self.pending.len() - begin <= KEY_BLOCK_MAX {
                cut = cut.min(begin);
            } else {
                // Too long to be a key: whatever it is, it goes out redacted from there.
                let head = r.redact(&self.pending[..begin]).into_owned();
                self.pending.clear();
                return format!("{head}[REDACTED:private-key]");
            }
        }
        let window = cut;
        cut = clear_of_secrets(&r.ranges(&self.pending), cut);
        // A "secret" that goes on for ever is no secret: hold it only so long, so that
        // memory stays bounded (what goes out is redacted as far as it matched).
        if window - cut > KEY_BLOCK_MAX {
            cut = window;
        }
        let out = r.redact(&self.pending[..cut]).into_owned();
        self.pending.drain(..cut);
        out
    }

    /// What is held back, as it is (not redacted): the caller redacts it with what
    /// follows.
    pub fn take_pending(&mut self) -> String {
        self.next_scan = 0;
        std::mem::take(&mut self.pending)
    }

    /// The rest, redacted: the stream ended (or paused).
    pub fn finish(&mut self) -> String {
        let out = Redactor::global().redact(&self.pending).into_owned();
        self.pending.clear();
        self.next_scan = 0;
        out
    }
}

/// The last `keep` bytes of `text` (or a little more), redacted, where `text` starts at
/// a cut (what came before it is gone): the part kept starts where no secret spans it,
/// so none is kept in part. `text` must reach back far enough before the last `keep`
/// bytes to see whole a secret that crosses that point.
pub fn redact_tail(text: &str, keep: usize) -> String {
    let r = Redactor::global();
    let cut = floor_char(text, text.len().saturating_sub(keep));
    let cut = clear_of_secrets(&r.ranges(text), cut);
    r.redact(&text[cut..]).into_owned()
}

/// `cut` moved back to where no secret in `ranges` spans it (a secret's start).
fn clear_of_secrets(ranges: &[std::ops::Range<usize>], mut cut: usize) -> usize {
    while let Some(start) = ranges
        .iter()
        .filter(|m| m.start < cut && m.end > cut)
        .map(|m| m.start)
        .min()
    {
        cut = start;
    }
    cut
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_token_shaped_stream_is_held_only_so_long() {
        let mut s = RedactStream::default();
        s.push("ghp_");
        let chunk = "A".repeat(8 << 10);
        let mut out = 0;
        for _ in 0..64 {
            out += s.push(&chunk).len();
        }
        assert!(s.pending.len() < KEY_BLOCK_MAX + (16 << 10), "bounded");
        assert!(out > 0, "it went out, redacted as far as it matched");
    }

    #[test]
    fn htb_09_a_secret_split_across_chunks_is_never_emitted_in_parts() {
        let secret = format!("ghp_{}", "Q7".repeat(18));
        let text = format!(
            "{}before {secret} after{}",
            "x".repeat(1000),
            "y".repeat(1000)
        );
        for cut in (0..text.len()).step_by(7) {
            let mut s = RedactStream::default();
            let mut out = s.push(&text[..cut]);
            out += &s.push(&text[cut..]);
            out += &s.finish();
            assert!(
                out.contains("before [REDACTED:github-token] after"),
                "cut {cut}"
            );
            // No fragment of the secret's body survives anywhere.
            assert!(!out.contains("Q7Q7Q7"), "cut {cut}: {out}");
        }
        // Byte by byte too, and a private key block across many chunks.
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nAAAA\nBBBB\n-----END RSA PRIVATE KEY-----\n";
        let mut s = RedactStream::default();
        let mut out = String::new();
        for ch in format!("{pem}{secret}\ndone").chars() {
            out += &s.push(&ch.to_string());
        }
        out += &s.finish();
        assert_eq!(out, "[REDACTED:private-key]\n[REDACTED:github-token]\ndone");
    }

    #[test]
    fn env_values_and_patterns_are_redacted() {
        let r = Redactor::new([
            (
                "OPENAI_API_KEY".to_string(),
                "plainvalue-1234567".to_string(),
            ),
            ("HOME".to_string(), "/home/someone-long".to_string()),
            ("MY_SERVICE_TOKEN".to_string(), "short".to_string()),
        ]);
        let s = r.redact("key=plainvalue-1234567 home=/home/someone-long tok=short");
        assert_eq!(
            s,
            "key=[REDACTED:env:OPENAI_API_KEY] home=/home/someone-long tok=short"
        );
        let s = r.redact("ghp_abcdefghijklmnopqrstuvwxyz0123456789 and sk-ant-api03-AAAAAAAAAAAAAAAAAAAA and AKIAABCDEFGHIJKLMNOP");
        assert_eq!(
            s,
            "[REDACTED:github-token] and [REDACTED:anthropic-key] and [REDACTED:aws-key]"
        );
        let pem = "x\n-----BEGIN OPENSSH PRIVATE KEY-----\nabc\ndef\n-----END OPENSSH PRIVATE KEY-----\ny";
        assert_eq!(r.redact(pem), "x\n[REDACTED:private-key]\ny");
        assert!(matches!(r.redact("nothing secret here"), Cow::Borrowed(_)));
    }
}
