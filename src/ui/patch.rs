//! Where things are in a unified patch, for moving about a diff and commenting on it:
//! which lines start a file or a hunk, and, for any line, its file, its line number in
//! the new file (the old one for a removed line) and the hunk it is in; which lines show
//! when some files are folded. Pure text reading; drawing the patch is `render::diff`'s.

use std::collections::BTreeSet;

/// What a line of the patch is part of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub path: String,
    /// The line's number in the new file (in the old one for a removed line).
    pub line: u32,
    /// The hunk's header (`@@ -10,4 +10,5 @@ def add`).
    pub hunk: String,
    /// The line itself, with its `+`, `-` or ` `.
    pub text: String,
}

/// Indexes of the lines that start a file (`diff --git`).
pub fn file_starts(patch: &str) -> Vec<usize> {
    starts(patch, "diff --git ")
}

/// Indexes of the lines that start a hunk (`@@`).
pub fn hunk_starts(patch: &str) -> Vec<usize> {
    starts(patch, "@@")
}

fn starts(patch: &str, prefix: &str) -> Vec<usize> {
    patch
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with(prefix))
        .map(|(i, _)| i)
        .collect()
}

/// The path a `diff --git a/… b/…` line is about (the new one for a rename).
pub fn header_path(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("diff --git ")?;
    Some(rest.rsplit(" b/").next().unwrap_or(rest))
}

/// The lines shown, in order, of a patch of `len` lines with the files in `folded`
/// folded to their first line; `header(i)` is the path line `i` starts, if it starts a
/// file. The Diff pane's rows are these (its scroll counts them), the cursor one of them.
pub fn shown<'a>(
    len: usize,
    header: impl Fn(usize) -> Option<&'a str>,
    folded: &BTreeSet<String>,
) -> Vec<usize> {
    if folded.is_empty() {
        return (0..len).collect();
    }
    let mut hiding = false;
    (0..len)
        .filter(|i| match header(*i) {
            Some(path) => {
                hiding = folded.contains(path);
                true
            }
            None => !hiding,
        })
        .collect()
}

/// The row that shows line `line` of `rows` (`shown`'s): its own, or its folded file's.
pub fn row_of(rows: &[usize], line: usize) -> usize {
    match rows.binary_search(&line) {
        Ok(r) => r,
        Err(r) => r.saturating_sub(1),
    }
}

/// The file line `at` of the patch is in, and the line that starts it.
pub fn file_at(patch: &str, at: usize) -> Option<(usize, String)> {
    patch
        .lines()
        .take(at + 1)
        .enumerate()
        .filter_map(|(i, l)| header_path(l).map(|p| (i, p.to_string())))
        .last()
}

/// The first of `marks` after `at` (`forward`), or the last before it; none past the ends.
pub fn next_mark(marks: &[usize], at: usize, forward: bool) -> Option<usize> {
    match forward {
        true => marks.iter().copied().find(|m| *m > at),
        false => marks.iter().copied().rev().find(|m| *m < at),
    }
}

/// Where line `at` of the patch is: only a line inside a hunk (an added, removed or
/// context line) has a place to comment on.
pub fn place(patch: &str, at: usize) -> Option<Place> {
    let mut path = String::new();
    let mut hunk = String::new();
    let (mut old, mut new) = (0u32, 0u32);
    for (i, l) in patch.lines().enumerate() {
        if let Some(p) = header_path(l) {
            path = p.to_string();
            hunk.clear();
        } else if l.starts_with("@@") {
            hunk = l.to_string();
            (old, new) = hunk_starts_at(l);
        } else if !hunk.is_empty() {
            let (here, is_line) = match l.chars().next() {
                Some('+') => {
                    new += 1;
                    (new - 1, true)
                }
                Some('-') => {
                    old += 1;
                    (old - 1, true)
                }
                Some(' ') => {
                    old += 1;
                    new += 1;
                    (new - 1, true)
                }
                _ => (0, false),
            };
            if i == at && is_line {
                return Some(Place {
                    path,
                    line: here,
                    hunk,
                    text: l.to_string(),
                });
            }
        }
        if i >= at {
            return None;
        }
    }
    None
}

/// The first old and new line numbers of a hunk header `@@ -a,b +c,d @@`.
fn hunk_starts_at(header: &str) -> (u32, u32) {
    let mut parts = header.split_whitespace().skip(1);
    let num = |p: Option<&str>, sign: char| {
        p.and_then(|p| p.strip_prefix(sign))
            .and_then(|p| p.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(1)
    };
    let old = num(parts.next(), '-');
    let new = num(parts.next(), '+');
    (old, new)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATCH: &str = "diff --git a/calc.py b/calc.py\nindex 1..2 100644\n--- a/calc.py\n+++ b/calc.py\n@@ -10,3 +10,4 @@ def add(a, b):\n     x = 1\n-    return a - b\n+    return a + b\n+    # fixed\ndiff --git a/README b/README\n@@ -1 +1 @@\n-old\n+new\n";

    #[test]
    fn places_count_new_and_old_lines() {
        assert_eq!(file_starts(PATCH), [0, 9]);
        assert_eq!(hunk_starts(PATCH), [4, 10]);
        let p = place(PATCH, 7).unwrap();
        assert_eq!((p.path.as_str(), p.line), ("calc.py", 11));
        assert_eq!(p.hunk, "@@ -10,3 +10,4 @@ def add(a, b):");
        assert_eq!(p.text, "+    return a + b");
        assert_eq!(place(PATCH, 6).unwrap().line, 11, "removed: its old number");
        assert_eq!(place(PATCH, 8).unwrap().line, 12);
        assert_eq!(place(PATCH, 12).unwrap().path, "README");
        assert_eq!(place(PATCH, 2), None, "a header is no place");
        assert_eq!(next_mark(&[4, 10], 4, true), Some(10));
        assert_eq!(next_mark(&[4, 10], 4, false), None);
    }

    #[test]
    fn a_folded_file_shows_its_first_line_only() {
        let lines: Vec<&str> = PATCH.lines().collect();
        let header = |i: usize| header_path(lines[i]);
        let all = shown(lines.len(), header, &BTreeSet::new());
        assert_eq!(all.len(), lines.len());
        let folded = BTreeSet::from(["calc.py".to_string()]);
        let rows = shown(lines.len(), header, &folded);
        assert_eq!(rows, [0, 9, 10, 11, 12]);
        assert_eq!(
            row_of(&rows, 7),
            0,
            "a hidden line is shown by its file's row"
        );
        assert_eq!(row_of(&rows, 11), 3);
        assert_eq!(file_at(PATCH, 7), Some((0, "calc.py".into())));
        assert_eq!(file_at(PATCH, 12), Some((9, "README".into())));
        assert_eq!(
            header_path("diff --git a/x b/y"),
            Some("y"),
            "a rename: its new path"
        );
    }
}
