//! The real engine with a test's hook before each change a refresh makes, so a test can
//! stop a run at a chosen step or act on the host at the moment a step happens.

use std::time::Duration;

use anyhow::Result;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointSettings, ImageInspect,
};
use imgwatch::engine::Engine;
use imgwatch::refresh::{self, EngineApi};

/// A change a refresh is about to make, with the container it concerns where that matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    Create,
    Connect,
    Disconnect,
    Start(&'a str),
    Stop,
    Restart,
    Rename,
    Remove(&'a str),
    Discard(&'a str),
    RemoveImage,
}

/// The real engine, calling `before` ahead of each change. Its swaps belong to a process
/// of this boot that has ended, as a killed run's do, so recovery in the test's own
/// process takes them over.
pub struct Interposed<'a> {
    pub engine: &'a Engine,
    pub before: Box<dyn Fn(Change) + 'a>,
}

impl<'a> Interposed<'a> {
    /// The engine with `before` called ahead of each change.
    pub fn new(engine: &'a Engine, before: impl Fn(Change) + 'a) -> Interposed<'a> {
        Interposed {
            engine,
            before: Box::new(before),
        }
    }
}

impl EngineApi for Interposed<'_> {
    fn container_ids(&self) -> Result<Vec<String>> {
        self.engine.container_ids()
    }
    fn inspect_container(&self, id: &str) -> Result<Option<ContainerInspectResponse>> {
        EngineApi::inspect_container(self.engine, id)
    }
    fn inspect_image(&self, name: &str) -> Result<Option<ImageInspect>> {
        EngineApi::inspect_image(self.engine, name)
    }
    fn create_container(&self, name: &str, body: ContainerCreateBody) -> Result<String> {
        (self.before)(Change::Create);
        self.engine.create_container(name, body)
    }
    fn connect_network(&self, network: &str, id: &str, endpoint: EndpointSettings) -> Result<()> {
        (self.before)(Change::Connect);
        self.engine.connect_network(network, id, endpoint)
    }
    fn disconnect_network(&self, network: &str, id: &str) -> Result<()> {
        (self.before)(Change::Disconnect);
        self.engine.disconnect_network(network, id)
    }
    fn start_container(&self, id: &str) -> Result<()> {
        (self.before)(Change::Start(id));
        self.engine.start_container(id)
    }
    fn stop_container(&self, id: &str) -> Result<()> {
        (self.before)(Change::Stop);
        self.engine.stop_container(id)
    }
    fn restart_container(&self, id: &str) -> Result<()> {
        (self.before)(Change::Restart);
        self.engine.restart_container(id)
    }
    fn rename_container(&self, id: &str, name: &str) -> Result<()> {
        (self.before)(Change::Rename);
        self.engine.rename_container(id, name)
    }
    fn remove_container(&self, id: &str, force: bool) -> Result<()> {
        (self.before)(Change::Remove(id));
        self.engine.remove_container(id, force)
    }
    fn discard_container(&self, id: &str) -> Result<()> {
        (self.before)(Change::Discard(id));
        self.engine.discard_container(id)
    }
    fn remove_image(&self, id: &str) -> Result<bool> {
        (self.before)(Change::RemoveImage);
        EngineApi::remove_image(self.engine, id)
    }
    fn engine_hostname(&self) -> Option<String> {
        self.engine.engine_hostname()
    }
    fn sleep(&self, duration: Duration) {
        self.engine.sleep(duration)
    }
    fn owner(&self) -> String {
        let me = refresh::owner::current();
        let boot = me.split('/').next().unwrap_or_default();
        format!("{boot}/999999999/1")
    }
}
