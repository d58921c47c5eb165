//! `check --pull` and `check --recreate` end to end: the real binary, a real registry and
//! the real engine, with the state, exit statuses and report they produce.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{Sandbox, Scope, TestImage, TestRegistry, docker, inspect, run};

const REPO: &str = "ws/rt-app";

/// A host running one container `<scope>-app` from `v1` of the runtime `app`, seeded.
struct Host {
    scope: Scope,
    registry: TestRegistry,
    sandbox: Sandbox,
    v1: String,
    container: String,
}

impl Host {
    fn new(extra_config: &str) -> Host {
        let scope = Scope::new();
        let registry = TestRegistry::start();
        scope.own_images_of(&registry);
        let v1 = TestImage::new("app-v1")
            .file("/version", "1")
            .build_and_push(&registry, REPO, "latest");
        let reference = registry.reference(REPO, "latest");
        docker(&["pull", "-q", &reference]);
        let container = scope.name("app");
        docker(&[
            "run",
            "-d",
            "--name",
            &container,
            &scope.label_arg(),
            &reference,
        ]);

        // New containers without a healthcheck are proven after min(health_timeout, 10s).
        let health = if extra_config.contains("health_timeout") {
            ""
        } else {
            "health_timeout = \"2s\"\n"
        };
        let sandbox = Sandbox::with_engine();
        sandbox.config(&format!(
            "image = \"{}/ws/rt-{{runtime}}:latest\"\nruntimes = [\"app\"]\ndiscover = false\n\
             container_prefix = \"{}\"\n{health}{extra_config}",
            registry.addr(),
            scope.prefix()
        ));
        let seeded = run(sandbox.cmd().args(["check", "--json"]));
        assert_eq!(
            seeded.runtime("app")["status"],
            "seeded",
            "{}",
            seeded.stderr
        );
        Host {
            scope,
            registry,
            sandbox,
            v1,
            container,
        }
    }

    /// Pushes a new `latest` and returns its digest.
    fn push(&self, image: TestImage) -> String {
        image.build_and_push(&self.registry, REPO, "latest")
    }

    /// Names of every container whose name starts with the app container's.
    fn names(&self) -> Vec<String> {
        let names = docker(&["ps", "-a", "--format", "{{.Names}}"]);
        names
            .lines()
            .filter(|n| n.starts_with(&self.container))
            .map(str::to_string)
            .collect()
    }

    fn version_in_container(&self) -> String {
        docker(&["exec", &self.container, "cat", "/version"])
    }

    fn state_digest(&self) -> String {
        self.sandbox.state()["runtimes"]["app"]["digest"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

#[test]
fn recreate_brings_the_container_onto_the_new_image_and_advances_the_state() {
    let host = Host::new("");
    let v2 = host.push(TestImage::new("app-v2").file("/version", "2"));
    let old_id = inspect(&host.container)["Id"].as_str().unwrap().to_string();

    let ran = run(host.sandbox.cmd().args(["check", "--recreate", "--json"]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let line = ran.runtime("app");
    assert_eq!(line["status"], "updated");
    assert_eq!(line["previous"], host.v1.as_str());
    assert_eq!(line["digest"], v2.as_str());
    assert_eq!(line["containers"][0]["name"], host.container.as_str());
    assert_eq!(line["containers"][0]["action"], "recreated");
    assert_ne!(inspect(&host.container)["Id"].as_str().unwrap(), old_id);
    assert_eq!(host.version_in_container(), "2");
    assert_eq!(host.state_digest(), v2);
    assert!(host.sandbox.state()["runtimes"]["app"]["last_updated"].is_string());

    let again = run(host.sandbox.cmd().args(["check", "--recreate", "--json"]));
    assert_eq!(again.runtime("app")["status"], "unchanged");
    drop(host.scope);
}

#[test]
fn a_failed_rollout_rolls_back_and_is_held_back_until_forced() {
    let host = Host::new("");
    let broken = host.push(
        TestImage::new("app-broken")
            .file("/version", "bad")
            .cmd(&["/bin/false"]),
    );

    let ran = run(host.sandbox.cmd().args(["check", "--recreate", "--json"]));
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let line = ran.runtime("app");
    assert_eq!(line["status"], "failed");
    assert_eq!(line["containers"][0]["action"], "rolled_back");
    assert!(line["error"].is_string());
    assert_eq!(inspect(&host.container)["State"]["Running"], true);
    assert_eq!(
        host.version_in_container(),
        "1",
        "the old container is back"
    );
    assert_eq!(host.state_digest(), host.v1, "the state did not advance");
    let held = &host.sandbox.state()["runtimes"]["app"]["held"];
    assert_eq!(
        (held["digest"].as_str(), held["attempts"].as_u64()),
        (Some(broken.as_str()), Some(1))
    );

    // Until the retry time, the digest is skipped; that is not a failure.
    let skipped = run(host.sandbox.cmd().args(["check", "--recreate", "--json"]));
    assert_eq!(skipped.code, 0, "{}", skipped.stderr);
    let line = skipped.runtime("app");
    assert_eq!(line["status"], "skipped");
    assert!(
        line["error"].as_str().unwrap().contains("next try after"),
        "{line}"
    );

    let forced = run(host
        .sandbox
        .cmd()
        .args(["check", "--recreate", "--force", "--json"]));
    assert_eq!(forced.code, 1);
    assert_eq!(forced.runtime("app")["status"], "failed");
    assert_eq!(
        host.sandbox.state()["runtimes"]["app"]["held"]["attempts"],
        2
    );

    // A newer digest is tried at once.
    host.push(TestImage::new("app-v3").file("/version", "3"));
    let fixed = run(host.sandbox.cmd().args(["check", "--recreate", "--json"]));
    assert_eq!(
        fixed.runtime("app")["status"],
        "updated",
        "{}",
        fixed.stderr
    );
    assert_eq!(host.version_in_container(), "3");
    assert!(host.sandbox.state()["runtimes"]["app"]["held"].is_null());
}

#[test]
fn an_unhealthy_new_image_is_rolled_back_completely() {
    let host = Host::new("health_timeout = \"30s\"\n");
    host.push(
        TestImage::new("app-sick")
            .file("/version", "sick")
            .healthcheck("false"),
    );

    let ran = run(host.sandbox.cmd().args(["check", "--recreate", "--json"]));
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let line = ran.runtime("app");
    assert_eq!(line["status"], "failed");
    assert_eq!(line["containers"][0]["action"], "rolled_back", "{line}");
    assert!(
        !ran.stderr.contains("rollback incomplete"),
        "{}",
        ran.stderr
    );
    assert_eq!(
        host.names(),
        std::slice::from_ref(&host.container),
        "only the old container is left"
    );
    assert_eq!(host.version_in_container(), "1");
}

#[test]
fn pull_alone_leaves_the_change_pending_for_the_next_recreate() {
    let host = Host::new("");
    let v2 = host.push(TestImage::new("app-v2").file("/version", "2"));

    let pulled = run(host.sandbox.cmd().args(["check", "--pull", "--json"]));
    assert_eq!(pulled.code, 0, "{}", pulled.stderr);
    assert_eq!(pulled.runtime("app")["status"], "pulled");
    assert_eq!(host.version_in_container(), "1", "containers are untouched");
    let local = inspect(&host.registry.reference(REPO, "latest"));
    let digests = local["RepoDigests"].to_string();
    assert!(digests.contains(&v2), "the new image is local: {digests}");
    assert_eq!(host.state_digest(), host.v1);

    let report = run(host.sandbox.cmd().args(["check", "--json"]));
    assert_eq!(report.runtime("app")["status"], "pending");
    let recreated = run(host.sandbox.cmd().args(["check", "--recreate", "--json"]));
    assert_eq!(
        recreated.runtime("app")["status"],
        "updated",
        "{}",
        recreated.stderr
    );
    assert_eq!(host.version_in_container(), "2");
}

#[test]
fn dry_run_lists_what_it_would_do_and_changes_nothing() {
    let host = Host::new("");
    host.push(TestImage::new("app-v2").file("/version", "2"));
    let state_before = std::fs::read(host.sandbox.state_path()).unwrap();

    let ran = run(host
        .sandbox
        .cmd()
        .args(["check", "--recreate", "--dry-run", "--json"]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let line = ran.runtime("app");
    assert_eq!(line["status"], "pending");
    assert_eq!(line["containers"][0]["name"], host.container.as_str());
    assert_eq!(host.version_in_container(), "1");
    assert_eq!(
        std::fs::read(host.sandbox.state_path()).unwrap(),
        state_before
    );

    let human = run(host
        .sandbox
        .cmd()
        .args(["check", "--recreate", "--dry-run"]));
    assert!(
        human
            .stdout
            .contains(&format!("would recreate {}", host.container)),
        "{}",
        human.stdout
    );
}

#[test]
fn remove_strategy_removes_containers_and_keeps_their_volumes() {
    let host = Host::new("strategy = \"remove\"\n");
    let volume = host.scope.name("data");
    let with_volume = host.scope.name("app-vol");
    let reference = host.registry.reference(REPO, "latest");
    docker(&[
        "run",
        "-d",
        "--name",
        &with_volume,
        "-v",
        &format!("{volume}:/data"),
        &reference,
    ]);
    host.push(TestImage::new("app-v2").file("/version", "2"));

    let ran = run(host.sandbox.cmd().args(["check", "--recreate", "--json"]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let line = ran.runtime("app");
    assert_eq!(line["status"], "updated");
    let actions: Vec<_> = line["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].clone())
        .collect();
    assert_eq!(actions, ["removed", "removed"]);
    for name in [&host.container, &with_volume] {
        assert!(
            crate::support::try_docker(&["inspect", name]).is_err(),
            "{name} is gone"
        );
    }
    docker(&["volume", "inspect", &volume]);
}

#[test]
fn a_run_killed_mid_recreate_is_finished_by_the_next_run() {
    // The new image is slow to turn healthy, so the run is surely mid-swap when killed.
    let host = Host::new("health_timeout = \"60s\"\n");
    host.push(
        TestImage::new("app-slow")
            .file("/version", "2")
            .instruction(
                "HEALTHCHECK --interval=1s --timeout=2s --start-period=60s --retries=2 \
                 CMD [\"/bin/sh\", \"-c\", \"test -f /ready\"]"
                    .to_string(),
            )
            .cmd(&[
                "/bin/sh",
                "-c",
                "trap 'exit 0' TERM; sleep 4; touch /ready; sleep 100000 & wait",
            ]),
    );

    let mut child = host
        .sandbox
        .process()
        .args(["check", "--recreate"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill once the new container has taken the name (the old one is set aside).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let names = docker(&["ps", "-a", "--format", "{{.Names}}"]);
        if names
            .lines()
            .any(|n| n.starts_with(&host.container) && n != host.container)
        {
            std::thread::sleep(Duration::from_millis(300));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the run never started swapping: {names}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let ran = run(host.sandbox.cmd().args(["check", "--recreate", "--json"]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(
        host.names(),
        std::slice::from_ref(&host.container),
        "one container holds the name"
    );
    assert_eq!(host.version_in_container(), "2");
    assert_eq!(ran.runtime("app")["status"], "updated");
}

#[test]
fn a_pull_whose_stream_fails_fails_the_runtime() {
    let host = Host::new("");
    // A new image whose layer blob is then deleted: the registry still serves the
    // manifest, so the tag resolves, but the pull's stream reports the missing blob.
    let v2 = host.push(TestImage::new("app-v2").file("/version", "2"));
    let http = reqwest::blocking::Client::new();
    let manifest: serde_json::Value = http
        .get(format!("{}/v2/{REPO}/manifests/{v2}", host.registry.url()))
        .header(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .send()
        .and_then(|r| r.json())
        .unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    let last = layers.last().unwrap()["digest"].as_str().unwrap();
    let deleted = http
        .delete(format!("{}/v2/{REPO}/blobs/{last}", host.registry.url()))
        .send()
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 202, "blob deleted");

    let ran = run(host.sandbox.cmd().args(["check", "--recreate", "--json"]));
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let line = ran.runtime("app");
    assert_eq!(line["status"], "failed");
    assert!(line["error"].as_str().unwrap().contains("pull"), "{line}");
    assert_eq!(host.version_in_container(), "1");
    assert_eq!(host.state_digest(), host.v1);
}
