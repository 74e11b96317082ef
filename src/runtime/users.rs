//! The users an image defines: its `/etc/passwd`, read out of a container that is
//! created and never started (nothing of the image runs), then removed. For a
//! devcontainer's `remoteUser`. The file is the image's (untrusted): it is read as
//! bounded text and only a uid and gid are taken from it.
//!
//! Whether drover may run a container as that user is `workspace::owner`'s decision.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Mutex, OnceLock};

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, DownloadFromContainerOptionsBuilder,
};
use futures_util::TryStreamExt;

use super::container::{LABEL_DATA, LABEL_MANAGED};
use super::{Runtime, RuntimeError};

/// Bytes of `/etc/passwd` read at most.
const MAX_PASSWD: u64 = 1 << 20;

/// A user of an image, by its uid and primary group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageUser {
    pub uid: u32,
    pub gid: u32,
}

/// `name` (a user name, or a uid) in the text of a passwd file. A uid the file does not
/// list is still a uid (its group the same number), as Docker's `--user` takes it.
pub fn lookup(passwd: &str, name: &str) -> Option<ImageUser> {
    let numeric = name.parse::<u32>().ok();
    let listed = passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        let (uid, gid) = (f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?);
        (f.first() == Some(&name) || numeric == Some(uid)).then_some(ImageUser { uid, gid })
    });
    listed.or(numeric.map(|uid| ImageUser { uid, gid: uid }))
}

impl Runtime {
    /// User `name` of image `image` (by its id: users do not change under a tag without
    /// the id changing), or `None` when the image has no such user. Remembered per id.
    pub async fn image_user(
        &self,
        image_id: &str,
        name: &str,
        data_hash: &str,
    ) -> Result<Option<ImageUser>, RuntimeError> {
        type Seen = Mutex<HashMap<(String, String), Option<ImageUser>>>;
        static SEEN: OnceLock<Seen> = OnceLock::new();
        let seen = SEEN.get_or_init(Default::default);
        let key = (image_id.to_string(), name.to_string());
        if let Some(u) = seen.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(*u);
        }
        let passwd = self.passwd_of(image_id, data_hash).await?;
        let user = lookup(&passwd, name);
        seen.lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, user);
        Ok(user)
    }

    /// The text of `/etc/passwd` in `image` (empty when it has none).
    async fn passwd_of(&self, image: &str, data_hash: &str) -> Result<String, RuntimeError> {
        let name = format!("drover-users-{:012x}", rand::random::<u64>() >> 16);
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(vec!["true".into()]),
            network_disabled: Some(true),
            // A crash before the removal below leaves it to the next start's sweep.
            labels: Some(HashMap::from([
                (LABEL_MANAGED.to_string(), "true".to_string()),
                (LABEL_DATA.to_string(), data_hash.to_string()),
            ])),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::new().name(&name).build();
        let created = self
            .docker
            .create_container(Some(opts), body)
            .await
            .map_err(RuntimeError::api(format!("reading the users of {image}")))?;
        let opts = DownloadFromContainerOptionsBuilder::new()
            .path("/etc/passwd")
            .build();
        let read = async {
            let mut stream = self.docker.download_from_container(&created.id, Some(opts));
            let mut archive = Vec::new();
            // The file is the image's: a huge one is read no further than a passwd needs.
            while let Some(chunk) = stream.try_next().await? {
                archive.extend_from_slice(&chunk);
                if archive.len() as u64 > MAX_PASSWD + (64 << 10) {
                    break;
                }
            }
            Ok::<_, bollard::errors::Error>(archive)
        };
        let archive = tokio::time::timeout(std::time::Duration::from_secs(30), read).await;
        let _ = self.remove(&created.id).await;
        let archive = match archive {
            Err(_) => {
                return Err(RuntimeError::Api {
                    context: format!("reading /etc/passwd of {image}"),
                    detail: "Docker did not answer within 30 s".into(),
                });
            }
            Ok(Ok(a)) => a,
            Ok(Err(e)) if super::status_of(&e) == Some(404) => return Ok(String::new()),
            Ok(Err(e)) => {
                return Err(RuntimeError::api(format!("reading /etc/passwd of {image}"))(e));
            }
        };
        let mut ar = tar::Archive::new(archive.as_slice());
        let mut text = String::new();
        let entries = ar.entries().map_err(|e| RuntimeError::Api {
            context: format!("reading /etc/passwd of {image}"),
            detail: e.to_string(),
        })?;
        if let Some(Ok(entry)) = entries.into_iter().next()
            && entry.header().entry_type().is_file()
        {
            let mut bytes = Vec::new();
            let _ = entry.take(MAX_PASSWD).read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_by_name_or_uid() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nbad line\nvscode:x:1000:1001::/home/vscode:/bin/bash\n";
        assert_eq!(
            lookup(passwd, "vscode"),
            Some(ImageUser {
                uid: 1000,
                gid: 1001
            })
        );
        assert_eq!(
            lookup(passwd, "1000"),
            Some(ImageUser {
                uid: 1000,
                gid: 1001
            })
        );
        assert_eq!(lookup(passwd, "root"), Some(ImageUser { uid: 0, gid: 0 }));
        assert_eq!(
            lookup(passwd, "4242"),
            Some(ImageUser {
                uid: 4242,
                gid: 4242
            })
        );
        assert_eq!(lookup(passwd, "nobody"), None);
        assert_eq!(lookup("", "vscode"), None);
    }
}
