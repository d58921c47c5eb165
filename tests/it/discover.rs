//! What the engine adds to detection: runtimes discovered from local images and
//! containers, and first sight of a runtime whose local image is older than the tag.

use crate::support::{Sandbox, Scope, TestRegistry, docker, run};

fn config(registry: &TestRegistry, runtimes: &str) -> String {
    format!(
        "image = \"{}/ws/template-{{runtime}}:latest\"\nruntimes = [{runtimes}]\n\
         platform = \"linux/amd64\"\n",
        registry.addr()
    )
}

#[test]
fn discovers_runtimes_from_local_images_and_containers() {
    let scope = Scope::new();
    let registry = TestRegistry::start();
    scope.own_images_of(&registry);
    for name in ["listed", "pulled", "used"] {
        registry.push_image(
            &format!("ws/template-{name}"),
            "latest",
            "linux/amd64",
            name,
        );
    }
    // Another repository that merely shares the prefix must not count.
    registry.push_image("ws/templatex-other", "latest", "linux/amd64", "x");
    docker(&[
        "pull",
        "-q",
        &registry.reference("ws/template-pulled", "latest"),
    ]);
    docker(&[
        "pull",
        "-q",
        &registry.reference("ws/templatex-other", "latest"),
    ]);
    // A container counts through the image reference it was created from.
    let used = registry.reference("ws/template-used", "latest");
    docker(&["pull", "-q", &used]);
    docker(&[
        "create",
        "--name",
        &scope.name("used"),
        &scope.label_arg(),
        &used,
        "x",
    ]);

    let sandbox = Sandbox::with_engine();
    sandbox.config(&config(&registry, "\"listed\""));
    let ran = run(sandbox.cmd().args(["check", "--json"]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let mut names: Vec<String> = ran.json()["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["runtime"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["listed", "pulled", "used"]);
    assert!(
        ran.stderr.contains("discovered from local image"),
        "{}",
        ran.stderr
    );

    let without = Sandbox::with_engine();
    without.config(&(config(&registry, "\"listed\"") + "discover = false\n"));
    let ran = run(without.cmd().args(["check", "--json"]));
    assert_eq!(ran.json()["runtimes"].as_array().unwrap().len(), 1);
}

#[test]
fn first_sight_of_an_older_local_image_is_pending_not_seeded() {
    let scope = Scope::new();
    let registry = TestRegistry::start();
    scope.own_images_of(&registry);
    let repo = "ws/template-old";
    let old = registry.push_image(repo, "latest", "linux/amd64", "v1");
    docker(&["pull", "-q", &registry.reference(repo, "latest")]);
    let new = registry.push_image(repo, "latest", "linux/amd64", "v2");

    let sandbox = Sandbox::with_engine();
    sandbox.config(&config(&registry, "\"old\""));
    let ran = run(sandbox.cmd().args(["check", "--json"]));
    let line = ran.runtime("old");
    assert_eq!(line["status"], "pending", "{}", ran.stderr);
    assert_eq!(line["previous"], old.digest.as_str());
    assert_eq!(line["digest"], new.digest.as_str());
    // The local image's digest is the baseline, so the change stays pending.
    assert_eq!(
        sandbox.state()["runtimes"]["old"]["digest"],
        old.digest.as_str()
    );
    let again = run(sandbox.cmd().args(["check", "--json"]));
    assert_eq!(again.runtime("old")["status"], "pending");
}

#[test]
fn report_only_runs_carry_on_without_an_engine() {
    let registry = TestRegistry::start();
    registry.push_image("ws/template-solo", "latest", "linux/amd64", "1");
    let sandbox = Sandbox::new();
    sandbox.config(&config(&registry, "\"solo\""));
    let ran = run(sandbox.cmd().args(["check", "--json"]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.runtime("solo")["status"], "seeded");
    assert!(
        ran.stderr.contains("docker engine unreachable"),
        "{}",
        ran.stderr
    );
}
