//! The engine operations a refresh needs, behind a small trait so the recreate steps,
//! their rollback and crash recovery can be exercised without an engine.

use std::time::Duration;

use anyhow::Result;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointSettings, ImageInspect,
};

/// What refreshing containers asks of the engine. Every call blocks.
pub trait EngineApi {
    /// IDs of every container, running or not.
    fn container_ids(&self) -> Result<Vec<String>>;
    /// A container's inspect; `None` when no such container exists.
    fn inspect_container(&self, id: &str) -> Result<Option<ContainerInspectResponse>>;
    /// An image's inspect by name or ID; `None` when the engine has no such image.
    fn inspect_image(&self, name: &str) -> Result<Option<ImageInspect>>;
    /// Creates a container under `name`; returns its ID.
    fn create_container(&self, name: &str, body: ContainerCreateBody) -> Result<String>;
    /// Connects a created container to one more network.
    fn connect_network(&self, network: &str, id: &str, endpoint: EndpointSettings) -> Result<()>;
    /// Takes a created container off a network.
    fn disconnect_network(&self, network: &str, id: &str) -> Result<()>;
    /// Starts a container.
    fn start_container(&self, id: &str) -> Result<()>;
    /// Stops a container with its own stop signal and timeout.
    fn stop_container(&self, id: &str) -> Result<()>;
    /// Restarts a running container (to rejoin a namespace it shares).
    fn restart_container(&self, id: &str) -> Result<()>;
    /// Renames a container.
    fn rename_container(&self, id: &str, name: &str) -> Result<()>;
    /// Removes a container, never its volumes; `force` also kills it when running.
    fn remove_container(&self, id: &str, force: bool) -> Result<()>;
    /// Removes a new container that is given up, running or not, with the anonymous
    /// volumes it made itself; the volumes it was handed by name stay.
    fn discard_container(&self, id: &str) -> Result<()>;
    /// Removes an image unless something uses or names it; true when removed.
    fn remove_image(&self, id: &str) -> Result<bool>;
    /// The engine host's name, the hostname host-network containers get by default.
    fn engine_hostname(&self) -> Option<String>;
    /// Waits; a fake engine advances its clock instead.
    fn sleep(&self, duration: Duration);
    /// The owner label of the swaps this run makes: this process.
    fn owner(&self) -> String {
        super::owner::current()
    }
}
