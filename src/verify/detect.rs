//! Which command tests a project, guessed from the files in its root.
//!
//! Reads a few small files from the workspace on the host. Symlinks are not followed
//! (the agent controls the workspace), and nothing is executed here.

use std::fs;
use std::path::Path;

/// Reads `name` under `root` if it is a regular file under 1 MiB.
fn read_small(root: &Path, name: &str) -> Option<String> {
    let p = root.join(name);
    let meta = fs::symlink_metadata(&p).ok()?;
    if !meta.is_file() || meta.len() > 1 << 20 {
        return None;
    }
    fs::read_to_string(p).ok()
}

fn exists(root: &Path, name: &str) -> bool {
    fs::symlink_metadata(root.join(name)).is_ok()
}

/// The test command for the project at `root`, or `None` when none can be found.
pub fn detect(root: &Path) -> Option<String> {
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
fn has_python_tests(root: &Path) -> bool {
    let is_test = |name: &str| {
        name.ends_with(".py")
            && (name.starts_with("test_") || name.ends_with("_test.py") || name == "tests.py")
    };
    let scan = |dir: &Path| {
        fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .any(|e| e.file_name().to_str().is_some_and(is_test))
            })
            .unwrap_or(false)
    };
    scan(root)
        || ["tests", "test"].iter().any(|d| {
            let p = root.join(d);
            fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) && scan(&p)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

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
