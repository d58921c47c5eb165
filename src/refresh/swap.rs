//! Swapping a group of containers onto new ones, and rolling the swap back.
//!
//! A group is one container, or several that share a namespace, with targets before the
//! containers that join them. All new containers are created first (under temporary names,
//! with bookkeeping labels), so that a run killed at any later point leaves a complete
//! record of the group for recovery. Then the old containers are stopped (joiners first),
//! set aside, the new ones take their names and start (targets first) and are proven
//! together. Only then are the old containers removed.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result};
use bollard::models::{ContainerInspectResponse, ImageConfig};

use super::api::EngineApi;
use super::plan::{self, Input};
use super::select::{id, name};
use super::{labels, verify};
use crate::report::{Action, ContainerReport};

/// One container of a group, with what it is recreated from.
pub struct Prepared {
    /// The old container's inspect.
    pub old: ContainerInspectResponse,
    /// The config of the image the old container runs.
    pub old_image: ImageConfig,
    /// The config of the image the new container runs.
    pub new_image: ImageConfig,
    /// `Config.Image` of the new container.
    pub image: String,
}

/// How far one member got; rollback undoes exactly this much.
#[derive(Default)]
struct Progress {
    new_id: Option<String>,
    stopped: bool,
    aside: bool,
    in_place: bool,
    started: bool,
}

/// The outcome of one group.
pub struct Swapped {
    /// One report per member, in group order.
    pub reports: Vec<ContainerReport>,
    /// `None` when every member was recreated.
    pub error: Option<String>,
    /// True when the group was rolled back after its old containers were touched.
    pub rolled_back: bool,
}

/// Swaps the group; on failure undoes what was done and says why.
pub fn swap(
    api: &dyn EngineApi,
    group: &[Prepared],
    health_timeout: Duration,
    engine_hostname: Option<&str>,
) -> Swapped {
    let mut progress: Vec<Progress> = group.iter().map(|_| Progress::default()).collect();
    match forward(api, group, &mut progress, health_timeout, engine_hostname) {
        Ok(()) => {
            commit(api, group, &progress);
            let reports = group
                .iter()
                .zip(&progress)
                .map(|(member, p)| ContainerReport {
                    name: name(&member.old).to_string(),
                    id: p.new_id.clone().unwrap_or_default(),
                    action: Action::Recreated,
                    error: None,
                })
                .collect();
            Swapped {
                reports,
                error: None,
                rolled_back: false,
            }
        }
        Err(failure) => {
            let touched = progress.iter().any(|p| p.stopped || p.aside);
            let reason = failure.reason.clone();
            tracing::warn!(container = %failure.container, "recreate failed: {reason}");
            let undo = rollback(api, group, &progress);
            let action = if touched {
                Action::RolledBack
            } else {
                Action::Failed
            };
            let reports = group
                .iter()
                .map(|member| {
                    let own = name(&member.old) == failure.container;
                    let mut error = if own {
                        reason.clone()
                    } else {
                        format!("rolled back with '{}': {reason}", failure.container)
                    };
                    if let Some(undo) = &undo {
                        error.push_str(&format!("; {undo}"));
                    }
                    ContainerReport {
                        name: name(&member.old).to_string(),
                        id: id(&member.old).to_string(),
                        action,
                        error: Some(error),
                    }
                })
                .collect();
            let mut error = format!(
                "container '{}' {}: {reason}",
                failure.container,
                if touched {
                    "rolled back"
                } else {
                    "not recreated"
                }
            );
            if let Some(undo) = undo {
                error.push_str(&format!("; {undo}"));
            }
            Swapped {
                reports,
                error: Some(error),
                rolled_back: touched,
            }
        }
    }
}

struct Failure {
    container: String,
    reason: String,
}

fn failed(member: &Prepared) -> impl Fn(anyhow::Error) -> Failure + '_ {
    move |e| Failure {
        container: name(&member.old).to_string(),
        reason: format!("{e:#}"),
    }
}

fn running(container: &ContainerInspectResponse) -> bool {
    container
        .state
        .as_ref()
        .and_then(|s| s.running)
        .unwrap_or(false)
}

fn forward(
    api: &dyn EngineApi,
    group: &[Prepared],
    progress: &mut [Progress],
    health_timeout: Duration,
    engine_hostname: Option<&str>,
) -> Result<(), Failure> {
    let group_id = group.first().map(|m| id(&m.old)).unwrap_or_default();

    // Create every new container first; targets come first, so joiners can name them.
    let mut replaced: HashMap<String, String> = HashMap::new();
    for (member, p) in group.iter().zip(progress.iter_mut()) {
        let new_id =
            create(api, member, &replaced, group_id, engine_hostname, p).map_err(failed(member))?;
        replaced.insert(id(&member.old).to_string(), new_id);
    }

    // Stop the old ones, joiners before the containers they join.
    for (member, p) in group.iter().zip(progress.iter_mut()).rev() {
        if running(&member.old) {
            p.stopped = true;
            api.stop_container(id(&member.old))
                .map_err(failed(member))?;
        }
    }

    // Old ones aside, new ones into their names.
    for (member, p) in group.iter().zip(progress.iter_mut()) {
        let name = name(&member.old);
        api.rename_container(id(&member.old), &labels::old_name(name))
            .map_err(failed(member))?;
        p.aside = true;
        let new_id = p.new_id.as_deref().unwrap_or_default();
        api.rename_container(new_id, name).map_err(failed(member))?;
        p.in_place = true;
    }

    // Start what ran before, targets first, and prove them together.
    let mut started = Vec::new();
    for (member, p) in group.iter().zip(progress.iter_mut()) {
        if running(&member.old) {
            let new_id = p.new_id.clone().unwrap_or_default();
            p.started = true;
            if let Err(e) = api.start_container(&new_id) {
                // A joiner cannot start once its target died: name the cause, not the
                // symptom.
                return Err(exited_before(api, group, progress, &started)
                    .unwrap_or_else(|| failed(member)(e)));
            }
            started.push(new_id);
        }
    }
    verify::verify(api, &started, health_timeout).map_err(|(new_id, reason)| {
        let at = progress
            .iter()
            .position(|p| p.new_id.as_deref() == Some(&new_id));
        let container = at
            .map(|i| name(&group[i].old))
            .unwrap_or_default()
            .to_string();
        Failure {
            container,
            reason: format!("new container {reason}"),
        }
    })
}

/// The first of the `started` new containers that is no longer running, as a failure.
fn exited_before(
    api: &dyn EngineApi,
    group: &[Prepared],
    progress: &[Progress],
    started: &[String],
) -> Option<Failure> {
    started.iter().find_map(|new_id| {
        let inspect = api.inspect_container(new_id).ok().flatten()?;
        let state = inspect.state.unwrap_or_default();
        if state.running == Some(true) {
            return None;
        }
        let at = progress
            .iter()
            .position(|p| p.new_id.as_deref() == Some(new_id))?;
        Some(Failure {
            container: name(&group[at].old).to_string(),
            reason: format!(
                "new container exited with code {}",
                state.exit_code.unwrap_or(0)
            ),
        })
    })
}

fn create(
    api: &dyn EngineApi,
    member: &Prepared,
    replaced: &HashMap<String, String>,
    group_id: &str,
    engine_hostname: Option<&str>,
    progress: &mut Progress,
) -> Result<String> {
    let plan = plan::plan(&Input {
        old: &member.old,
        old_image: &member.old_image,
        new_image: &member.new_image,
        image: member.image.clone(),
        replaced,
        engine_hostname,
    });
    let mut body = plan.body;
    let bookkeeping = labels::bookkeeping(
        id(&member.old),
        &plan.name,
        running(&member.old),
        group_id,
        &api.owner(),
    );
    body.labels
        .get_or_insert_with(HashMap::new)
        .extend(bookkeeping);

    let new_id = api.create_container(&labels::new_name(&plan.name), body)?;
    progress.new_id = Some(new_id.clone());
    for (network, endpoint) in plan.networks {
        api.connect_network(&network, &new_id, endpoint)?;
    }
    if let Some(network) = plan.detach {
        api.disconnect_network(&network, &new_id)?;
    }
    Ok(new_id)
}

/// Removes the old containers, joiners first. Their anonymous volumes stay: the new
/// containers use them. A failure here leaves an old container aside, which the next
/// run's recovery removes; the new containers are in place either way.
fn commit(api: &dyn EngineApi, group: &[Prepared], progress: &[Progress]) {
    for (member, p) in group.iter().zip(progress).rev() {
        if let Err(e) = api.remove_container(id(&member.old), false) {
            tracing::warn!(
                container = name(&member.old),
                new = p.new_id.as_deref().unwrap_or_default(),
                "cannot remove the replaced container; the next run will: {e:#}"
            );
        }
    }
}

/// Puts the old containers back as they were; `Some` describes what could not be undone.
///
/// The new containers are removed last: until the old ones are back and running, their
/// labels are the record a later run recovers from.
fn rollback(api: &dyn EngineApi, group: &[Prepared], progress: &[Progress]) -> Option<String> {
    let mut problems: Vec<String> = Vec::new();
    let mut note = |result: Result<()>| {
        if let Err(e) = result {
            problems.push(format!("{e:#}"));
        }
    };
    undo(api, group, progress, &mut note);

    // Only once every old container is back: until then the new containers' labels are
    // the record the next run's recovery restores from.
    if problems.is_empty() {
        for p in progress.iter().rev() {
            if let Some(new_id) = &p.new_id
                && let Err(e) = api.discard_container(new_id)
            {
                problems.push(format!("{e:#}"));
            }
        }
    }

    if problems.is_empty() {
        None
    } else {
        tracing::error!(
            "rollback incomplete, the next run will finish it: {}",
            problems.join("; ")
        );
        Some(format!(
            "rollback incomplete (the next run finishes it): {}",
            problems.join("; ")
        ))
    }
}

/// Stops the new containers, moves them back to their temporary names, gives the old
/// ones their names back and starts those that ran; each step's result goes to `note`.
fn undo(
    api: &dyn EngineApi,
    group: &[Prepared],
    progress: &[Progress],
    note: &mut dyn FnMut(Result<()>),
) {
    for (member, p) in group.iter().zip(progress).rev() {
        let name = name(&member.old);
        if let Some(new_id) = &p.new_id {
            if p.started {
                note(api.stop_container(new_id));
            }
            if p.in_place {
                note(api.rename_container(new_id, &labels::new_name(name)));
            }
        }
        if p.aside {
            note(api.rename_container(id(&member.old), name));
        }
    }
    for (member, p) in group.iter().zip(progress) {
        if p.stopped {
            note(
                api.start_container(id(&member.old))
                    .context("restart the old container"),
            );
        }
    }
}
