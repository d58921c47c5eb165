//! Tests of the test harness itself: the real registry and the engine helpers behave.

use std::time::{Duration, Instant};

use crate::support::engine::repo_digests;
use crate::support::image::IMAGE_LABEL;
use crate::support::registry::{
    DOCKER_LIST, DOCKER_MANIFEST, HARNESS_AGENT, OCI_INDEX, OCI_MANIFEST,
};
use crate::support::{Scope, TestImage, TestRegistry, docker, inspect, try_docker};

#[test]
fn registry_serves_a_pushed_oci_image_and_index() {
    let started = Instant::now();
    let registry = TestRegistry::start();
    eprintln!("registry started in {:?}", started.elapsed());

    let amd64 = registry.push_image("app", "", "linux/amd64", "one");
    let arm64 = registry.push_image("app", "", "linux/arm64/v8", "one");
    assert_ne!(
        amd64.digest, arm64.digest,
        "the platform is part of the image"
    );
    assert_eq!(amd64.media_type, OCI_MANIFEST);

    let index = registry.push_index(
        "app",
        "latest",
        &[("linux/amd64", &amd64), ("linux/arm64/v8", &arm64)],
        OCI_INDEX,
    );
    assert_eq!(registry.head_digest("app", "latest"), index.digest);

    let single = registry.push_image("app", "single", "linux/amd64", "two");
    assert_eq!(registry.head_digest("app", "single"), single.digest);
}

#[test]
fn registry_serves_a_docker_image_and_manifest_list() {
    let registry = TestRegistry::start();
    let image = registry.push_docker_image("app", "", "linux/amd64", "one");
    assert_eq!(image.media_type, DOCKER_MANIFEST);
    let list = registry.push_index("app", "latest", &[("linux/amd64", &image)], DOCKER_LIST);
    assert_eq!(registry.head_digest("app", "latest"), list.digest);
}

#[test]
fn registry_gives_each_seed_its_own_digest() {
    let registry = TestRegistry::start();
    let one = registry.push_image("app", "latest", "linux/amd64", "one");
    let two = registry.push_image("app", "latest", "linux/amd64", "two");
    assert_ne!(one.digest, two.digest);
    assert_eq!(registry.head_digest("app", "latest"), two.digest);
}

#[test]
fn registry_logs_requests_with_their_agent() {
    let registry = TestRegistry::start();
    registry.push_image("app", "latest", "linux/amd64", "one");
    registry.head_digest("app", "latest");
    let heads: Vec<_> = registry
        .requests()
        .into_iter()
        .filter(|r| r.method == "HEAD")
        .collect();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert_eq!(heads[0].path, "/v2/app/manifests/latest");
    assert_eq!(heads[0].status, 200);
    assert_eq!(heads[0].user_agent, HARNESS_AGENT);
}

#[test]
fn registry_restarts_on_the_same_port_with_its_storage_and_log() {
    let mut registry = TestRegistry::start();
    let image = registry.push_image("app", "latest", "linux/amd64", "one");
    let addr = registry.addr();
    registry.stop();
    assert!(reqwest::blocking::get(format!("{}/v2/", registry.url())).is_err());
    registry.restart();
    assert_eq!(registry.addr(), addr);
    assert_eq!(registry.head_digest("app", "latest"), image.digest);
    let heads = registry
        .requests()
        .into_iter()
        .filter(|r| r.method == "HEAD")
        .count();
    assert_eq!(heads, 1, "requests from before the restart are kept");
}

#[test]
fn engine_pulls_a_built_image_with_the_pushed_digest() {
    let scope = Scope::new();
    let registry = TestRegistry::start();
    scope.own_images_of(&registry);
    let image = TestImage::new("web")
        .env("GREETING", "hello $USER")
        .label("tier", "web");
    let image = image.file("/version", "1.0\n");

    let started = Instant::now();
    let digest = image.build_and_push(&registry, "web", "latest");
    eprintln!("image built and pushed in {:?}", started.elapsed());
    let reference = registry.reference("web", "latest");
    assert!(
        try_docker(&["image", "inspect", &reference]).is_err(),
        "push leaves no local tag"
    );

    docker(&["pull", "--quiet", &reference]);
    let expected = format!("{}/web@{digest}", registry.addr());
    assert_eq!(repo_digests(&reference), [expected]);
    let config = &inspect(&reference)["Config"];
    let env: Vec<&str> = config["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(env.contains(&"GREETING=hello $USER"), "{env:?}");
    assert_eq!(config["Labels"]["tier"], "web");
    assert_eq!(config["Labels"][IMAGE_LABEL], "web");
}

#[test]
fn engine_runs_a_test_container_that_stops_at_once() {
    let scope = Scope::new();
    let registry = TestRegistry::start();
    scope.own_images_of(&registry);
    let image = TestImage::new("app").file("/version", "2.0");
    image.build_and_push(&registry, "app", "v2");

    let name = scope.name("app");
    let reference = registry.reference("app", "v2");
    docker(&["run", "-d", "--name", &name, &scope.label_arg(), &reference]);
    assert_eq!(docker(&["exec", &name, "cat", "/version"]), "2.0");
    assert_eq!(inspect(&name)["State"]["Running"], true);

    let started = Instant::now();
    docker(&["stop", &name]);
    let stopped = started.elapsed();
    eprintln!("test container stopped in {stopped:?}");
    assert!(
        stopped < Duration::from_secs(2),
        "docker stop took {stopped:?}"
    );
    assert_eq!(inspect(&name)["State"]["ExitCode"], 0);
}

#[test]
fn engine_records_the_index_digest_when_pulling_a_multi_platform_tag() {
    let scope = Scope::new();
    let registry = TestRegistry::start();
    scope.own_images_of(&registry);
    let amd64 = registry.push_image("multi", "", "linux/amd64", "one");
    let arm64 = registry.push_image("multi", "", "linux/arm64/v8", "one");
    let entries = [("linux/amd64", &amd64), ("linux/arm64/v8", &arm64)];
    let index = registry.push_index("multi", "latest", &entries, OCI_INDEX);

    let reference = registry.reference("multi", "latest");
    docker(&["pull", "--quiet", &reference]);
    assert_eq!(
        repo_digests(&reference),
        [format!("{}/multi@{}", registry.addr(), index.digest)]
    );
}

#[test]
fn engine_scope_removes_what_the_test_created() {
    let registry = TestRegistry::start();
    let image = registry.push_docker_image("gone", "latest", "linux/amd64", "one");
    let reference = registry.reference("gone", "latest");
    let (container, network, volume) = {
        let scope = Scope::new();
        scope.own_images_of(&registry);
        docker(&["pull", "--quiet", &reference]);
        let (container, network, volume) = (scope.name("c"), scope.name("n"), scope.name("v"));
        docker(&["network", "create", &network]);
        docker(&["volume", "create", &volume]);
        docker(&[
            "create",
            "--name",
            &container,
            "--network",
            &network,
            &reference,
        ]);
        (container, network, volume)
    };
    for object in [&container, &network, &volume, &reference, &image.digest] {
        assert!(
            try_docker(&["inspect", object]).is_err(),
            "{object} is still there"
        );
    }
}

#[test]
fn registry_deletes_a_manifest_and_its_tag() {
    let registry = TestRegistry::start();
    let image = registry.push_image("app", "latest", "linux/amd64", "one");
    registry.delete_manifest("app", &image.digest);
    let url = format!("{}/v2/app/manifests/latest", registry.url());
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap();
    let response = client
        .head(&url)
        .header("Accept", OCI_MANIFEST)
        .send()
        .unwrap();
    assert_eq!(response.status(), 404);
}
