//! Containers: the operations a refresh performs, as [`EngineApi`] over the real engine.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointSettings, ImageInspect,
    NetworkConnectRequest, NetworkDisconnectRequest,
};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, RemoveContainerOptions, RenameContainerOptions,
    StopContainerOptions,
};

use super::{Engine, is_not_found};
use crate::refresh::EngineApi;

/// The engine's default stop timeout when a container sets none.
const DEFAULT_STOP_TIMEOUT: u64 = 10;
/// Added to a stop's own timeout before the request counts as hung.
const STOP_MARGIN: Duration = Duration::from_secs(60);

impl EngineApi for Engine {
    fn container_ids(&self) -> Result<Vec<String>> {
        let options = ListContainersOptions {
            all: true,
            ..Default::default()
        };
        let list = self
            .block_on(self.docker.list_containers(Some(options)))
            .context("list containers")?;
        Ok(list.into_iter().filter_map(|c| c.id).collect())
    }

    fn inspect_container(&self, id: &str) -> Result<Option<ContainerInspectResponse>> {
        match self.block_on(self.docker.inspect_container(id, None)) {
            Ok(inspect) => Ok(Some(inspect)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(anyhow!(e)).with_context(|| format!("inspect container {id}")),
        }
    }

    fn inspect_image(&self, name: &str) -> Result<Option<ImageInspect>> {
        Engine::inspect_image(self, name)
    }

    fn create_container(&self, name: &str, body: ContainerCreateBody) -> Result<String> {
        let options = CreateContainerOptions {
            name: Some(name.to_string()),
            ..Default::default()
        };
        let created = self
            .block_on(self.docker.create_container(Some(options), body))
            .map_err(|e| anyhow!(e))
            .with_context(|| format!("create container '{name}'"))?;
        for warning in created.warnings {
            tracing::warn!(container = name, "engine: {warning}");
        }
        Ok(created.id)
    }

    fn connect_network(&self, network: &str, id: &str, endpoint: EndpointSettings) -> Result<()> {
        let request = NetworkConnectRequest {
            container: id.to_string(),
            endpoint_config: Some(endpoint),
        };
        self.block_on(self.docker.connect_network(network, request))
            .map_err(|e| anyhow!(e))
            .with_context(|| format!("connect container {} to network '{network}'", short(id)))
    }

    fn disconnect_network(&self, network: &str, id: &str) -> Result<()> {
        let request = NetworkDisconnectRequest {
            container: id.to_string(),
            force: Some(false),
        };
        self.block_on(self.docker.disconnect_network(network, request))
            .map_err(|e| anyhow!(e))
            .with_context(|| {
                format!(
                    "disconnect container {} from network '{network}'",
                    short(id)
                )
            })
    }

    fn start_container(&self, id: &str) -> Result<()> {
        self.block_on(self.docker.start_container(id, None))
            .map_err(|e| anyhow!(e))
            .with_context(|| format!("start container {}", short(id)))
    }

    fn stop_container(&self, id: &str) -> Result<()> {
        // No signal or timeout in the request: the engine then uses the container's own
        // (`StopSignal`, `StopTimeout`), which is what the user configured.
        let inspect = EngineApi::inspect_container(self, id)?;
        let grace = inspect
            .and_then(|c| c.config)
            .and_then(|c| c.stop_timeout)
            .and_then(|t| u64::try_from(t).ok())
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        let docker = self
            .docker
            .clone()
            .with_timeout(Duration::from_secs(grace) + STOP_MARGIN);
        let options = StopContainerOptions {
            signal: None,
            t: None,
        };
        match self.block_on(docker.stop_container(id, Some(options))) {
            Ok(()) => Ok(()),
            // 304: already stopped.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(anyhow!(e)).with_context(|| format!("stop container {}", short(id))),
        }
    }

    fn restart_container(&self, id: &str) -> Result<()> {
        EngineApi::stop_container(self, id)?;
        EngineApi::start_container(self, id)
    }

    fn rename_container(&self, id: &str, name: &str) -> Result<()> {
        let options = RenameContainerOptions {
            name: name.to_string(),
        };
        self.block_on(self.docker.rename_container(id, options))
            .map_err(|e| anyhow!(e))
            .with_context(|| format!("rename container {} to '{name}'", short(id)))
    }

    fn remove_container(&self, id: &str, force: bool) -> Result<()> {
        let options = RemoveContainerOptions {
            v: false,
            force,
            link: false,
        };
        match self.block_on(self.docker.remove_container(id, Some(options))) {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(anyhow!(e)).with_context(|| format!("remove container {}", short(id))),
        }
    }

    fn discard_container(&self, id: &str) -> Result<()> {
        // With `v` the engine removes only volumes the container's mounts do not name,
        // that is the anonymous ones created for it (a `VOLUME` only the new image has);
        // the volumes handed over from the old container are mounted by name and stay.
        let options = RemoveContainerOptions {
            v: true,
            force: true,
            link: false,
        };
        match self.block_on(self.docker.remove_container(id, Some(options))) {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(anyhow!(e)).with_context(|| format!("remove container {}", short(id))),
        }
    }

    fn remove_image(&self, id: &str) -> Result<bool> {
        Engine::remove_image(self, id)
    }

    fn engine_hostname(&self) -> Option<String> {
        self.block_on(self.docker.info())
            .ok()
            .and_then(|info| info.name)
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// The 12-character form of a container ID, as the docker CLI shows it.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}
