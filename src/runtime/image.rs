//! The worker image: its recipe, its tag, and building it without a registry.
//!
//! The recipe is `assets/worker.Dockerfile` (embedded) on top of a base: a registry image
//! when `base_image` is configured, else a root filesystem built offline from the host's
//! Debian packages by `assets/build-base.sh` and imported. A repository may bring its own
//! `.drover/Dockerfile`, built on top of the worker (`ARG DROVER_BASE`). Tags carry a hash
//! of the recipe, so a build happens only when the recipe changes.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_util::io::ReaderStream;

use super::{Runtime, RuntimeError, base};
use crate::beneath::{Beneath, Kind};
use crate::config::Config;
use crate::config::devcontainer::DevBuild;
use crate::paths::DataDir;

pub const WORKER_DOCKERFILE: &str = include_str!("../../assets/worker.Dockerfile");
pub const BASE_SCRIPT: &str = include_str!("../../assets/build-base.sh");

fn hash12(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    hex::encode(&h.finalize()[..6])
}

/// The offline base image's tag.
pub fn base_tag() -> String {
    format!("drover-base:{}", hash12(&[BASE_SCRIPT.as_bytes()]))
}

/// The worker image's tag: a hash of its recipe and of what it builds on. With no
/// `base_image` the base is decided when the worker is built (a registry's Debian slim,
/// else offline), and either makes the same worker.
pub fn worker_tag(config: &Config) -> String {
    let base = match config.base_image.as_deref() {
        None => format!("auto:{}:{}", base::DEFAULT_BASE, base_tag()),
        Some(base::OFFLINE) => base_tag(),
        Some(named) => named.to_string(),
    };
    format!(
        "drover-worker:{}",
        hash12(&[WORKER_DOCKERFILE.as_bytes(), base.as_bytes()])
    )
}

/// The repository's own Dockerfile (`.drover/Dockerfile`), if it has one, read as a
/// cloned repository's files are: beneath its root, no link followed.
pub fn repo_dockerfile(repo: &Path) -> Option<Vec<u8>> {
    Beneath::open(repo)
        .ok()?
        .read(Path::new(".drover/Dockerfile"), 1 << 20)
        .ok()?
}

/// The image a task in `repo` runs in: `image` from config, else the repository's
/// Dockerfile build, else the worker.
pub fn task_image(config: &Config, repo: Option<&Path>) -> Result<String, RuntimeError> {
    if let Some(img) = &config.image {
        return Ok(img.clone());
    }
    if let (Some(b), Some(repo)) = (&config.env.build, repo) {
        return Ok(dev_tag(b, repo));
    }
    let worker = worker_tag(config);
    if let Some(content) = repo.and_then(repo_dockerfile) {
        let repo_hash = crate::paths::repo_hash(repo.unwrap_or(Path::new("")));
        return Ok(format!(
            "drover-repo-{repo_hash}:{}",
            hash12(&[&content, worker.as_bytes()])
        ));
    }
    Ok(worker)
}

#[derive(Debug, Clone, PartialEq)]
pub struct BuildReport {
    pub image: String,
    /// Images built by this call (empty when everything was up to date).
    pub built: Vec<String>,
    /// What the worker was built on and why, when it was built.
    pub base: Option<base::Choice>,
    pub seconds: f64,
}

/// Builds whatever `task_image` needs that is missing (everything with `force`).
/// `progress` receives build output lines.
pub async fn build(
    rt: &Runtime,
    config: &Config,
    repo: Option<&Path>,
    data: &DataDir,
    force: bool,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<BuildReport, RuntimeError> {
    let started = Instant::now();
    let target = task_image(config, repo)?;
    let mut built = Vec::new();
    if config.image.is_some() {
        rt.require_image(&target).await?;
        progress(&format!("using configured image {target}"));
        return Ok(BuildReport {
            image: target,
            built,
            base: None,
            seconds: 0.0,
        });
    }
    if let (Some(b), Some(repo)) = (&config.env.build, repo) {
        if force || !rt.image_exists(&target).await? {
            build_dev(rt, b, repo, &target, progress).await?;
            built.push(target.clone());
        } else {
            progress(&format!("devcontainer image {target} is up to date"));
        }
        return Ok(BuildReport {
            image: target,
            built,
            base: None,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    let worker = worker_tag(config);
    let mut chosen = None;
    if force || !rt.image_exists(&worker).await? {
        let choice = base::choose(rt, config, progress).await?;
        progress(&format!("base: {}", choice.why));
        let from = match &choice.base {
            base::Base::Registry(image) => image.clone(),
            base::Base::Offline => {
                let base = base_tag();
                if force || !rt.image_exists(&base).await? {
                    build_offline_base(rt, data, &base, progress).await?;
                    built.push(base.clone());
                } else {
                    progress(&format!("base image {base} is up to date"));
                }
                base
            }
        };
        chosen = Some(choice);
        let args = HashMap::from([("BASE".to_string(), from)]);
        docker_build(
            rt,
            WORKER_DOCKERFILE.as_bytes(),
            &worker,
            &args,
            &[],
            None,
            progress,
        )
        .await?;
        built.push(worker.clone());
    } else {
        progress(&format!("worker image {worker} is up to date"));
    }
    if let Some(repo) = repo
        && let Some(content) = repo_dockerfile(repo)
        && (force || !rt.image_exists(&target).await?)
    {
        let args = HashMap::from([("DROVER_BASE".to_string(), worker.clone())]);
        docker_build(
            rt,
            &content,
            &target,
            &args,
            &context_files(repo),
            None,
            progress,
        )
        .await?;
        built.push(target.clone());
    }
    Ok(BuildReport {
        image: target,
        built,
        base: chosen,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The tag of a devcontainer build: its Dockerfile's content, context, args and target.
fn dev_tag(b: &DevBuild, repo: &Path) -> String {
    let content = Beneath::open(repo)
        .ok()
        .and_then(|r| r.read(&b.dockerfile, 1 << 20).ok().flatten())
        .unwrap_or_default();
    let args: Vec<u8> = b
        .args
        .iter()
        .flat_map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes(), b"\0"].concat())
        .collect();
    let context = b.context.as_os_str().as_encoded_bytes();
    let target = b.target.as_deref().unwrap_or("").as_bytes();
    let repo_hash = crate::paths::repo_hash(repo);
    format!(
        "drover-dev-{repo_hash}:{}",
        hash12(&[&content, &args, context, target])
    )
}

/// Most a devcontainer build context may hold (files beyond it are left out, said so).
const DEV_CONTEXT_MAX: u64 = 256 << 20;

/// Builds a devcontainer's Dockerfile with its context, read beneath the repository
/// (regular files only, no link followed, `.git` left out).
async fn build_dev(
    rt: &Runtime,
    b: &DevBuild,
    repo: &Path,
    tag: &str,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), RuntimeError> {
    let fail = |detail: String| RuntimeError::Api {
        context: format!("building the devcontainer image {tag}"),
        detail,
    };
    let (repo_dir, build) = (repo.to_path_buf(), b.clone());
    let (dockerfile, files, left_out) = tokio::task::spawn_blocking(move || {
        let root = Beneath::open(&repo_dir).map_err(|e| e.to_string())?;
        let dockerfile = root
            .read(&build.dockerfile, 1 << 20)
            .map_err(|e| format!("{}: {e}", build.dockerfile.display()))?
            .ok_or_else(|| format!("{}: larger than 1 MiB", build.dockerfile.display()))?;
        let mut files = Vec::new();
        let mut budget = DEV_CONTEXT_MAX;
        let mut left_out = 0usize;
        context_walk(
            &root,
            &build.context,
            Path::new(""),
            &mut files,
            &mut budget,
            &mut left_out,
        );
        Ok::<_, String>((dockerfile, files, left_out))
    })
    .await
    .map_err(|e| fail(e.to_string()))?
    .map_err(fail)?;
    if left_out > 0 {
        progress(&format!(
            "{left_out} file(s) of the build context left out (links, special files, or past {} MiB)",
            DEV_CONTEXT_MAX >> 20
        ));
    }
    let files: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .filter(|(name, _)| name != "Dockerfile")
        .collect();
    docker_build(
        rt,
        &dockerfile,
        tag,
        &b.args.clone().into_iter().collect(),
        &files,
        b.target.as_deref(),
        progress,
    )
    .await
}

/// Files under `dir` (relative to the context, as `at`), beneath the repository.
fn context_walk(
    root: &Beneath,
    dir: &Path,
    at: &Path,
    out: &mut Vec<(String, Vec<u8>)>,
    budget: &mut u64,
    left_out: &mut usize,
) {
    let Ok(entries) = root.list(&dir.join(at)) else {
        return;
    };
    for (name, kind) in entries {
        let rel = at.join(&name);
        match kind {
            Kind::Dir if name != ".git" => context_walk(root, dir, &rel, out, budget, left_out),
            Kind::File => match root.read(&dir.join(&rel), *budget) {
                Ok(Some(content)) => {
                    *budget -= content.len() as u64;
                    out.push((rel.to_string_lossy().into_owned(), content));
                }
                _ => *left_out += 1,
            },
            Kind::Dir => {}
            _ => *left_out += 1,
        }
    }
}

/// Regular files next to a repository's Dockerfile (its build context), small ones
/// only; links and anything else are left out, never followed.
fn context_files(repo: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(root) = Beneath::open(repo) else {
        return Vec::new();
    };
    let dir = Path::new(".drover");
    let Ok(entries) = root.list(dir) else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter(|(_, kind)| *kind == Kind::File)
        .filter_map(|(name, _)| {
            let name = name.to_str()?.to_string();
            if name == "Dockerfile" {
                return None;
            }
            let content = root.read(&dir.join(&name), 16 << 20).ok()??;
            Some((name, content))
        })
        .collect()
}

async fn build_offline_base(
    rt: &Runtime,
    data: &DataDir,
    tag: &str,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), RuntimeError> {
    let fail = |detail: String| RuntimeError::Api {
        context: "building the offline base image".into(),
        detail,
    };
    let dir = data.build_dir();
    crate::paths::create_private_dir(&dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
    let script = dir.join("build-base.sh");
    let tar = dir.join("base.tar");
    std::fs::write(&script, BASE_SCRIPT).map_err(|e| fail(format!("{}: {e}", script.display())))?;
    progress(&format!(
        "building base root filesystem from Debian packages ({tag})…"
    ));
    let mut child = tokio::process::Command::new("bash")
        .arg(&script)
        .arg(&tar)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| fail(format!("running bash: {e}")))?;
    let mut lines = BufReader::new(
        child
            .stderr
            .take()
            .ok_or_else(|| fail("no stderr".into()))?,
    )
    .lines();
    let mut last = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        progress(&line);
        last.push(line);
        if last.len() > 20 {
            last.remove(0);
        }
    }
    let status = child.wait().await.map_err(|e| fail(e.to_string()))?;
    if !status.success() {
        let _ = std::fs::remove_file(&tar);
        return Err(fail(format!(
            "build-base.sh failed ({status}):\n{}",
            last.join("\n")
        )));
    }
    progress(&format!("importing {tag}…"));
    let (repo, version) = tag.split_once(':').unwrap_or((tag, "latest"));
    let file = tokio::fs::File::open(&tar)
        .await
        .map_err(|e| fail(format!("{}: {e}", tar.display())))?;
    let body = ReaderStream::with_capacity(file, 1 << 20).filter_map(|r| async move { r.ok() });
    let opts = CreateImageOptionsBuilder::new()
        .from_src("-")
        .repo(repo)
        .tag(version)
        .build();
    let mut stream = rt
        .docker
        .create_image(Some(opts), Some(bollard::body_stream(body)), None);
    while let Some(item) = stream.next().await {
        item.map_err(|e| fail(format!("docker import: {e}")))?;
    }
    let _ = std::fs::remove_file(&tar);
    Ok(())
}

/// `docker build` of one Dockerfile (plus extra context files) with build args.
async fn docker_build(
    rt: &Runtime,
    dockerfile: &[u8],
    tag: &str,
    args: &HashMap<String, String>,
    extra: &[(String, Vec<u8>)],
    target: Option<&str>,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), RuntimeError> {
    let fail = |detail: String| RuntimeError::Api {
        context: format!("building image {tag}"),
        detail,
    };
    let mut ar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        ar.append_data(&mut header, name, data)
    };
    add("Dockerfile", dockerfile).map_err(|e| fail(e.to_string()))?;
    for (name, data) in extra {
        add(name, data).map_err(|e| fail(e.to_string()))?;
    }
    let context = ar.into_inner().map_err(|e| fail(e.to_string()))?;
    let labels = HashMap::from([("drover.image".to_string(), tag.to_string())]);
    let mut opts = BuildImageOptionsBuilder::new();
    if let Some(t) = target {
        opts = opts.target(t);
    }
    let opts = opts
        .dockerfile("Dockerfile")
        .t(tag)
        .rm(true)
        .forcerm(true)
        .buildargs(args)
        .labels(&labels)
        .build();
    progress(&format!("building {tag}…"));
    let mut stream = rt
        .docker
        .build_image(opts, None, Some(bollard::body_full(context.into())));
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| fail(e.to_string()))?;
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            return Err(fail(err));
        }
        if let Some(s) = info.stream {
            for line in s.lines().filter(|l| !l.trim().is_empty()) {
                progress(line);
            }
        }
    }
    if !rt.image_exists(tag).await? {
        return Err(fail("the build finished but the image is missing".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_the_recipe() {
        let mut c = Config::default();
        let auto = worker_tag(&c);
        assert!(auto.starts_with("drover-worker:"));
        assert_eq!(auto, worker_tag(&c), "stable");
        c.base_image = Some("offline".into());
        let offline = worker_tag(&c);
        c.base_image = Some("debian:bookworm-slim".into());
        let named = worker_tag(&c);
        assert!(
            auto != offline && offline != named && named != auto,
            "a different base is a different image"
        );
        c.image = Some("mine:1".into());
        assert_eq!(task_image(&c, None).unwrap(), "mine:1");
    }

    #[test]
    fn repo_dockerfile_gets_its_own_tag() {
        let tmp = tempfile::tempdir().unwrap();
        let c = Config::default();
        assert_eq!(task_image(&c, Some(tmp.path())).unwrap(), worker_tag(&c));
        std::fs::create_dir(tmp.path().join(".drover")).unwrap();
        std::fs::write(
            tmp.path().join(".drover/Dockerfile"),
            "ARG DROVER_BASE\nFROM ${DROVER_BASE}\n",
        )
        .unwrap();
        let t = task_image(&c, Some(tmp.path())).unwrap();
        assert!(t.starts_with("drover-repo-"), "{t}");
    }
}
