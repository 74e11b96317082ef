//! Which command tests a project, guessed from the files in its root.
//!
//! Reads a few small files from the workspace on the host through `beneath` (the agent
//! controls the workspace: no link is followed, nothing outside it is read), and nothing
//! is executed here.

use std::path::Path;

use crate::beneath::{Beneath, Kind};

/// Reads `name` under `root` if it is a regular file under 1 MiB.
fn read_small(root: &Beneath, name: &str) -> Option<String> {
    root.read_text(Path::new(name), 1 << 20)
}

fn exists(root: &Beneath, name: &str) -> bool {
    root.kind(Path::new(name)).is_some()
}

/// The test command for the project at `dir`, or `None` when none can be found.
pub fn detect(dir: &Path) -> Option<String> {
    let root = &Beneath::open(dir).ok()?;
    if exists(root, "Cargo.toml") {
        return Some("cargo test".into());
    }
    if let Some(pkg) = read_small(root, "package.json")
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&pkg)
        && let Some(test) = v.pointer("/scripts/test").and_then(|t| t.as_str())
        // npm's placeholder script fails on purpose: that is no test suite.
        && !test.contains("no test specified")
    {
        return Some("npm test".into());
    }
    if exists(root, "go.mod") {
        return Some("go test ./...".into());
    }
    let pytest_configured = exists(root, "pytest.ini")
        || exists(root, "conftest.py")
        || read_small(root, "pyproject.toml").is_some_and(|t| t.contains("[tool.pytest"))
        || read_small(root, "setup.cfg").is_some_and(|t| t.contains("[tool:pytest]"))
        || read_small(root, "tox.ini").is_some_and(|t| t.contains("[pytest]"));
    if pytest_configured {
        return Some("python3 -m pytest".into());
    }
    if let Some(mk) = read_small(root, "Makefile").or_else(|| read_small(root, "makefile"))
        && mk
            .lines()
            .any(|l| l.starts_with("test:") || l.starts_with("test :"))
    {
        return Some("make test".into());
    }
    if has_python_tests(root) {
        return Some("python3 -m unittest discover -v".into());
    }
    None
}

/// `test_*.py` / `*_test.py` at the root or in a `tests`/`test` directory.
fn has_python_tests(root: &Beneath) -> bool {
    let is_test = |name: &str| {
        name.ends_with(".py")
            && (name.starts_with("test_") || name.ends_with("_test.py") || name == "tests.py")
    };
    let scan = |dir: &str| {
        root.list(Path::new(dir)).is_ok_and(|entries| {
            entries
                .iter()
                .any(|(n, k)| *k == Kind::File && n.to_str().is_some_and(is_test))
        })
    };
    scan("") || ["tests", "test"].iter().any(|d| scan(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn with(files: &[(&str, &str)]) -> Option<String> {
        let tmp = tempfile::tempdir().unwrap();
        for (p, c) in files {
            let path = tmp.path().join(p);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, c).unwrap();
        }
        detect(tmp.path())
    }

    #[test]
    fn detects_each_ecosystem() {
        assert_eq!(with(&[("Cargo.toml", "")]).unwrap(), "cargo test");
        assert_eq!(
            with(&[("package.json", r#"{"scripts":{"test":"jest"}}"#)]).unwrap(),
            "npm test"
        );
        assert_eq!(with(&[("go.mod", "module x")]).unwrap(), "go test ./...");
        assert_eq!(
            with(&[("pyproject.toml", "[tool.pytest.ini_options]\n")]).unwrap(),
            "python3 -m pytest"
        );
        assert_eq!(with(&[("conftest.py", "")]).unwrap(), "python3 -m pytest");
        assert_eq!(
            with(&[("Makefile", "all:\n\ntest: all\n\tpython3 t.py\n")]).unwrap(),
            "make test"
        );
        assert_eq!(
            with(&[("test_calc.py", "")]).unwrap(),
            "python3 -m unittest discover -v"
        );
        assert_eq!(
            with(&[("tests/calc_test.py", "")]).unwrap(),
            "python3 -m unittest discover -v"
        );
    }

    #[test]
    fn nothing_detected_is_none() {
        assert_eq!(with(&[("README.md", "hi")]), None);
        assert_eq!(
            with(&[(
                "package.json",
                r#"{"scripts":{"test":"echo \"Error: no test specified\" && exit 1"}}"#
            )]),
            None
        );
        assert_eq!(with(&[("Makefile", "build:\n\tcc x.c\n")]), None);
    }

    #[test]
    fn symlinked_manifest_is_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/hostname", tmp.path().join("Makefile")).unwrap();
        assert_eq!(detect(tmp.path()), None);
    }
}
