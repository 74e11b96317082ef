//! Config errors that point at the spot: `file:line:col: message`, plus the line itself.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub message: String,
    /// The offending source line with a caret under the column.
    pub snippet: Option<String>,
}

impl std::error::Error for ConfigError {}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.col,
            self.message
        )?;
        if let Some(s) = &self.snippet {
            write!(f, "\n{s}")?;
        }
        Ok(())
    }
}

impl ConfigError {
    /// An error at byte `span` of `src` (or 1:1 when there is no span).
    pub fn at(
        file: &Path,
        src: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> Self {
        let offset = span.map(|s| s.start).unwrap_or(0).min(src.len());
        let (line, col) = line_col(src, offset);
        let text = src.lines().nth(line - 1).unwrap_or("");
        let snippet = (!text.is_empty()).then(|| {
            format!(
                "  {line:>3} | {text}\n      | {}^",
                " ".repeat(col.saturating_sub(1))
            )
        });
        ConfigError {
            file: file.to_path_buf(),
            line,
            col,
            message: message.into(),
            snippet,
        }
    }

    pub fn io(file: &Path, err: &std::io::Error) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: 1,
            col: 1,
            message: format!("cannot read: {err}"),
            snippet: None,
        }
    }
}

/// 1-based line and column (in chars) of byte `offset`.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = src[line_start..offset].chars().count() + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let src = "a = 1\nbb = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        assert_eq!(line_col(src, 11), (2, 6));
    }

    #[test]
    fn display_has_location_and_caret() {
        let e = ConfigError::at(
            Path::new("x.toml"),
            "a = 1\nbad = 2\n",
            Some(6..9),
            "unknown key",
        );
        assert_eq!(
            e.to_string(),
            "x.toml:2:1: unknown key\n    2 | bad = 2\n      | ^"
        );
    }
}
