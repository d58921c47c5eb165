//! The small commands: `status`, `digest` and `forget`.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, anyhow};

use super::Fatal;
use crate::cli::{DigestArgs, ForgetArgs};
use crate::config;
use crate::reference::Reference;
use crate::registry::{Options, Platform, Session, http};
use crate::settings::{self, Env};
use crate::state::{self, State};

/// `imgwatch status`: the state as it is on disk.
pub fn status(
    state_flag: Option<&Path>,
    config_flag: Option<&Path>,
    env: Env,
) -> Result<State, Fatal> {
    let path = settings::state_only(state_flag, config_flag, env).map_err(Fatal::usage)?;
    state::load(&path).map_err(Fatal::usage)
}

/// `imgwatch digest REF`: the digest the registry serves for a reference (or, with
/// `--platform`, for that platform's manifest under it).
pub fn digest(args: &DigestArgs, config_flag: Option<&Path>, env: Env) -> Result<String, Fatal> {
    let reference = Reference::parse(&args.reference).map_err(Fatal::usage)?;
    let platform: Option<Platform> = args
        .platform
        .as_deref()
        .map(str::parse)
        .transpose()
        .context("--platform")
        .map_err(Fatal::usage)?;
    let config = config::load(config_flag, env).map_err(Fatal::usage)?;

    let options = Options {
        insecure_registries: config.insecure_registries.clone(),
        deadline: Instant::now() + config.timeout,
    };
    let client = http::client().map_err(Fatal::failure)?;
    let repositories = [reference.repository.clone()];
    let session = Session::open(client, &reference.registry, &repositories, &options, env)
        .map_err(Fatal::failure)?;
    let head = session
        .head(&reference.repository, reference.target())
        .map_err(Fatal::failure)?;
    match platform {
        None => Ok(head.digest),
        Some(platform) => session
            .platform_digest(&reference.repository, &head, &platform)
            .map_err(Fatal::failure),
    }
}

/// `imgwatch forget`: drops entries so the next run seeds them again. Returns the names
/// dropped. `--all` also replaces a state file that cannot be read.
pub fn forget(
    args: &ForgetArgs,
    config_flag: Option<&Path>,
    env: Env,
) -> Result<Vec<String>, Fatal> {
    let path =
        settings::state_only(args.state.as_deref(), config_flag, env).map_err(Fatal::usage)?;
    let _lock = state::acquire(&path, args.wait).map_err(Fatal::from_lock)?;

    let mut state = match state::load(&path) {
        Ok(state) => state,
        Err(error) if args.all && error.downcast_ref::<state::StateError>().is_some() => {
            tracing::warn!(
                "replacing the unreadable state file {}: {error}",
                path.display()
            );
            State::default()
        }
        Err(error) => return Err(Fatal::usage(error)),
    };
    let dropped: Vec<String> = if args.all {
        std::mem::take(&mut state.runtimes).into_keys().collect()
    } else {
        let missing: Vec<&String> = args
            .runtimes
            .iter()
            .filter(|r| !state.runtimes.contains_key(*r))
            .collect();
        if !missing.is_empty() && missing.len() == args.runtimes.len() {
            let known: Vec<&String> = state.runtimes.keys().collect();
            return Err(Fatal::usage(anyhow!(
                "no state entry for {} in {} (entries: {})",
                quoted(&missing),
                path.display(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    quoted(&known)
                }
            )));
        }
        for name in missing {
            tracing::warn!("no state entry for '{name}'; nothing to forget");
        }
        args.runtimes
            .iter()
            .filter(|r| state.runtimes.remove(*r).is_some())
            .cloned()
            .collect()
    };
    state::save(&path, &state).map_err(Fatal::failure)?;
    Ok(dropped)
}

fn quoted(names: &[&String]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}
