//! A repository's `.devcontainer/devcontainer.json` (or `.devcontainer.json`): read as
//! the repository's other files are (beneath its root, no link followed), parsed as JSON
//! with comments and trailing commas, and turned into what drover honours: the image or
//! its Dockerfile build, `containerEnv`, and the create commands as setup.
//!
//! Everything else (`runArgs`, `mounts`, `privileged`, `features`, `forwardPorts`,
//! `initializeCommand`, which would run on the host…) is named in one notice; drover's
//! own hardening always applies. Applying it to a `Config` is `Config::load_in`'s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;
use crate::beneath::{Beneath, Kind};

/// Where it is looked for, in order.
pub const NAMES: [&str; 2] = [".devcontainer/devcontainer.json", ".devcontainer.json"];
const MAX_BYTES: u64 = 1 << 20;

/// Keys that only concern an editor: not worth a notice.
const EDITOR_ONLY: &[&str] = &["name", "$schema", "customizations", "workspaceFolder"];

/// A Dockerfile build, paths relative to the repository root.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DevBuild {
    pub dockerfile: PathBuf,
    pub context: PathBuf,
    pub args: BTreeMap<String, String>,
    pub target: Option<String>,
}

/// What drover takes from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevContainer {
    /// The file, relative to the repository root.
    pub file: PathBuf,
    pub image: Option<String>,
    pub build: Option<DevBuild>,
    pub env: Vec<(String, String)>,
    /// `onCreateCommand`, `updateContentCommand`, `postCreateCommand`, in that order.
    pub setup: Vec<String>,
    /// `remoteUser`, else `containerUser`: who the tools run as, when the image has it.
    pub user: Option<String>,
    /// Keys present that drover does not honour.
    pub ignored: Vec<String>,
    /// What trusting it pins: its place and exact content.
    pub fingerprint: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Command {
    Line(String),
    Words(Vec<String>),
    Named(BTreeMap<String, Words>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Words {
    Line(String),
    Words(Vec<String>),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBuild {
    dockerfile: Option<String>,
    context: Option<String>,
    #[serde(default)]
    args: BTreeMap<String, String>,
    target: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    image: Option<String>,
    build: Option<RawBuild>,
    /// The older spelling of `build.dockerfile` / `build.context`.
    docker_file: Option<String>,
    context: Option<String>,
    #[serde(default)]
    container_env: BTreeMap<String, String>,
    on_create_command: Option<Command>,
    update_content_command: Option<Command>,
    post_create_command: Option<Command>,
    remote_user: Option<String>,
    container_user: Option<String>,
    #[serde(flatten)]
    rest: BTreeMap<String, serde_json::Value>,
}

/// The repository's devcontainer file, if it has one.
pub fn find(repo: &Path) -> Result<Option<DevContainer>, ConfigError> {
    let Ok(root) = Beneath::open(repo) else {
        return Ok(None);
    };
    let Some(name) = NAMES.iter().find(|n| root.kind(Path::new(n)).is_some()) else {
        return Ok(None);
    };
    let path = repo.join(name);
    let at = |message: String| ConfigError {
        file: path.clone(),
        line: 1,
        col: 1,
        message,
        snippet: None,
    };
    if root.kind(Path::new(name)) != Some(Kind::File) {
        return Err(at(
            "not a regular file (a link?): drover never follows links in a repository".into(),
        ));
    }
    let bytes = root
        .read(Path::new(name), MAX_BYTES)
        .map_err(|e| ConfigError::io(&path, &e))?
        .ok_or_else(|| at(format!("larger than {} KiB", MAX_BYTES >> 10)))?;
    let src = String::from_utf8(bytes).map_err(|_| at("not UTF-8 text".into()))?;
    parse(Path::new(name), &path, &src).map(Some)
}

/// Parses the file at `rel` (shown as `shown` in errors).
pub fn parse(rel: &Path, shown: &Path, src: &str) -> Result<DevContainer, ConfigError> {
    let raw: Raw =
        jsonc_parser::parse_to_serde_value(src, &Default::default()).map_err(|e| ConfigError {
            file: shown.to_path_buf(),
            line: e.line_display(),
            col: e.column_display(),
            message: e.kind().to_string(),
            snippet: None,
        })?;
    let err = |key: &str, message: String| {
        let offset = src.find(&format!("\"{key}\"")).unwrap_or(0);
        ConfigError::at(shown, src, Some(offset..offset), message)
    };
    let dir = rel.parent().unwrap_or(Path::new(""));
    let inside = |key: &str, p: &str| -> Result<PathBuf, ConfigError> {
        let joined = normalize(&dir.join(p))
            .ok_or_else(|| err(key, format!("{key} \"{p}\" leaves the repository")))?;
        Ok(joined)
    };
    let build = match (raw.build, raw.docker_file) {
        (Some(b), _) if b.dockerfile.is_some() => Some((b.dockerfile, b.context, b.args, b.target)),
        (b, Some(file)) => {
            let (args, target) = b.map(|b| (b.args, b.target)).unwrap_or_default();
            Some((Some(file), raw.context, args, target))
        }
        (Some(_), None) => return Err(err("build", "build needs a dockerfile".into())),
        (None, None) => None,
    };
    let build = match build {
        Some((Some(file), context, args, target)) => Some(DevBuild {
            dockerfile: inside("dockerfile", &file)?,
            context: inside("context", context.as_deref().unwrap_or("."))?,
            args,
            target,
        }),
        _ => None,
    };
    if raw.image.is_some() && build.is_some() {
        return Err(err("image", "give image or build, not both".into()));
    }
    let mut ignored: Vec<String> = raw
        .rest
        .keys()
        .filter(|k| !EDITOR_ONLY.contains(&k.as_str()))
        .cloned()
        .collect();
    let mut env = Vec::new();
    for (k, v) in raw.container_env {
        // `${localEnv:…}` would copy a host variable into the sandbox.
        if v.contains("${localEnv") {
            ignored.push(format!("containerEnv.{k} (reads the host's environment)"));
        } else {
            env.push((k, v));
        }
    }
    let mut setup = Vec::new();
    for (key, cmd) in [
        ("onCreateCommand", raw.on_create_command),
        ("updateContentCommand", raw.update_content_command),
        ("postCreateCommand", raw.post_create_command),
    ] {
        match cmd {
            None => {}
            Some(Command::Line(l)) => setup.push(l),
            Some(Command::Words(w)) => setup.push(join(key, &w).map_err(|m| err(key, m))?),
            // Named commands run in parallel in the spec; here one after another.
            Some(Command::Named(named)) => {
                for (_, words) in named {
                    setup.push(match words {
                        Words::Line(l) => l,
                        Words::Words(w) => join(key, &w).map_err(|m| err(key, m))?,
                    });
                }
            }
        }
    }
    let mut user = raw.remote_user.or(raw.container_user);
    if let Some(u) = &user
        && (u.is_empty()
            || u.len() > 64
            || u.contains(|c: char| c == ':' || c == '$' || c.is_whitespace() || c.is_control()))
    {
        ignored.push(format!("remoteUser \"{u}\" (not a plain user name or uid)"));
        user = None;
    }
    if setup.iter().any(|s| s.trim().is_empty()) {
        return Err(err("postCreateCommand", "a command is empty".into()));
    }
    let fingerprint = {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(shown.as_os_str().as_encoded_bytes());
        h.update([0]);
        h.update(src.as_bytes());
        hex::encode(h.finalize())
    };
    Ok(DevContainer {
        fingerprint,
        file: rel.to_path_buf(),
        image: raw.image,
        build,
        env,
        setup,
        user,
        ignored,
    })
}

/// An argument list as one shell command that runs exactly it.
fn join(key: &str, words: &[String]) -> Result<String, String> {
    shlex::try_join(words.iter().map(String::as_str))
        .map_err(|e| format!("{key}: cannot run {words:?} as a command: {e}"))
}

/// `p` without `.` and `..` parts; `None` when it climbs out of the root.
fn normalize(p: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(src: &str) -> Result<DevContainer, ConfigError> {
        parse(
            Path::new(".devcontainer/devcontainer.json"),
            Path::new("/r/.devcontainer/devcontainer.json"),
            src,
        )
    }

    #[test]
    fn comments_trailing_commas_and_every_command_form() {
        let d = parsed(
            r#"{
  // the project's environment
  "name": "shop",
  "build": { "dockerfile": "Dockerfile", "context": "..", "args": { "V": "3" }, "target": "dev", },
  "containerEnv": { "MODE": "test", "TOKEN": "${localEnv:GITHUB_TOKEN}" },
  "onCreateCommand": "make deps",
  "updateContentCommand": ["pip", "install", "-e", ".[dev]"],
  "postCreateCommand": { "a": "echo a", "b": ["echo", "b c"] },
  "runArgs": ["--privileged"],
  "forwardPorts": [3000],
  /* trailing */
}"#,
        )
        .unwrap();
        assert_eq!(
            d.build,
            Some(DevBuild {
                dockerfile: ".devcontainer/Dockerfile".into(),
                context: "".into(),
                args: BTreeMap::from([("V".into(), "3".into())]),
                target: Some("dev".into()),
            })
        );
        assert_eq!(d.env, [("MODE".to_string(), "test".to_string())]);
        assert_eq!(
            d.setup,
            [
                "make deps",
                "pip install -e '.[dev]'",
                "echo a",
                "echo 'b c'"
            ]
        );
        assert_eq!(
            d.ignored,
            [
                "forwardPorts",
                "runArgs",
                "containerEnv.TOKEN (reads the host's environment)"
            ]
        );
    }

    #[test]
    fn remote_user_then_container_user_and_odd_names_are_named() {
        let d = parsed(r#"{ "image": "i", "remoteUser": "vscode", "containerUser": "root" }"#);
        assert_eq!(d.unwrap().user.as_deref(), Some("vscode"));
        let d = parsed(r#"{ "image": "i", "containerUser": "1000" }"#).unwrap();
        assert_eq!(d.user.as_deref(), Some("1000"));
        let d = parsed(r#"{ "image": "i", "remoteUser": "${localEnv:USER}" }"#).unwrap();
        assert_eq!(d.user, None);
        assert_eq!(
            d.ignored,
            ["remoteUser \"${localEnv:USER}\" (not a plain user name or uid)"]
        );
    }

    #[test]
    fn bad_files_name_the_place() {
        let e = parsed("{\n  \"image\": 3\n}").unwrap_err().to_string();
        assert!(e.contains("/r/.devcontainer/devcontainer.json:"), "{e}");
        let e = parsed("{\n  \"build\": { \"dockerfile\": \"../../x\" }\n}")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:") && e.contains("leaves the repository"),
            "{e}"
        );
        let e = parsed("{ \"image\": \"a\", \"build\": { \"dockerfile\": \"D\" } }")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not both"), "{e}");
        let e = parsed("{\n \"image\": \"a\",\n oops\n}")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":4:1:") && e.contains("colon"), "{e}");
    }

    #[test]
    fn htb_07_a_linked_devcontainer_file_is_refused_never_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(".devcontainer");
        std::fs::create_dir(&dir).unwrap();
        // Positive control: the same content as a real file is read.
        let outside = tmp.path().join("outside.json");
        std::fs::write(&outside, "{ \"image\": \"canary-image-7f3a\" }").unwrap();
        std::fs::copy(&outside, dir.join("devcontainer.json")).unwrap();
        let read = find(tmp.path()).unwrap().unwrap();
        assert_eq!(read.image.as_deref(), Some("canary-image-7f3a"));
        std::fs::remove_file(dir.join("devcontainer.json")).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("devcontainer.json")).unwrap();
        let e = find(tmp.path()).unwrap_err().to_string();
        assert!(
            e.contains("never follows links") && !e.contains("canary-image-7f3a"),
            "{e}"
        );
    }
}
