//! Refreshing a runtime's containers against the real engine and a real registry, through
//! the library (the command-line tests drive the binary).

mod interpose;
mod kill;
mod pull;
mod recreate;
mod rollback;
mod select;

use std::time::{Duration, Instant};

use imgwatch::config::Strategy;
use imgwatch::engine::Engine;
use imgwatch::reference::Reference;
use imgwatch::refresh::{self, EngineApi, Job, Outcome};
use imgwatch::registry::Platform;
use imgwatch::report::{Action, ContainerReport};
use serde_json::Value;

use crate::support::{Scope, TestImage, TestRegistry, docker, inspect, require_engine, try_docker};

/// The repository the runtime's image lives in, in every test's own registry.
pub const REPO: &str = "molecule/workspace-template-x";

/// Settle time for containers without a healthcheck: short, so tests stay quick.
pub const SETTLE: Duration = Duration::from_secs(2);
/// Health timeout for containers with one: generous, the machine is shared.
pub const HEALTHY_WITHIN: Duration = Duration::from_secs(30);

/// A test's registry, engine and cleanup scope, with the runtime's tag reference.
pub struct Host {
    pub scope: Scope,
    pub registry: TestRegistry,
    pub engine: Engine,
    pub platform: Platform,
    /// `127.0.0.1:PORT/molecule/workspace-template-x:latest`.
    pub image: String,
    pub reference: Reference,
}

impl Host {
    /// A fresh registry holding `first` as the runtime's `latest`, pulled by the engine.
    pub fn with(first: &TestImage) -> Host {
        require_engine();
        let scope = Scope::new();
        let registry = TestRegistry::start();
        scope.own_images_of(&registry);
        let engine = Engine::connect().expect("engine");
        let platform = engine.platform().expect("engine platform");
        let image = registry.reference(REPO, "latest");
        let reference = Reference::parse(&image).unwrap();
        unique(first, &scope).build_and_push(&registry, REPO, "latest");
        docker(&["pull", "--quiet", &image]);
        Host {
            scope,
            registry,
            engine,
            platform,
            image,
            reference,
        }
    }

    /// Pushes the next version of the runtime's image; returns its digest.
    pub fn publish(&self, next: &TestImage) -> String {
        unique(next, &self.scope).build_and_push(&self.registry, REPO, "latest")
    }

    /// `docker run -d` (or `create` when `running` is false) of a scoped container named
    /// `part`, with extra flags and the runtime's image; returns the container's name.
    pub fn container(&self, part: &str, flags: &[&str], running: bool) -> String {
        let name = self.scope.name(part);
        let label = self.scope.label_arg();
        let mut args = if running {
            vec!["run", "-d"]
        } else {
            vec!["create"]
        };
        args.extend(["--name", &name, &label]);
        args.extend(flags);
        args.push(&self.image);
        docker(&args);
        name
    }

    /// A job for `digest` with every option at its test default; `tweak` changes some.
    pub fn job<'a>(&'a self, digest: &'a str) -> Job<'a> {
        Job {
            runtime: "x",
            reference: &self.reference,
            digest,
            platform: &self.platform,
            credentials: None,
            recreate: true,
            strategy: Strategy::Recreate,
            container_prefix: self.scope.prefix(),
            health_timeout: SETTLE,
            cleanup: false,
            dry_run: false,
        }
    }

    /// Runs a refresh and logs how long it took.
    pub fn refresh(&self, job: &Job) -> Outcome {
        let started = Instant::now();
        let outcome = refresh::refresh(&self.engine, job);
        eprintln!(
            "refresh took {:.2}s: {outcome:?}",
            started.elapsed().as_secs_f64()
        );
        outcome
    }

    /// Runs a refresh with the container operations going through `api`.
    pub fn refresh_via(&self, api: &dyn EngineApi, job: &Job) -> Outcome {
        refresh::refresh_via(&self.engine, api, job)
    }

    /// The ID of the image the runtime's tag names in the engine now.
    pub fn image_id(&self) -> String {
        inspect(&self.image)["Id"].as_str().unwrap().to_string()
    }

    /// Names of the scope's containers, sorted.
    pub fn names(&self) -> Vec<String> {
        let filter = format!("name={}", self.scope.prefix());
        let listed = docker(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"]);
        let mut names: Vec<String> = listed.lines().map(str::to_string).collect();
        names.sort();
        names
    }
}

/// A plain image whose `/version` file holds `n`.
pub fn version(n: &str) -> TestImage {
    TestImage::new(&format!("v{n}")).file("/version", n)
}

/// The common start: a host on `first` with a running container `ws`, and `next`
/// published. Returns the host, the container's name and ID, and `next`'s digest.
pub fn updated(first: &TestImage, next: &TestImage) -> (Host, String, Value, String) {
    let host = Host::with(first);
    let name = host.container("ws", &[], true);
    let id = inspect(&name)["Id"].clone();
    let digest = host.publish(next);
    (host, name, id, digest)
}

/// The image made unique to the test, so concurrent tests never build the same image ID
/// (the harness untags what it built by ID, which fails for an ID shared by two tests).
fn unique(image: &TestImage, scope: &Scope) -> TestImage {
    image
        .clone()
        .label("org.imgwatch.test.refresh", scope.prefix())
}

/// The one report for `name`; panics when there is not exactly one.
pub fn report_of<'a>(outcome: &'a Outcome, name: &str) -> &'a ContainerReport {
    let found: Vec<&ContainerReport> = outcome
        .containers
        .iter()
        .filter(|c| c.name == name)
        .collect();
    assert_eq!(found.len(), 1, "one report for {name}: {outcome:?}");
    found[0]
}

/// Asserts the outcome succeeded and `name` was recreated; returns the new inspect.
pub fn recreated(outcome: &Outcome, name: &str) -> Value {
    assert_eq!(outcome.error, None, "{outcome:?}");
    let report = report_of(outcome, name);
    assert_eq!(report.action, Action::Recreated, "{report:?}");
    let container = inspect(name);
    assert_eq!(
        container["Id"].as_str(),
        Some(report.id.as_str()),
        "{report:?}"
    );
    container
}

/// `docker exec <name> cat <path>`.
pub fn read(name: &str, path: &str) -> String {
    docker(&["exec", name, "cat", path])
}

/// The string entries of a JSON array, such as `Config.Env`.
pub fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// The container is running, or panics saying what it is.
pub fn assert_running(name: &str) {
    let state = &inspect(name)["State"];
    assert_eq!(state["Running"], Value::Bool(true), "{name}: {state}");
}

/// `docker inspect` works for none of these.
pub fn assert_gone(objects: &[&str]) {
    for object in objects {
        assert!(
            try_docker(&["inspect", object]).is_err(),
            "{object} should be gone"
        );
    }
}
