//! Strategy `remove`: stop and remove a runtime's containers, keeping their volumes, so
//! the orchestrator that made them makes them again from the new image.
//!
//! Containers that join a removed container's namespace are left as they are: the
//! orchestrator that re-provisions the one is expected to own the others.

use bollard::models::ContainerInspectResponse;

use super::api::EngineApi;
use super::select::{id, name};
use crate::report::{Action, ContainerReport};

/// Stops (with each container's own stop signal and timeout) and removes the containers.
pub fn remove(
    api: &dyn EngineApi,
    containers: &[ContainerInspectResponse],
) -> Vec<ContainerReport> {
    containers
        .iter()
        .map(|container| {
            let result = api
                .stop_container(id(container))
                .and_then(|()| api.remove_container(id(container), false));
            let (action, error) = match result {
                Ok(()) => (Action::Removed, None),
                Err(e) => (Action::Failed, Some(format!("{e:#}"))),
            };
            ContainerReport {
                name: name(container).to_string(),
                id: id(container).to_string(),
                action,
                error,
            }
        })
        .collect()
}
