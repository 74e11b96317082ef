//! What the worker image builds on, and why: a Debian slim image from a registry when
//! one answers (any machine with Docker can build the worker then), else a base made
//! offline from Debian packages (`mmdebstrap`), or what `base_image` names.
//!
//! It decides and pulls; building the worker on the choice is `image`. A pull that
//! makes no progress for `PULL_PATIENCE` counts as no answer, so a machine without a
//! registry falls back in seconds, not after a network timeout.

use std::time::Duration;

use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;

use super::{Runtime, RuntimeError};
use crate::config::Config;

/// The registry base tried when `base_image` is not set.
pub const DEFAULT_BASE: &str = "debian:bookworm-slim";
/// `base_image = "offline"`: build the base from Debian packages even when a registry
/// answers.
pub const OFFLINE: &str = "offline";
/// How long a pull may go without a word from the registry.
const PULL_PATIENCE: Duration = Duration::from_secs(20);

/// Where the worker's base comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// An image from a registry (present now).
    Registry(String),
    /// Built here from Debian packages (`image::base_tag`).
    Offline,
}

/// The choice and the reason, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub base: Base,
    pub why: String,
}

/// Decides the base for `config`, pulling it when it comes from a registry and is not
/// here yet. A base the user named must be had; the default falls back to offline.
pub async fn choose(
    rt: &Runtime,
    config: &Config,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<Choice, RuntimeError> {
    choose_with(rt, config, DEFAULT_BASE, progress).await
}

/// `choose`, trying `default` when `base_image` is not set.
pub async fn choose_with(
    rt: &Runtime,
    config: &Config,
    default: &str,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<Choice, RuntimeError> {
    match config.base_image.as_deref() {
        Some(OFFLINE) => Ok(Choice {
            base: Base::Offline,
            why: "base_image = \"offline\": built from Debian packages".into(),
        }),
        Some(named) => {
            if !rt.image_exists(named).await? {
                pull(rt, named, progress)
                    .await
                    .map_err(|detail| RuntimeError::Api {
                        context: format!("pulling base_image {named}"),
                        detail,
                    })?;
            }
            Ok(Choice {
                base: Base::Registry(named.to_string()),
                why: format!("base_image = \"{named}\""),
            })
        }
        None if rt.image_exists(default).await? => Ok(Choice {
            base: Base::Registry(default.into()),
            why: format!("{default} is here already"),
        }),
        None => match pull(rt, default, progress).await {
            Ok(()) => Ok(Choice {
                base: Base::Registry(default.into()),
                why: format!("pulled {default} from its registry"),
            }),
            Err(e) => Ok(Choice {
                base: Base::Offline,
                why: format!(
                    "no registry answered for {default} ({e}): building the base from Debian packages"
                ),
            }),
        },
    }
}

/// What `drover image build` would do for the base, without doing it (for `doctor`).
pub async fn plan(rt: &Runtime, config: &Config) -> String {
    match config.base_image.as_deref() {
        Some(OFFLINE) => format!("build the base from Debian packages ({})", offline_tool()),
        Some(named) => match rt.image_exists(named).await {
            Ok(true) => format!("build on {named} (here)"),
            _ => format!("pull {named}, then build on it"),
        },
        None => match rt.image_exists(DEFAULT_BASE).await {
            Ok(true) => format!("build on {DEFAULT_BASE} (here)"),
            _ => format!(
                "pull {DEFAULT_BASE}; if no registry answers, build the base from Debian packages ({})",
                offline_tool()
            ),
        },
    }
}

/// Whether this machine can build the offline base, in words.
fn offline_tool() -> String {
    let found = ["mmdebstrap", "debootstrap"].into_iter().find(|t| {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(t).is_file()))
    });
    match found {
        Some(t) => format!("{t} is installed"),
        None => "needs mmdebstrap or debootstrap, not installed".into(),
    }
}

/// `docker pull image`; the registry's error in words.
async fn pull(
    rt: &Runtime,
    image: &str,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), String> {
    let (name, tag) = name_and_tag(image);
    progress(&format!("pulling {image}…"));
    let opts = CreateImageOptionsBuilder::new()
        .from_image(name)
        .tag(tag)
        .build();
    let mut stream = rt.docker().create_image(Some(opts), None, None);
    loop {
        match tokio::time::timeout(PULL_PATIENCE, stream.next()).await {
            Err(_) => return Err(format!("no answer for {}s", PULL_PATIENCE.as_secs())),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(crate::text::ellipsize(&e.to_string(), 300)),
            Ok(Some(Ok(info))) => {
                if let Some(e) = info.error_detail.and_then(|d| d.message) {
                    return Err(e);
                }
            }
        }
    }
    // A pull can end without an error and without the image (an odd registry).
    if rt.image_exists(image).await.unwrap_or(false) {
        Ok(())
    } else {
        Err(format!("{image} is still not here after the pull"))
    }
}

/// `debian:bookworm-slim` → (`debian`, `bookworm-slim`); a registry's port is no tag.
fn name_and_tag(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, t),
        _ => (image, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_port_is_not_a_tag() {
        assert_eq!(
            name_and_tag("debian:bookworm-slim"),
            ("debian", "bookworm-slim")
        );
        assert_eq!(
            name_and_tag("127.0.0.1:5000/debian"),
            ("127.0.0.1:5000/debian", "latest")
        );
        assert_eq!(
            name_and_tag("127.0.0.1:5000/x/debian:12"),
            ("127.0.0.1:5000/x/debian", "12")
        );
    }
}
