//! Bringing a runtime's containers onto a newly pulled image, and finishing what an
//! interrupted run left.
//!
//! A refresh pulls the tag, checks the engine now holds exactly the digest the registry
//! just served, then (strategy `recreate`) swaps each group of containers onto new ones
//! made from the new image with the same settings, or (strategy `remove`) removes them
//! for their orchestrator to re-provision.
//!
//! # One swap, step by step
//!
//! For a group (a container, or several sharing a namespace; see [`select::groups`]):
//!
//! 1. create each new container as `<name>-imgwatch-new`, labelled with the old
//!    container's ID, the name, whether the old one ran, and the group ([`labels`]);
//!    connect its other networks;
//! 2. stop the old containers (their own stop signal and timeout), joiners first;
//! 3. rename each old one to `<name>-imgwatch-old` and the new one to `<name>`;
//! 4. start the new ones whose old ones ran, targets first, and prove them
//!    ([`verify`]);
//! 5. remove the old ones (not their volumes: the new ones use them).
//!
//! A failure in steps 1 to 4 rolls back: stop the new ones, move them back to their
//! temporary names, give the old ones their names back, start those that ran, and only
//! then remove the new ones (with the anonymous volumes only they made).
//!
//! # Recovery state machine
//!
//! A run killed at any point leaves one of these, for each group; [`recover`] runs before
//! anything else in the next run and acts as shown. "Old" is the container a new one's
//! `imgwatch.replaces` label names.
//!
//! | left behind                                                     | recovery  |
//! |-----------------------------------------------------------------|-----------|
//! | some new containers created (temp names), olds untouched        | restore   |
//! | all created, some olds stopped, names unchanged                 | restore   |
//! | some olds aside, some news in place (killed mid-rename)         | restore   |
//! | all news in place, not all started or not proven                | restore   |
//! | all news in place, all that must run running and proven         | complete  |
//! | some olds removed already (killed while committing)             | complete  |
//! | rollback under way: news stopped or back on temp names          | restore   |
//! | new on its temp name, its old one gone (removed by someone)     | adopt     |
//! | an old one aside with no new container naming it                | rename back |
//! | any of the above, made by a run whose process still lives       | left alone |
//!
//! Restore ends with the old containers under their names, running if they ran, and the
//! new ones removed; an old one that will not start again keeps the new ones, stopped on
//! their temporary names, as the record the next run restores from. Complete ends with
//! the new ones under the names, running if the old ones ran, and the old ones removed.
//! Adopt moves the new container into the free name and starts it if the old one ran. A
//! group whose owner label names a process that still runs belongs to a run in progress
//! beside this one (see [`owner`]). In every row each name ends up held by exactly one
//! container and no container the user made is removed before its successor is proven.
//!
//! Groups are swapped one after another. Workspace containers are heavy; starting
//! several at once makes them compete for the host and their health checks flaky, and a
//! broken image is better found on the first group than on all of them at once: after a
//! group rolls back, the runtime's remaining groups are left as they are.

mod api;
#[cfg(test)]
mod crash_tests;
#[cfg(test)]
mod fake;
pub mod labels;
pub mod owner;
pub mod plan;
mod recover;
mod recreate;
mod remove;
pub mod select;
mod swap;
pub mod verify;

use std::time::Duration;

use anyhow::Result;
use bollard::models::ContainerInspectResponse;

pub use api::EngineApi;
pub use recover::HEALTH_TIMEOUT as RECOVERY_HEALTH_TIMEOUT;

use crate::config::Strategy;
use crate::engine::{Engine, same_repository_digests};
use crate::reference::Reference;
use crate::report::{Action, ContainerReport};
use select::{id, name};

/// One runtime's refresh: what to pull and what to do with its containers.
pub struct Job<'a> {
    /// The runtime's name, for logs.
    pub runtime: &'a str,
    /// The tag reference the runtime is watched under.
    pub reference: &'a Reference,
    /// The top-level digest the registry just served for the tag.
    pub digest: &'a str,
    /// The platform to pull.
    pub platform: &'a crate::registry::Platform,
    /// Credentials for the tag's registry, handed to the engine for the pull.
    pub credentials: Option<&'a crate::registry::Credentials>,
    /// False: pull only.
    pub recreate: bool,
    /// Recreate the containers, or remove them for their orchestrator.
    pub strategy: Strategy,
    /// Only containers whose names start with this are touched.
    pub container_prefix: &'a str,
    /// How long a new container with a healthcheck may take to turn healthy.
    pub health_timeout: Duration,
    /// Remove the previous image once no container uses it.
    pub cleanup: bool,
    /// List what would be recreated or removed; change nothing (and pull nothing).
    pub dry_run: bool,
}

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// One report per container; in a dry run, the action that would be taken.
    pub containers: Vec<ContainerReport>,
    /// `None` when everything succeeded.
    pub error: Option<String>,
}

impl Outcome {
    fn failed(error: String) -> Outcome {
        Outcome {
            containers: Vec::new(),
            error: Some(error),
        }
    }
}

/// Pulls the runtime's image and, when asked, brings its containers onto it.
pub fn refresh(engine: &Engine, job: &Job) -> Outcome {
    refresh_via(engine, engine, job)
}

/// [`refresh`] with the container operations going through `api`, so a test can
/// interpose on them (to stop a run at a chosen step, say).
pub fn refresh_via(engine: &Engine, api: &dyn EngineApi, job: &Job) -> Outcome {
    let reference = job.reference;
    let local = match engine.inspect_image(&reference.to_string()) {
        Ok(image) => image,
        Err(e) => return Outcome::failed(format!("{e:#}")),
    };
    let previous = local.as_ref().and_then(|i| i.id.clone());

    // A dry run pulls nothing, but an image an earlier pull left is already the new one:
    // containers on it are reported unchanged, as a real run would leave them.
    let mut new_image = local
        .filter(|_| job.dry_run)
        .filter(|i| {
            let digests = i.repo_digests.as_deref().unwrap_or_default();
            same_repository_digests(reference, digests).contains(&job.digest.to_string())
        })
        .and_then(|i| i.id);
    if !job.dry_run {
        let pulled = match engine.pull(reference, job.platform, job.credentials) {
            Ok(pulled) => pulled,
            Err(e) => return Outcome::failed(format!("{e:#}")),
        };
        if !pulled.digests.iter().any(|d| d == job.digest) {
            return Outcome::failed(format!(
                "after the pull the engine's image of {reference} is {}, not {} as the \
                 registry said: the tag moved again during the run or a mirror served \
                 another image",
                if pulled.digests.is_empty() {
                    "unknown".to_string()
                } else {
                    pulled.digests.join(", ")
                },
                job.digest
            ));
        }
        new_image = Some(pulled.id);
    }
    if !job.recreate {
        return Outcome {
            containers: Vec::new(),
            error: None,
        };
    }
    containers(api, job, previous.as_deref(), new_image.as_deref())
}

/// Selects the runtime's containers and recreates or removes them.
fn containers(
    api: &dyn EngineApi,
    job: &Job,
    previous: Option<&str>,
    new_image: Option<&str>,
) -> Outcome {
    let all = match inspect_all(api) {
        Ok(all) => all,
        Err(e) => return Outcome::failed(format!("{e:#}")),
    };
    let selection = select::select(
        &all,
        job.reference,
        previous,
        new_image,
        job.container_prefix,
    );
    let find = |wanted: &str| all.iter().find(|c| id(c) == wanted);
    for disabled in selection.disabled.iter().filter_map(|d| find(d)) {
        tracing::info!(
            runtime = job.runtime,
            container = name(disabled),
            "left alone: imgwatch.enable=false"
        );
    }
    let mut reports: Vec<ContainerReport> = selection
        .current
        .iter()
        .filter_map(|c| find(c))
        .map(|c| report(c, Action::Unchanged, None))
        .collect();

    let members: Vec<&ContainerInspectResponse> =
        selection.members.iter().filter_map(|m| find(m)).collect();
    // After a pull-only run the tag already named the new image before this run's pull,
    // so the image to clean up is also the one the replaced containers ran.
    let mut left: Vec<&str> = previous.into_iter().collect();
    left.extend(members.iter().filter_map(|c| c.image.as_deref()));
    left.sort_unstable();
    left.dedup();
    let left: Vec<String> = left.into_iter().map(str::to_string).collect();
    let outcome = match (job.strategy, job.dry_run) {
        (Strategy::Remove, true) => Outcome {
            containers: members
                .iter()
                .map(|c| report(c, Action::Removed, None))
                .collect(),
            error: None,
        },
        (Strategy::Remove, false) => {
            let owned: Vec<ContainerInspectResponse> = members.into_iter().cloned().collect();
            let removed = remove::remove(api, &owned);
            let error = summary(&removed);
            Outcome {
                containers: removed,
                error,
            }
        }
        (Strategy::Recreate, _) => {
            recreate::recreate(api, job, &all, &selection.members, new_image)
        }
    };
    reports.extend(outcome.containers);

    if job.cleanup && !job.dry_run && outcome.error.is_none() {
        for image in left.iter().filter(|i| Some(i.as_str()) != new_image) {
            cleanup(api, image);
        }
    }
    Outcome {
        containers: reports,
        error: outcome.error,
    }
}

/// Removes `previous` unless a container uses it or a tag names it.
fn cleanup(api: &dyn EngineApi, previous: &str) {
    let used = match inspect_all(api) {
        Ok(all) => all.iter().any(|c| c.image.as_deref() == Some(previous)),
        Err(e) => {
            tracing::warn!("cleanup skipped: {e:#}");
            return;
        }
    };
    if used {
        tracing::info!(
            image = previous,
            "previous image kept: a container still uses it"
        );
        return;
    }
    // Removing by ID also removes the tags of its repository that still name the image
    // (a `:pinned` or version tag kept to go back to): a tagged image stays.
    match api.inspect_image(previous) {
        Ok(Some(image)) if image.repo_tags.as_ref().is_some_and(|t| !t.is_empty()) => {
            tracing::info!(image = previous, "previous image kept: still tagged");
            return;
        }
        Ok(Some(_)) => {}
        Ok(None) => return,
        Err(e) => {
            tracing::warn!("cleanup skipped: {e:#}");
            return;
        }
    }
    match api.remove_image(previous) {
        Ok(true) => tracing::info!(image = previous, "previous image removed"),
        Ok(false) => tracing::info!(image = previous, "previous image kept: still named or used"),
        Err(e) => tracing::warn!(image = previous, "cannot remove the previous image: {e:#}"),
    }
}

fn inspect_all(api: &dyn EngineApi) -> Result<Vec<ContainerInspectResponse>> {
    let mut all = Vec::new();
    for id in api.container_ids()? {
        // A container removed between the list and the inspect is simply gone.
        if let Some(c) = api.inspect_container(&id)? {
            all.push(c);
        }
    }
    Ok(all)
}

fn report(c: &ContainerInspectResponse, action: Action, error: Option<String>) -> ContainerReport {
    ContainerReport {
        name: name(c).to_string(),
        id: id(c).to_string(),
        action,
        error,
    }
}

fn summary(reports: &[ContainerReport]) -> Option<String> {
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| r.error.is_some())
        .map(|r| format!("'{}': {}", r.name, r.error.as_deref().unwrap_or_default()))
        .collect();
    (!failed.is_empty()).then(|| failed.join("; "))
}

/// Finishes every recreate an interrupted run left; run before anything else.
pub fn recover(engine: &Engine) -> Result<Vec<ContainerReport>> {
    recover_via(engine, RECOVERY_HEALTH_TIMEOUT)
}

/// [`recover`] through any [`EngineApi`], with the time a new container may take to
/// prove itself.
pub fn recover_via(api: &dyn EngineApi, health_timeout: Duration) -> Result<Vec<ContainerReport>> {
    recover::recover(api, health_timeout)
}
