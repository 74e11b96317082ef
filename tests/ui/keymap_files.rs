//! Keymap fixture files: every valid one loads; every invalid one fails with exactly the
//! message written in its `# error:` comment (`{file}` stands for its path).

use std::path::{Path, PathBuf};

use drover::keymap::Keymap;

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/keymap")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

#[test]
fn valid_keymaps_load() {
    for f in fixtures("valid") {
        if let Err(e) = Keymap::load(Some(&f)) {
            panic!("{} should load: {e}", f.display());
        }
    }
}

#[test]
fn invalid_keymaps_fail_with_their_exact_message() {
    for f in fixtures("invalid") {
        let src = std::fs::read_to_string(&f).unwrap();
        let expected = src
            .lines()
            .find_map(|l| l.strip_prefix("# error: "))
            .unwrap_or_else(|| panic!("{} has no `# error:` line", f.display()))
            .replace("{file}", &f.display().to_string());
        let err = match Keymap::load(Some(&f)) {
            Ok(_) => panic!("{} should fail", f.display()),
            Err(e) => e,
        };
        let first_line = err
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        assert_eq!(first_line, expected, "{}", f.display());
    }
}

#[test]
fn a_user_file_overrides_only_what_it_names() {
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keymap/valid/remap_approve.toml");
    let k = Keymap::load(Some(&f)).unwrap();
    use drover::keymap::{Action, Context, Key};
    assert_eq!(
        k.action(Context::List, Key::char('A')),
        Some(Action::Approve)
    );
    assert_eq!(
        k.action(Context::List, Key::char('a')),
        None,
        "the old key is freed"
    );
    assert_eq!(
        k.action(Context::List, Key::char('x')),
        Some(Action::Cancel),
        "the rest stays"
    );
}
