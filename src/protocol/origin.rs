//! Where an imported task came from: the GitHub issue, and what hidden content was
//! stripped from it before an agent read it. Parsing a reference and stripping are the
//! forge's (`crate::forge`); this is only what is kept with the task.

use std::fmt;

use serde::{Deserialize, Serialize};

/// `owner/repo#12`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueRef {
    pub owner: String,
    pub repo: String,
    pub number: u64,
}

impl fmt::Display for IssueRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}#{}", self.owner, self.repo, self.number)
    }
}

/// Where an imported task came from, kept with the task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueOrigin {
    #[serde(flatten)]
    pub reference: IssueRef,
    pub url: String,
    /// What hidden content was stripped before the agent saw it.
    #[serde(default)]
    pub removed: Removed,
}

/// What was taken out of a text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    pub comments: usize,
    pub invisible: usize,
}

impl Removed {
    pub fn is_empty(&self) -> bool {
        self.comments == 0 && self.invisible == 0
    }

    pub fn add(&mut self, other: Removed) {
        self.comments += other.comments;
        self.invisible += other.invisible;
    }
}

impl fmt::Display for Removed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut parts = Vec::new();
        if self.comments > 0 {
            parts.push(plural(self.comments, "HTML comment", "HTML comments"));
        }
        if self.invisible > 0 {
            parts.push(plural(
                self.invisible,
                "invisible character",
                "invisible characters",
            ));
        }
        if parts.is_empty() {
            return f.write_str("nothing");
        }
        f.write_str(&parts.join(" and "))
    }
}
