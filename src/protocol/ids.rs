//! Task identifiers: short, random, unique, safe in branch names and paths.
//!
//! Ten characters of Crockford base32 (50 random bits). Uniqueness is enforced by the
//! store's primary key, so an unlucky collision is retried, never shared. Not sortable by
//! time on purpose: users type unique prefixes, and random prefixes are short.

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
pub const ID_LEN: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(String);

impl TaskId {
    pub fn random() -> Self {
        let mut rng = rand::rng();
        let id = (0..ID_LEN)
            .map(|_| ALPHABET[rng.random_range(0..32)] as char)
            .collect();
        TaskId(id)
    }

    /// Accepts an id read back from the store or typed by the user.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= ID_LEN
            && s.bytes()
                .all(|b| ALPHABET.contains(&b.to_ascii_lowercase()));
        ok.then(|| TaskId(s.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_parse_back() {
        for _ in 0..100 {
            let id = TaskId::random();
            assert_eq!(id.as_str().len(), ID_LEN);
            assert_eq!(TaskId::parse(id.as_str()), Some(id));
        }
    }

    #[test]
    fn parse_rejects_junk() {
        assert!(TaskId::parse("").is_none());
        assert!(TaskId::parse("../etc").is_none());
        assert!(TaskId::parse("abcdefghjkm").is_none(), "too long");
        assert_eq!(TaskId::parse("AB12").unwrap().as_str(), "ab12");
    }
}
