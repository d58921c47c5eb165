//! Strategy `recreate` for one runtime: each group of containers swapped in turn onto
//! containers made from the new image, stopping after the first group that rolls back.

use std::time::Instant;

use anyhow::Result;
use bollard::models::{ContainerInspectResponse, ImageConfig};

use super::select::{self, id, name};
use super::swap::{self, Prepared};
use super::{EngineApi, Job, Outcome, labels, report};
use crate::reference::Reference;
use crate::report::Action;

/// Recreates the runtime's `members` (with the containers joining them) from `new_image`;
/// in a dry run, lists them.
pub fn recreate(
    api: &dyn EngineApi,
    job: &Job,
    all: &[ContainerInspectResponse],
    members: &[String],
    new_image: Option<&str>,
) -> Outcome {
    let groups = select::groups(all, members);
    let find = |wanted: &str| all.iter().find(|c| id(c) == wanted);
    if job.dry_run {
        let containers = groups
            .iter()
            .flatten()
            .filter_map(|g| find(g))
            .map(|c| report(c, Action::Recreated, None))
            .collect();
        return Outcome {
            containers,
            error: None,
        };
    }
    let Some(new_image) = new_image else {
        return Outcome::failed("no new image to recreate from".to_string());
    };
    let new_config = match api.inspect_image(new_image) {
        Ok(Some(image)) => image.config.unwrap_or_default(),
        Ok(None) => return Outcome::failed(format!("the pulled image {new_image} vanished")),
        Err(e) => return Outcome::failed(format!("{e:#}")),
    };
    let engine_hostname = api.engine_hostname();

    let mut reports = Vec::new();
    let mut errors = Vec::new();
    let mut halted: Option<String> = None;
    for group in &groups {
        let containers: Vec<&ContainerInspectResponse> =
            group.iter().filter_map(|g| find(g)).collect();
        if let Some(first) = &halted {
            let note = format!("not attempted: '{first}' of this runtime rolled back");
            reports.extend(
                containers
                    .iter()
                    .map(|c| report(c, Action::Unchanged, Some(note.clone()))),
            );
            continue;
        }
        let prepared = match prepare(api, job, &containers, members, &new_config) {
            Ok(prepared) => prepared,
            Err(e) => {
                let reason = format!("{e:#}");
                errors.push(format!(
                    "container '{}' not recreated: {reason}",
                    name(containers[0])
                ));
                reports.extend(
                    containers
                        .iter()
                        .map(|c| report(c, Action::Failed, Some(reason.clone()))),
                );
                continue;
            }
        };

        let started = Instant::now();
        let swapped = swap::swap(
            api,
            &prepared,
            job.health_timeout,
            engine_hostname.as_deref(),
        );
        let seconds = format!("{:.1}", started.elapsed().as_secs_f64());
        match &swapped.error {
            None => {
                for c in &containers {
                    tracing::info!(
                        runtime = job.runtime,
                        container = name(c),
                        seconds,
                        "recreated"
                    );
                }
            }
            Some(error) => {
                tracing::warn!(runtime = job.runtime, seconds, "{error}");
                errors.push(error.clone());
                if swapped.rolled_back {
                    halted = Some(name(containers[0]).to_string());
                }
            }
        }
        reports.extend(swapped.reports);
    }

    let error = match errors.len() {
        0 => None,
        1 => errors.pop(),
        n => Some(format!("{} (and {} more)", errors[0], n - 1)),
    };
    Outcome {
        containers: reports,
        error,
    }
}

/// Gathers what each container of a group is recreated from.
///
/// Runtime containers move to the new image; containers that only join one of them keep
/// their own image and are recreated so they join the new container.
fn prepare(
    api: &dyn EngineApi,
    job: &Job,
    group: &[&ContainerInspectResponse],
    members: &[String],
    new_config: &ImageConfig,
) -> Result<Vec<Prepared>> {
    let mut prepared = Vec::new();
    for old in group {
        let container_labels = old.config.as_ref().and_then(|c| c.labels.as_ref());
        if labels::disabled(container_labels) {
            anyhow::bail!(
                "'{}' shares a namespace with it and is labelled imgwatch.enable=false",
                name(old)
            );
        }
        if old.host_config.as_ref().and_then(|h| h.auto_remove) == Some(true) {
            anyhow::bail!(
                "'{}' runs with --rm: stopping it would remove it before its successor is \
                 proven; recreate it without --rm",
                name(old)
            );
        }
        let image_id = old.image.clone().unwrap_or_default();
        let old_config = api
            .inspect_image(&image_id)?
            .and_then(|i| i.config)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "the image '{}' was created from ({image_id}) is gone, so its own \
                     settings cannot be told from the image's",
                    name(old)
                )
            })?;
        let configured = old
            .config
            .as_ref()
            .and_then(|c| c.image.clone())
            .unwrap_or_default();
        let (image, new_image) = if members.iter().any(|m| m == id(old)) {
            (new_name(&configured, job.reference), new_config.clone())
        } else {
            // Keep the name only while it still means the image the container runs.
            let same = api.inspect_image(&configured)?.and_then(|i| i.id) == Some(image_id.clone());
            (if same { configured } else { image_id }, old_config.clone())
        };
        prepared.push(Prepared {
            old: (*old).clone(),
            old_image: old_config,
            new_image,
            image,
        });
    }
    Ok(prepared)
}

/// `Config.Image` for a new runtime container: the user's spelling when it names the
/// watched tag, the watched reference otherwise (a digest-pinned container moves to it).
fn new_name(configured: &str, reference: &Reference) -> String {
    match Reference::parse(configured) {
        Ok(parsed)
            if parsed.same_repository(reference)
                && parsed.digest.is_none()
                && parsed.tag == reference.tag =>
        {
            configured.to_string()
        }
        _ => reference.to_string(),
    }
}
