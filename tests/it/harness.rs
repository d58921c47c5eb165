//! Tests of the test harness itself: the real registry and the engine helpers behave.

use std::time::Instant;

use crate::support::TestRegistry;
use crate::support::registry::{DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};

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
    assert_eq!(heads[0].user_agent, crate::support::registry::HARNESS_AGENT);
}

#[test]
fn registry_restarts_on_the_same_port_with_its_storage() {
    let mut registry = TestRegistry::start();
    let image = registry.push_image("app", "latest", "linux/amd64", "one");
    let addr = registry.addr();
    registry.stop();
    assert!(reqwest::blocking::get(format!("{}/v2/", registry.url())).is_err());
    registry.restart();
    assert_eq!(registry.addr(), addr);
    assert_eq!(registry.head_digest("app", "latest"), image.digest);
}
