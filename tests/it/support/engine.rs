//! The real Docker engine in tests: CLI wrappers and per-test cleanup.

use std::cell::RefCell;
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

use super::registry::TestRegistry;
use super::unique;

/// The label every scoped object may carry, valued with the scope's prefix.
pub const SCOPE_LABEL: &str = "org.imgwatch.test.scope";

/// Panics unless the Docker engine answers: engine tests must never pass without one.
pub fn require_engine() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        let mut version = Command::new("docker");
        version.args(["version", "--format", "{{.Server.Version}}"]);
        let output = version.output().unwrap_or_else(|e| {
            panic!("the docker CLI cannot run ({e}): run scripts/test, which installs docker.io")
        });
        assert!(
            output.status.success(),
            "the Docker engine is not reachable (`docker version` failed: {}); start dockerd \
             or run scripts/test, which starts it",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    });
}

/// Runs `docker <args>` and returns its trimmed stdout; panics with stderr on failure.
pub fn docker(args: &[&str]) -> String {
    match try_docker(args) {
        Ok(stdout) => stdout,
        Err(stderr) => panic!("docker {} failed: {stderr}", args.join(" ")),
    }
}

/// Runs `docker <args>`: trimmed stdout on success, trimmed stderr on failure.
///
/// It first requires the engine, so an expected failure never passes for a missing one.
pub fn try_docker(args: &[&str]) -> Result<String, String> {
    require_engine();
    let output = run(args);
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

/// `docker inspect <name>`: the object (container, image, network, volume) as JSON.
pub fn inspect(name: &str) -> Value {
    let text = docker(&["inspect", name]);
    let mut list: Vec<Value> = serde_json::from_str(&text).expect("docker inspect prints JSON");
    assert_eq!(
        list.len(),
        1,
        "docker inspect {name} matched {} objects",
        list.len()
    );
    list.remove(0)
}

/// The `RepoDigests` of a local image, such as `127.0.0.1:PORT/app@sha256:...`.
pub fn repo_digests(image: &str) -> Vec<String> {
    let image = inspect(image);
    let digests = image["RepoDigests"].as_array().cloned().unwrap_or_default();
    digests
        .iter()
        .filter_map(|d| d.as_str().map(str::to_string))
        .collect()
}

fn run(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap_or_else(|e| panic!("run docker {}: {e}", args.join(" ")))
}

/// Names the objects of one test and removes them when dropped.
///
/// Containers, networks and volumes whose names contain the prefix, and containers carrying
/// `SCOPE_LABEL` with it, are removed; so are local images of the registries handed to
/// `own_images_of` and images handed to `image`.
pub struct Scope {
    prefix: String,
    registries: RefCell<Vec<String>>,
    images: RefCell<Vec<String>>,
}

impl Scope {
    /// A new scope with a unique prefix; panics when the engine is not reachable.
    pub fn new() -> Scope {
        require_engine();
        Scope {
            prefix: unique("it"),
            registries: RefCell::default(),
            images: RefCell::default(),
        }
    }

    /// The prefix that every name of this scope contains.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A name unique to this scope, such as `it3f9a2c01-0-web`, for any engine object.
    pub fn name(&self, part: &str) -> String {
        format!("{}-{part}", self.prefix)
    }

    /// `--label=org.imgwatch.test.scope=<prefix>`, for `docker run` and `docker create`.
    pub fn label_arg(&self) -> String {
        format!("--label={SCOPE_LABEL}={}", self.prefix)
    }

    /// Removes every local image of `registry` (tagged or only digested) on drop.
    pub fn own_images_of(&self, registry: &TestRegistry) {
        self.registries
            .borrow_mut()
            .push(format!("{}/", registry.addr()));
    }

    /// Removes this image (reference or ID) on drop.
    pub fn image(&self, image: &str) {
        self.images.borrow_mut().push(image.to_string());
    }

    fn containers(&self) -> Vec<String> {
        let by_name = format!("name={}", self.prefix);
        let by_label = format!("label={SCOPE_LABEL}={}", self.prefix);
        let mut ids = lines(&["ps", "-aq", "--no-trunc", "--filter", &by_name]);
        ids.extend(lines(&["ps", "-aq", "--no-trunc", "--filter", &by_label]));
        ids.sort();
        ids.dedup();
        ids
    }

    fn registry_images(&self) -> Vec<String> {
        let registries = self.registries.borrow();
        let listing = lines(&[
            "image",
            "ls",
            "-a",
            "--no-trunc",
            "--format",
            "{{.Repository}} {{.ID}}",
        ]);
        let mut ids: Vec<String> = listing
            .iter()
            .filter_map(|line| line.split_once(' '))
            .filter(|(repo, _)| registries.iter().any(|r| repo.starts_with(r.as_str())))
            .map(|(_, id)| id.to_string())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

impl Default for Scope {
    fn default() -> Scope {
        Scope::new()
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        // Containers first: they hold networks, volumes and images in use.
        let by_name = format!("name={}", self.prefix);
        let steps: [(&[&str], Vec<String>); 4] = [
            (&["rm", "-f", "-v"], self.containers()),
            (
                &["network", "rm"],
                lines(&["network", "ls", "-q", "--filter", &by_name]),
            ),
            (
                &["volume", "rm", "-f"],
                lines(&["volume", "ls", "-q", "--filter", &by_name]),
            ),
            (
                &["rmi", "-f"],
                [self.images.take(), self.registry_images()].concat(),
            ),
        ];
        for (command, objects) in steps {
            if objects.is_empty() {
                continue;
            }
            let mut args = command.to_vec();
            args.extend(objects.iter().map(String::as_str));
            // Cleanup is best effort: a failure here must not hide the test's own result.
            if let Err(stderr) = try_docker(&args) {
                eprintln!("cleanup: docker {} failed: {stderr}", args.join(" "));
            }
        }
    }
}

/// Non-empty lines of `docker <args>`; empty when the command fails.
fn lines(args: &[&str]) -> Vec<String> {
    let stdout = try_docker(args).unwrap_or_default();
    stdout
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}
