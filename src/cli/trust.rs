//! `drover trust`: the user vouches for a repository's own config file, as `direnv
//! allow` does. Until then its keys that could send a credential elsewhere or widen the
//! sandbox are ignored (`config::repo`); any change to the file asks again.

use std::path::PathBuf;

use super::{CliResult, Failure, open_data};
use crate::config::{Config, repo};
use crate::text::inert;
use crate::workspace;

pub(super) fn trust(repo_dir: PathBuf, revoke: bool) -> CliResult {
    let root = workspace::resolve_head(&repo_dir)
        .map_err(Failure::usage)?
        .root;
    let (data, _) = open_data()?;
    let records = repo::trust_file(data.root());
    if revoke {
        let was = repo::revoke(&records, &root).map_err(Failure::failed)?;
        outln!(
            "{} {}",
            if was {
                "no longer trusted:"
            } else {
                "was not trusted:"
            },
            root.display()
        );
        return Ok(0);
    }
    // What trusting changes: the keys the file sets that are ignored until now.
    let before = Config::load_in(Some(&root), data.root()).map_err(Failure::usage)?;
    let file = repo::trust(&records, &root).map_err(Failure::failed)?;
    let dev = repo::trust_devcontainer(&records, &root).map_err(Failure::failed)?;
    if file.is_none() && dev.is_none() {
        outln!(
            "{} has no drover.toml, .drover/config.toml or devcontainer.json: nothing to trust",
            root.display()
        );
        return Ok(0);
    }
    for path in file.iter().map(|f| &f.path).chain(dev.iter()) {
        outln!("trusted {} as it is now", path.display());
    }
    if before.untrusted.is_empty() {
        outln!("it sets nothing that needed trust");
    } else {
        outln!(
            "these keys now apply: {}",
            inert(&before.untrusted.join(", "))
        );
    }
    outln!("any change to the file needs `drover trust` again");
    Ok(0)
}
