//! Finishing what an interrupted run left: every group is completed or restored.
//!
//! The record is the new containers' labels (see [`super::labels`]): a new container
//! names the container it replaces, the name both want, whether the old one ran, and its
//! group. While the old container exists the swap is unfinished. For each unfinished group:
//!
//! - committing (a group member's old container is already gone): complete.
//! - every new container holds its name and every one that must run is running and
//!   proven: complete, i.e. remove the old containers.
//! - anything else (a new container still under its temporary name, an old one still
//!   under its name, a new one stopped or unhealthy): restore, i.e. stop the new
//!   containers and move them to their temporary names, give the old ones their names
//!   back, start those that ran (targets first), then remove the new ones.
//!
//! Two leftovers have no unfinished group: a new container under its temporary name whose
//! old container is gone (someone removed it), which is moved into the free name and
//! started if the old one ran; and an old container set aside with no successor, which is
//! given its name back and left stopped.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use anyhow::{Context, Result};
use bollard::models::ContainerInspectResponse;

use super::api::EngineApi;
use super::select::{self, id, name};
use super::{labels, owner, verify};
use crate::report::{Action, ContainerReport};

/// How long a recovered new container may take to prove itself.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(60);

/// A new container and the old one it replaces (when it still exists).
struct Pair {
    new: ContainerInspectResponse,
    old: Option<ContainerInspectResponse>,
    name: String,
    was_running: bool,
}

fn label<'a>(c: &'a ContainerInspectResponse, key: &str) -> Option<&'a str> {
    c.config
        .as_ref()?
        .labels
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

fn running(c: &ContainerInspectResponse) -> bool {
    c.state.as_ref().and_then(|s| s.running).unwrap_or(false)
}

/// Finds and finishes every interrupted swap; returns what it did, one report per container.
pub fn recover(api: &dyn EngineApi, health_timeout: Duration) -> Result<Vec<ContainerReport>> {
    let all = super::inspect_all(api)?;
    let by_id: HashMap<&str, &ContainerInspectResponse> = all.iter().map(|c| (id(c), c)).collect();

    // Group every labelled container; only groups with an old container left are open.
    let mut groups: BTreeMap<String, Vec<Pair>> = BTreeMap::new();
    for c in &all {
        let (Some(replaces), Some(wanted), Some(group)) = (
            label(c, labels::REPLACES),
            label(c, labels::NAME),
            label(c, labels::GROUP),
        ) else {
            continue;
        };
        groups.entry(group.to_string()).or_default().push(Pair {
            new: c.clone(),
            old: by_id.get(replaces).map(|o| (*o).clone()),
            name: wanted.to_string(),
            was_running: label(c, labels::WAS_RUNNING) == Some("true"),
        });
    }

    let mut reports = Vec::new();
    let mut successors: HashSet<String> = HashSet::new();
    for (group, pairs) in groups {
        successors.extend(
            pairs
                .iter()
                .filter_map(|p| p.old.as_ref())
                .map(|o| id(o).to_string()),
        );
        if in_progress(&pairs) {
            tracing::info!(group = %group, "a recreate of another live run: left to it");
            continue;
        }
        if pairs.iter().all(|p| p.old.is_none()) {
            reports.extend(orphans(api, &pairs));
            continue;
        }
        tracing::warn!(group = %group, "finishing a recreate an earlier run left unfinished");
        reports.extend(finish(api, &all, pairs, health_timeout));
    }

    // Old containers set aside with no successor left.
    for c in &all {
        let Some(original) = name(c).strip_suffix(labels::OLD_SUFFIX) else {
            continue;
        };
        if successors.contains(id(c)) || all.iter().any(|o| name(o) == original) {
            continue;
        }
        let error = match api.rename_container(id(c), original) {
            Ok(()) => {
                "found set aside by an interrupted run; renamed back, left stopped".to_string()
            }
            Err(e) => format!("{e:#}"),
        };
        reports.push(report(original, id(c), Action::RolledBack, Some(error)));
    }
    Ok(reports)
}

/// True while the run that made the group may still be working on it: its process lives,
/// or cannot be checked and the group is younger than [`owner::STALE_AFTER`].
fn in_progress(pairs: &[Pair]) -> bool {
    pairs.iter().any(|pair| {
        let Some(made_by) = label(&pair.new, labels::OWNER) else {
            return false;
        };
        match owner::alive(made_by) {
            Some(alive) => alive,
            None => !stale(&pair.new),
        }
    })
}

fn stale(container: &ContainerInspectResponse) -> bool {
    let created = container.created.as_deref().unwrap_or_default();
    match chrono::DateTime::parse_from_rfc3339(created) {
        Ok(created) => {
            let age = chrono::Utc::now().signed_duration_since(created);
            age.to_std().is_ok_and(|age| age > owner::STALE_AFTER)
        }
        // No creation time to go by: nothing says a run still works on it.
        Err(_) => true,
    }
}

/// A pair whose old container is gone while the new one holds the name: the group was
/// committing when the run stopped.
fn committed(pair: &Pair) -> bool {
    pair.old.is_none() && name(&pair.new) == pair.name
}

fn report(name: &str, id: &str, action: Action, error: Option<String>) -> ContainerReport {
    ContainerReport {
        name: name.to_string(),
        id: id.to_string(),
        action,
        error,
    }
}

/// New containers left under their temporary names after their old ones vanished.
fn orphans(api: &dyn EngineApi, pairs: &[Pair]) -> Vec<ContainerReport> {
    let mut reports = Vec::new();
    for pair in pairs {
        if name(&pair.new) != labels::new_name(&pair.name) {
            continue;
        }
        let new_id = id(&pair.new);
        let mut result = api.rename_container(new_id, &pair.name);
        if result.is_ok() && pair.was_running && !running(&pair.new) {
            result = api.start_container(new_id);
        }
        let error = result.err().map(|e| format!("{e:#}"));
        reports.push(report(&pair.name, new_id, Action::Recreated, error));
    }
    reports
}

fn finish(
    api: &dyn EngineApi,
    all: &[ContainerInspectResponse],
    pairs: Vec<Pair>,
    health_timeout: Duration,
) -> Vec<ContainerReport> {
    let committing = pairs.iter().any(committed);
    let in_place = pairs.iter().all(|p| {
        name(&p.new) == p.name
            && p.old
                .as_ref()
                .is_none_or(|o| name(o) == labels::old_name(&p.name))
    });
    let must_run: Vec<String> = pairs
        .iter()
        .filter(|p| p.was_running)
        .map(|p| id(&p.new).to_string())
        .collect();
    let started = pairs.iter().all(|p| !p.was_running || running(&p.new));
    let proven = in_place
        && started
        && match verify::verify(api, &must_run, health_timeout) {
            Ok(()) => true,
            Err((id, reason)) => {
                tracing::info!(container = %id, "the new container is not proven: {reason}");
                false
            }
        };
    tracing::debug!(committing, in_place, started, proven, "recovery decision");

    if committing || proven {
        return complete(api, &pairs);
    }
    let (open, lost): (Vec<Pair>, Vec<Pair>) = pairs.into_iter().partition(|p| p.old.is_some());
    let mut reports = restore(api, all, &open);
    reports.extend(orphans(api, &lost));
    reports
}

fn complete(api: &dyn EngineApi, pairs: &[Pair]) -> Vec<ContainerReport> {
    pairs
        .iter()
        .map(|pair| {
            let new_id = id(&pair.new);
            let mut result: Result<()> = Ok(());
            if name(&pair.new) != pair.name {
                result = api.rename_container(new_id, &pair.name);
            }
            if result.is_ok() && pair.was_running && !running(&pair.new) {
                result = api.start_container(new_id);
            }
            if let (Ok(()), Some(old)) = (&result, &pair.old) {
                result = api.remove_container(id(old), true);
            }
            report(
                &pair.name,
                new_id,
                Action::Recreated,
                result.err().map(|e| format!("{e:#}")),
            )
        })
        .collect()
}

fn restore(
    api: &dyn EngineApi,
    all: &[ContainerInspectResponse],
    pairs: &[Pair],
) -> Vec<ContainerReport> {
    let mut problems: HashMap<String, Vec<String>> = HashMap::new();
    let mut note = |name: &str, result: Result<()>| {
        if let Err(e) = result {
            problems
                .entry(name.to_string())
                .or_default()
                .push(format!("{e:#}"));
        }
    };

    for pair in pairs {
        let new_id = id(&pair.new);
        if running(&pair.new) {
            note(&pair.name, api.stop_container(new_id));
        }
        if name(&pair.new) == pair.name {
            note(
                &pair.name,
                api.rename_container(new_id, &labels::new_name(&pair.name)),
            );
        }
        if let Some(old) = &pair.old
            && name(old) != pair.name
        {
            note(&pair.name, api.rename_container(id(old), &pair.name));
        }
    }

    // Targets before the containers that join them.
    let olds: Vec<String> = pairs
        .iter()
        .filter_map(|p| p.old.as_ref())
        .map(|o| id(o).to_string())
        .collect();
    let order: Vec<String> = select::groups(all, &olds).into_iter().flatten().collect();
    for old_id in order {
        let Some(pair) = pairs
            .iter()
            .find(|p| p.old.as_ref().is_some_and(|o| id(o) == old_id))
        else {
            continue;
        };
        let old = pair.old.as_ref().is_some_and(running);
        if pair.was_running && !old {
            note(
                &pair.name,
                api.start_container(&old_id)
                    .context("restart the old container"),
            );
        }
    }

    // The new containers stay as the record while an old one is not back, so the next
    // run tries again.
    if problems.is_empty() {
        for pair in pairs {
            if let Err(e) = api.discard_container(id(&pair.new)) {
                problems
                    .entry(pair.name.clone())
                    .or_default()
                    .push(format!("{e:#}"));
            }
        }
    }

    pairs
        .iter()
        .map(|pair| {
            let old_id = pair.old.as_ref().map(id).unwrap_or_default();
            let mut error = "an interrupted recreate was rolled back".to_string();
            if let Some(list) = problems.get(&pair.name) {
                error.push_str(&format!("; {}", list.join("; ")));
            }
            report(&pair.name, old_id, Action::RolledBack, Some(error))
        })
        .collect()
}
