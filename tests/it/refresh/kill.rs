//! A run killed in the middle of a recreate, at each of its steps, and the next run's
//! recovery: no container is lost, each name is held once, on the old image or the new.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use anyhow::Result;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointSettings, ImageInspect,
};
use imgwatch::engine::Engine;
use imgwatch::refresh::{self, EngineApi};

use super::{Host, SETTLE, assert_running, read};
use crate::support::{TestImage, docker, inspect, try_docker};

/// The panic that stands for the process being killed.
const KILLED: &str = "imgwatch killed here";

/// The real engine, except that the process "dies" before its n-th change.
struct KillAt<'a> {
    engine: &'a Engine,
    at: usize,
    changes: Cell<usize>,
}

impl KillAt<'_> {
    fn change(&self, what: &str) {
        let n = self.changes.get();
        if n == self.at {
            panic!("{KILLED}: before change {n} ({what})");
        }
        self.changes.set(n + 1);
    }
}

impl EngineApi for KillAt<'_> {
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
        self.change("create");
        self.engine.create_container(name, body)
    }
    fn connect_network(&self, network: &str, id: &str, endpoint: EndpointSettings) -> Result<()> {
        self.change("connect");
        self.engine.connect_network(network, id, endpoint)
    }
    fn disconnect_network(&self, network: &str, id: &str) -> Result<()> {
        self.change("disconnect");
        self.engine.disconnect_network(network, id)
    }
    fn start_container(&self, id: &str) -> Result<()> {
        self.change("start");
        self.engine.start_container(id)
    }
    fn stop_container(&self, id: &str) -> Result<()> {
        self.change("stop");
        self.engine.stop_container(id)
    }
    fn restart_container(&self, id: &str) -> Result<()> {
        self.change("restart");
        self.engine.restart_container(id)
    }
    fn rename_container(&self, id: &str, name: &str) -> Result<()> {
        self.change("rename");
        self.engine.rename_container(id, name)
    }
    fn remove_container(&self, id: &str, force: bool) -> Result<()> {
        self.change("remove");
        self.engine.remove_container(id, force)
    }
    fn discard_container(&self, id: &str) -> Result<()> {
        self.change("discard");
        self.engine.discard_container(id)
    }
    fn remove_image(&self, id: &str) -> Result<bool> {
        self.change("remove image");
        EngineApi::remove_image(self.engine, id)
    }
    fn engine_hostname(&self) -> Option<String> {
        self.engine.engine_hostname()
    }
    fn sleep(&self, duration: Duration) {
        self.engine.sleep(duration)
    }
    /// A process of this boot that no longer runs, as a killed run would be.
    fn owner(&self) -> String {
        let me = refresh::owner::current();
        let boot = me.split('/').next().unwrap_or_default();
        format!("{boot}/999999999/1")
    }
}

/// One container on two networks with volume data: create, connect, stop, rename old,
/// rename new, start, remove old. A kill before each of those and after the last.
#[test]
fn a_run_killed_at_any_step_of_a_recreate_is_finished_by_the_next_run() {
    let v1 = TestImage::new("v1").file("/version", "1");
    let host = Host::with(&v1);
    let (na, nb) = (host.scope.name("na"), host.scope.name("nb"));
    docker(&["network", "create", &na]);
    docker(&["network", "create", &nb]);
    let digest = host.publish(&TestImage::new("v2").file("/version", "2"));
    let old_image = host.image_id();

    for at in 0..=7 {
        // The host is back on the old image: each round starts from the same place.
        docker(&["tag", &old_image, &host.image]);
        let part = format!("ws{at}");
        let flags = [
            "--network",
            na.as_str(),
            "--network-alias",
            "alpha",
            "-v",
            "/data",
        ];
        let name = host.container(&part, &flags, true);
        docker(&["network", "connect", "--alias", "beta", &nb, &name]);
        docker(&["exec", &name, "sh", "-c", "echo kept > /data/f"]);

        let api = KillAt {
            engine: &host.engine,
            at,
            changes: Cell::new(0),
        };
        let mut job = host.job(&digest);
        job.container_prefix = &name;
        let killed = catch_unwind(AssertUnwindSafe(|| host.refresh_via(&api, &job)));
        match &killed {
            Err(panic) => {
                let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
                assert!(message.contains(KILLED), "unexpected panic: {message}");
            }
            Ok(outcome) => assert_eq!(outcome.error, None, "finished before the kill"),
        }
        // The run must really have been cut short: a run with nothing to do proves nothing.
        assert_eq!(killed.is_err(), at < 7, "killed before change {at}");

        let started = Instant::now();
        let recovered = refresh::recover_via(&host.engine, SETTLE).expect("recovery runs");
        eprintln!(
            "killed before change {at}: recovery took {:.2}s: {recovered:?}",
            started.elapsed().as_secs_f64()
        );
        let leftovers: Vec<String> = host
            .names()
            .into_iter()
            .filter(|n| n.starts_with(&name))
            .collect();
        assert_eq!(
            leftovers,
            std::slice::from_ref(&name),
            "killed before change {at}"
        );
        assert_running(&name);
        let image = inspect(&name)["Image"].as_str().unwrap().to_string();
        assert!(
            image == old_image || image == host.image_id(),
            "killed before {at}: {image}"
        );
        assert_eq!(read(&name, "/data/f"), "kept", "killed before change {at}");
        let networks = &inspect(&name)["NetworkSettings"]["Networks"];
        assert!(
            networks[&na]["Aliases"].to_string().contains("alpha"),
            "{at}: {networks}"
        );
        assert!(
            networks[&nb]["Aliases"].to_string().contains("beta"),
            "{at}: {networks}"
        );
        // Best effort: the scope removes whatever is left when the test ends.
        let _ = try_docker(&["rm", "-f", &name]);
    }
}
