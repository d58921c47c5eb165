//! An in-memory engine for unit tests of the swap and of recovery: it keeps names, states
//! and labels the way the engine does, and can be told to die before its n-th change.
//!
//! It exists for what the real engine will not do on demand: stop a run at an exact step.
//! The integration tests run the same steps against the real engine.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::{Result, bail};
use bollard::models::{
    ContainerConfig, ContainerCreateBody, ContainerInspectResponse, ContainerState,
    EndpointSettings, ImageConfig, ImageInspect, NetworkSettings,
};

use super::api::EngineApi;

/// The panic message of a simulated kill.
pub const KILLED: &str = "killed by the test";

/// A simulated engine.
#[derive(Default)]
pub struct Fake {
    containers: RefCell<BTreeMap<String, ContainerInspectResponse>>,
    images: RefCell<HashMap<String, ImageInspect>>,
    /// Images whose containers exit as soon as they start.
    pub broken: RefCell<Vec<String>>,
    next: Cell<u64>,
    changes: Cell<usize>,
    /// Die (panic) instead of making this change (0 = the first).
    pub kill_at: Cell<Option<usize>>,
    /// Label swaps with this live process instead of a dead one.
    pub live: Cell<bool>,
}

impl Fake {
    /// Adds an image under `name` with `config`; returns its ID.
    pub fn image(&self, name: &str, config: ImageConfig) -> String {
        let id = format!("sha256:{:0>64}", self.images.borrow().len() + 1);
        let image = ImageInspect {
            id: Some(id.clone()),
            config: Some(config),
            ..Default::default()
        };
        self.images
            .borrow_mut()
            .insert(name.to_string(), image.clone());
        self.images.borrow_mut().insert(id.clone(), image);
        id
    }

    /// Adds a container as `docker run`/`docker create` would leave it; returns its ID.
    pub fn container(
        &self,
        name: &str,
        image: &str,
        host_config: serde_json::Value,
        running: bool,
    ) -> String {
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            host_config: Some(serde_json::from_value(host_config).expect("host config JSON")),
            ..Default::default()
        };
        let id = self.insert(name, body).expect("test container");
        if running {
            self.set_running(&id, true);
        }
        id
    }

    /// Every container: (name, id, image ID, running, network mode).
    pub fn list(&self) -> Vec<(String, String, String, bool, String)> {
        self.containers
            .borrow()
            .values()
            .map(|c| {
                (
                    c.name
                        .clone()
                        .unwrap_or_default()
                        .trim_start_matches('/')
                        .to_string(),
                    c.id.clone().unwrap_or_default(),
                    c.image.clone().unwrap_or_default(),
                    c.state.as_ref().and_then(|s| s.running).unwrap_or(false),
                    c.host_config
                        .as_ref()
                        .and_then(|h| h.network_mode.clone())
                        .unwrap_or_default(),
                )
            })
            .collect()
    }

    /// Number of changes made so far.
    pub fn changes(&self) -> usize {
        self.changes.get()
    }

    fn change(&self, what: &str) {
        let n = self.changes.get();
        if self.kill_at.get() == Some(n) {
            panic!("{KILLED} before change {n} ({what})");
        }
        self.changes.set(n + 1);
    }

    fn insert(&self, name: &str, body: ContainerCreateBody) -> Result<String> {
        if self.by_name(name).is_some() {
            bail!("conflict: the name '{name}' is in use");
        }
        let image_name = body.image.clone().unwrap_or_default();
        let Some(image) = self.images.borrow().get(&image_name).cloned() else {
            bail!("no such image: {image_name}");
        };
        self.next.set(self.next.get() + 1);
        let id = format!("{:0>64x}", self.next.get() * 0x1000_0001);
        let networks = body
            .networking_config
            .and_then(|n| n.endpoints_config)
            .unwrap_or_default();
        let inspect = ContainerInspectResponse {
            id: Some(id.clone()),
            name: Some(format!("/{name}")),
            image: image.id.clone(),
            config: Some(ContainerConfig {
                image: body.image,
                labels: body.labels,
                ..Default::default()
            }),
            host_config: body.host_config,
            state: Some(ContainerState {
                running: Some(false),
                ..Default::default()
            }),
            network_settings: Some(NetworkSettings {
                networks: Some(networks),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.containers.borrow_mut().insert(id.clone(), inspect);
        Ok(id)
    }

    fn by_name(&self, name: &str) -> Option<String> {
        let wanted = format!("/{name}");
        self.containers
            .borrow()
            .values()
            .find(|c| c.name.as_deref() == Some(wanted.as_str()))
            .and_then(|c| c.id.clone())
    }

    fn with<T>(&self, id: &str, f: impl FnOnce(&mut ContainerInspectResponse) -> T) -> Result<T> {
        match self.containers.borrow_mut().get_mut(id) {
            Some(c) => Ok(f(c)),
            None => bail!("no such container: {id}"),
        }
    }

    fn set_running(&self, id: &str, running: bool) {
        let _ = self.with(id, |c| {
            let state = c.state.get_or_insert_with(Default::default);
            state.running = Some(running);
            state.exit_code = Some(if running { 0 } else { 1 });
        });
    }

    fn running(&self, id: &str) -> bool {
        self.containers
            .borrow()
            .get(id)
            .and_then(|c| c.state.as_ref()?.running)
            .unwrap_or(false)
    }
}

impl EngineApi for Fake {
    fn container_ids(&self) -> Result<Vec<String>> {
        Ok(self.containers.borrow().keys().cloned().collect())
    }

    fn inspect_container(&self, id: &str) -> Result<Option<ContainerInspectResponse>> {
        Ok(self.containers.borrow().get(id).cloned())
    }

    fn inspect_image(&self, name: &str) -> Result<Option<ImageInspect>> {
        Ok(self.images.borrow().get(name).cloned())
    }

    fn create_container(&self, name: &str, body: ContainerCreateBody) -> Result<String> {
        self.change("create");
        self.insert(name, body)
    }

    fn connect_network(&self, network: &str, id: &str, endpoint: EndpointSettings) -> Result<()> {
        self.change("connect");
        self.with(id, |c| {
            let settings = c.network_settings.get_or_insert_with(Default::default);
            settings
                .networks
                .get_or_insert_with(HashMap::new)
                .insert(network.to_string(), endpoint);
        })
    }

    fn disconnect_network(&self, network: &str, id: &str) -> Result<()> {
        self.change("disconnect");
        self.with(id, |c| {
            if let Some(networks) = c
                .network_settings
                .as_mut()
                .and_then(|n| n.networks.as_mut())
            {
                networks.remove(network);
            }
        })
    }

    fn start_container(&self, id: &str) -> Result<()> {
        self.change("start");
        let image = self.with(id, |c| c.image.clone().unwrap_or_default())?;
        let target = self.with(id, |c| {
            c.host_config
                .as_ref()
                .and_then(|h| h.network_mode.clone())
                .unwrap_or_default()
        })?;
        if let Some(target) = target.strip_prefix("container:")
            && !self.running(target)
        {
            bail!("cannot join network of a non running container: {target}");
        }
        let broken = self.broken.borrow().contains(&image);
        self.set_running(id, !broken);
        Ok(())
    }

    fn stop_container(&self, id: &str) -> Result<()> {
        self.change("stop");
        self.with(id, |_| ())?;
        self.set_running(id, false);
        Ok(())
    }

    fn restart_container(&self, id: &str) -> Result<()> {
        self.stop_container(id)?;
        self.start_container(id)
    }

    fn rename_container(&self, id: &str, name: &str) -> Result<()> {
        self.change("rename");
        if self.by_name(name).is_some_and(|holder| holder != id) {
            bail!("conflict: the name '{name}' is in use");
        }
        self.with(id, |c| c.name = Some(format!("/{name}")))
    }

    fn remove_container(&self, id: &str, force: bool) -> Result<()> {
        self.change("remove");
        if self.running(id) && !force {
            bail!("cannot remove a running container");
        }
        self.containers.borrow_mut().remove(id);
        Ok(())
    }

    fn discard_container(&self, id: &str) -> Result<()> {
        self.remove_container(id, true)
    }

    fn remove_image(&self, _id: &str) -> Result<bool> {
        self.change("remove image");
        Ok(false)
    }

    fn engine_hostname(&self) -> Option<String> {
        Some("fake-host".to_string())
    }

    fn sleep(&self, _duration: Duration) {}

    /// A process of this boot that no longer runs (a killed run), unless `live`.
    fn owner(&self) -> String {
        let me = super::owner::current();
        if self.live.get() {
            return me;
        }
        let boot = me.split('/').next().unwrap_or_default();
        format!("{boot}/999999999/1")
    }
}
