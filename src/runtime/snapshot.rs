//! Environment snapshots as Docker images: a setup container created with a place for
//! what setup leaves in the workspace, committed once setup succeeded, and the
//! snapshots of a data dir listed and removed.
//!
//! Knows nothing of what setup runs or how a snapshot is keyed (`crate::environment`).

use std::collections::HashMap;

use bollard::models::ContainerConfig;
use bollard::query_parameters::{
    CommitContainerOptionsBuilder, CreateContainerOptionsBuilder, ListImagesOptionsBuilder,
    RemoveImageOptionsBuilder, UploadToContainerOptionsBuilder,
};

use super::container::LABEL_DATA;
use super::{ContainerSpec, Runtime, RuntimeError, status_of};

/// Where, inside a snapshot image, the workspace files setup made are kept (a
/// directory at the root, writable by the sandbox user in the setup container only).
pub const SNAPSHOT_DIR: &str = "/drover-snapshot";
/// Where a task container sees the snapshot's workspace files through a writable
/// layer of its own (`EnvLayer`); a restored workspace links its ignored directories
/// here (`<this>/<path>`) instead of copying them.
pub const ENV_MOUNT: &str = "/drover-env";
/// The storage drivers whose image layers are plain directories an overlay can stack.
const LAYERED_DRIVERS: [&str; 2] = ["overlay2", "fuse-overlayfs"];
/// The key of a snapshot image (its recipe hash).
pub const LABEL_ENV: &str = "drover.env";
/// The repository (its `paths::repo_hash`) a snapshot was made for.
pub const LABEL_ENV_REPO: &str = "drover.env.repo";
/// The repository's path, for people reading `drover env list`.
pub const LABEL_ENV_PATH: &str = "drover.env.path";
/// What setup left in the workspace, top-most paths first (a JSON array; directories end
/// in `/`). Absent when the list was too long or not plain text: then a restore copies.
pub const LABEL_ENV_ENTRIES: &str = "drover.env.entries";

/// A snapshot image found by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundImage {
    pub id: String,
    /// `LABEL_ENV_ENTRIES`, when the image has it (setup's output, so untrusted).
    pub entries: Option<Vec<String>>,
    /// The directory, on the Docker host, holding the snapshot's workspace files in its
    /// own layer, when the storage driver keeps layers as directories.
    pub layer: Option<String>,
}

/// Whether, where this process can see Docker's storage (a root host), neither
/// `SNAPSHOT_DIR` nor its `workspace` in layer directory `upper` is anything but a real
/// directory (the daemon would follow a link there). Where it is not readable (a
/// rootful engine seen by a user) the ownership set at upload is what holds; where it
/// is not there at all (a remote engine) nothing can be mounted from it.
fn no_link_on_the_way(upper: &str) -> bool {
    let dir = format!("{upper}{SNAPSHOT_DIR}");
    [dir.clone(), format!("{dir}/workspace")]
        .iter()
        .all(|p| match std::fs::symlink_metadata(p) {
            Ok(m) => m.is_dir(),
            Err(e) => e.kind() == std::io::ErrorKind::PermissionDenied,
        })
}

/// A writable layer over a snapshot's workspace files, mounted at `ENV_MOUNT`: an
/// overlay the Docker daemon mounts (a `local` volume of type overlay), its changes in
/// `upper` on the host, so they outlive the container. Needs a local engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvLayer {
    /// The snapshot layer's workspace directory (`FoundImage::layer`).
    pub lower: String,
    pub upper: std::path::PathBuf,
    pub work: std::path::PathBuf,
}

impl EnvLayer {
    /// The mount options, or `None` when a path would break them (a comma or colon).
    pub fn options(&self) -> Option<String> {
        let paths = [
            self.lower.clone(),
            self.upper.to_str()?.to_string(),
            self.work.to_str()?.to_string(),
        ];
        if paths
            .iter()
            .any(|p| p.contains([',', ':', '\\']) || !p.starts_with('/'))
        {
            return None;
        }
        Some(format!(
            "lowerdir={},upperdir={},workdir={},nosuid,nodev",
            paths[0], paths[1], paths[2]
        ))
    }
}

/// A snapshot image as Docker lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvImage {
    pub id: String,
    pub tag: String,
    pub key: String,
    pub repo_hash: String,
    pub repo_path: String,
    /// Seconds since the epoch.
    pub created: i64,
    /// Bytes of its own layer (what removing it frees, when no container uses it).
    pub own_bytes: u64,
    /// Containers (task or setup) made from it that still exist.
    pub containers: i64,
}

impl Runtime {
    /// Creates and starts a setup container: `spec.setup` must be set. It gets an empty
    /// `SNAPSHOT_DIR` the sandbox user can write before it starts.
    pub async fn create_setup_container(
        &self,
        spec: &ContainerSpec,
    ) -> Result<String, RuntimeError> {
        debug_assert!(spec.setup.is_some(), "a setup container needs spec.setup");
        self.require_image(&spec.image).await?;
        // One setup per name at a time: a container of that name is a leftover.
        if let Some(old) = self.find(&spec.name).await? {
            self.remove(&old.id).await?;
        }
        let opts = CreateContainerOptionsBuilder::new()
            .name(&spec.name)
            .build();
        let created = self
            .docker
            .create_container(Some(opts), spec.body())
            .await
            .map_err(RuntimeError::api(format!(
                "creating container {}",
                spec.name
            )))?;
        let upload = || -> std::io::Result<Vec<u8>> {
            let mut ar = tar::Builder::new(Vec::new());
            let root = SNAPSHOT_DIR.trim_start_matches('/');
            // Root's, so setup cannot swap `workspace` for a link: a snapshot's layer
            // directory is mounted by the Docker daemon on the host (`EnvLayer`), which
            // would follow it there. Inside `workspace`, like /tmp, the sandbox user
            // (whatever its uid) makes its own entries.
            for (path, mode) in [
                (root.to_string(), 0o755),
                (format!("{root}/workspace"), 0o1777),
            ] {
                let mut dir = tar::Header::new_gnu();
                dir.set_entry_type(tar::EntryType::Directory);
                dir.set_path(&path)?;
                dir.set_uid(0);
                dir.set_gid(0);
                dir.set_mode(mode);
                dir.set_size(0);
                dir.set_cksum();
                ar.append(&dir, std::io::empty())?;
            }
            ar.into_inner()
        };
        let body = upload().map_err(|e| RuntimeError::Api {
            context: format!("preparing {SNAPSHOT_DIR}"),
            detail: e.to_string(),
        })?;
        let opts = UploadToContainerOptionsBuilder::new().path("/").build();
        let uploaded = self
            .docker
            .upload_to_container(&created.id, Some(opts), bollard::body_full(body.into()))
            .await
            .map_err(RuntimeError::api(format!(
                "preparing {SNAPSHOT_DIR} in {}",
                spec.name
            )));
        let started = match uploaded {
            Ok(()) => self.start(&created.id).await,
            Err(e) => Err(e),
        };
        if let Err(e) = started {
            let _ = self.remove(&created.id).await;
            return Err(e);
        }
        Ok(created.id)
    }

    /// Commits container `id` as image `repo:tag` with `labels` added; its id.
    pub async fn commit(
        &self,
        id: &str,
        repo: &str,
        tag: &str,
        labels: HashMap<String, String>,
    ) -> Result<String, RuntimeError> {
        let opts = CommitContainerOptionsBuilder::new()
            .container(id)
            .repo(repo)
            .tag(tag)
            .comment("drover environment snapshot")
            .pause(true)
            .build();
        let config = ContainerConfig {
            labels: Some(labels),
            ..Default::default()
        };
        let done = self
            .docker
            .commit_container(opts, config)
            .await
            .map_err(RuntimeError::api(format!(
                "committing the snapshot {repo}:{tag}"
            )))?;
        Ok(done.id)
    }

    /// The id of `image`, or `None` when it is not there.
    pub async fn find_image(&self, image: &str) -> Result<Option<String>, RuntimeError> {
        match self.docker.inspect_image(image).await {
            Ok(info) => Ok(info.id),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(RuntimeError::api(format!("inspecting image {image}"))(e)),
        }
    }

    /// The image `image` and what its labels say setup left, or `None` when it is not there.
    pub async fn find_snapshot(&self, image: &str) -> Result<Option<FoundImage>, RuntimeError> {
        match self.docker.inspect_image(image).await {
            Ok(info) => {
                let entries = info
                    .config
                    .and_then(|c| c.labels)
                    .and_then(|l| l.get(LABEL_ENV_ENTRIES).cloned())
                    .and_then(|json| serde_json::from_str::<Vec<String>>(&json).ok());
                let layer = info
                    .graph_driver
                    .filter(|g| LAYERED_DRIVERS.contains(&g.name.as_str()))
                    .and_then(|g| g.data.get("UpperDir").cloned())
                    .filter(|d| d.starts_with('/') && no_link_on_the_way(d))
                    .map(|d| format!("{d}{SNAPSHOT_DIR}/workspace"));
                Ok(info.id.map(|id| FoundImage { id, entries, layer }))
            }
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(RuntimeError::api(format!("inspecting image {image}"))(e)),
        }
    }

    /// The snapshot images of data dir `data_hash`.
    pub async fn env_images(&self, data_hash: &str) -> Result<Vec<EnvImage>, RuntimeError> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![LABEL_ENV.to_string(), format!("{LABEL_DATA}={data_hash}")],
        )]);
        let opts = ListImagesOptionsBuilder::new().filters(&filters).build();
        let list = self
            .docker
            .list_images(Some(opts))
            .await
            .map_err(RuntimeError::api("listing snapshot images"))?;
        let list_parents: Vec<String> = list.iter().map(|i| i.parent_id.clone()).collect();
        let mut out: Vec<EnvImage> = list
            .into_iter()
            .map(|i| {
                let label = |k: &str| i.labels.get(k).cloned().unwrap_or_default();
                EnvImage {
                    tag: i
                        .repo_tags
                        .first()
                        .cloned()
                        .unwrap_or_else(|| "<none>".into()),
                    key: label(LABEL_ENV),
                    repo_hash: label(LABEL_ENV_REPO),
                    repo_path: label(LABEL_ENV_PATH),
                    created: i.created,
                    own_bytes: u64::try_from(i.size).unwrap_or(0),
                    containers: i.containers,
                    id: i.id,
                }
            })
            .collect();
        // Docker lists each image's whole size: its own layer is what it adds to the
        // image it was committed from.
        let mut parents: HashMap<String, i64> = HashMap::new();
        for (img, parent) in out.iter_mut().zip(list_parents.iter()) {
            if parent.is_empty() {
                continue;
            }
            let size = match parents.get(parent) {
                Some(s) => *s,
                None => {
                    let s = self
                        .docker
                        .inspect_image(parent)
                        .await
                        .ok()
                        .and_then(|i| i.size)
                        .unwrap_or(0);
                    parents.insert(parent.clone(), s);
                    s
                }
            };
            img.own_bytes = img
                .own_bytes
                .saturating_sub(u64::try_from(size).unwrap_or(0));
        }
        out.sort_by(|a, b| (&a.repo_path, a.created).cmp(&(&b.repo_path, b.created)));
        Ok(out)
    }

    /// Removes image `image` (never forced: an image a container still uses stays, and
    /// Docker's answer says which container).
    pub async fn remove_image(&self, image: &str) -> Result<(), RuntimeError> {
        let opts = RemoveImageOptionsBuilder::new().force(false).build();
        match self.docker.remove_image(image, Some(opts), None).await {
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            other => other
                .map(|_| ())
                .map_err(RuntimeError::api(format!("removing image {image}"))),
        }
    }
}
