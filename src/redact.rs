//! Secrets out of everything drover writes: known values from the environment (API keys,
//! tokens) and high-confidence token patterns become `[REDACTED:<kind>]`.
//!
//! Applied at write time to transcript entries, test logs and agent summaries, so a secret
//! an agent prints never reaches disk or the UI. Live output chunks are redacted chunk by
//! chunk (a secret split across two chunks can slip through there, never into storage).

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::Regex;

pub struct Redactor {
    /// (value, kind), longest first so a value containing another is replaced whole.
    values: Vec<(String, String)>,
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
        Redactor { values, patterns }
    }

    /// The process's redactor, from its environment at first use.
    pub fn global() -> &'static Redactor {
        static R: OnceLock<Redactor> = OnceLock::new();
        R.get_or_init(|| Redactor::new(std::env::vars()))
    }

    /// The kind of the first secret in `s` (its value is not returned, so it cannot leak
    /// into a message).
    pub fn find(&self, s: &str) -> Option<String> {
        if let Some((_, kind)) = self.values.iter().find(|(v, _)| s.contains(v.as_str())) {
            return Some(kind.clone());
        }
        self.patterns
            .iter()
            .find(|(re, _)| re.is_match(s))
            .map(|(_, kind)| kind.to_string())
    }

    pub fn redact<'a>(&self, s: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(s);
        for (value, kind) in &self.values {
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

#[cfg(test)]
mod tests {
    use super::*;

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
