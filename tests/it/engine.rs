//! The engine facade against the real engine: connecting, the platform, what images and
//! containers the host knows, pulling.

use imgwatch::engine::Engine;
use imgwatch::engine::host::Host;
use imgwatch::reference::Reference;

use crate::support::{Scope, TestImage, TestRegistry, docker, inspect, require_engine};

fn engine() -> Engine {
    require_engine();
    Engine::connect().expect("the engine the docker CLI reaches is reachable through bollard")
}

#[test]
fn connects_and_reports_the_engines_platform() {
    let engine = engine();
    let platform = engine.platform().unwrap();
    let os_arch = docker(&["version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"]);
    assert_eq!(
        format!("{}/{}", platform.os, platform.architecture),
        os_arch
    );
    let api: f64 = engine.api_version().parse().unwrap();
    assert!(api >= 1.41, "negotiated API {api}");
}

#[test]
fn a_missing_socket_fails_fast_with_a_hint() {
    let host = Host {
        url: "unix:///nonexistent/docker.sock".to_string(),
        source: "test".into(),
    };
    let started = std::time::Instant::now();
    let error = format!(
        "{:#}",
        Engine::connect_to(host).err().expect("no engine there")
    );
    assert!(
        started.elapsed().as_secs() < 10,
        "took {:?}",
        started.elapsed()
    );
    assert!(error.contains("/nonexistent/docker.sock"), "{error}");
    assert!(
        error.contains("DOCKER_HOST"),
        "the hint names the fix: {error}"
    );
}

#[test]
fn lists_tags_digests_and_the_images_containers_were_created_from() {
    let engine = engine();
    let scope = Scope::new();
    let registry = TestRegistry::start();
    scope.own_images_of(&registry);
    let reference = registry.reference("ws/app", "latest");
    let digest = TestImage::new("app").build_and_push(&registry, "ws/app", "latest");
    docker(&["pull", "--quiet", &reference]);

    // A container made from a name that later points elsewhere keeps that name only in
    // its configuration: it must still be listed.
    let moved = format!("{}/ws/moved:1", registry.addr());
    docker(&["tag", &reference, &moved]);
    let name = scope.name("c");
    docker(&["create", "--name", &name, &scope.label_arg(), &moved]);
    docker(&["rmi", &moved]);

    let names = engine.image_references().unwrap();
    assert!(names.contains(&reference), "{names:?}");
    assert!(
        names.contains(&format!("{}/ws/app@{digest}", registry.addr())),
        "{names:?}"
    );
    assert!(names.contains(&moved), "{names:?}");
}

#[test]
fn local_repo_digests_name_the_pulled_digest_of_the_same_repository_only() {
    let engine = engine();
    let scope = Scope::new();
    let registry = TestRegistry::start();
    scope.own_images_of(&registry);
    let text = registry.reference("ws/app", "latest");
    let reference = Reference::parse(&text).unwrap();
    assert_eq!(engine.local_repo_digests(&reference).unwrap(), None);

    let digest = TestImage::new("app").build_and_push(&registry, "ws/app", "latest");
    docker(&["pull", "--quiet", &text]);
    // The same image under a second repository must not count for the first.
    let other = registry.reference("ws/other", "latest");
    docker(&["tag", &text, &other]);
    docker(&["push", "--quiet", &other]);
    assert_eq!(
        engine.local_repo_digests(&reference).unwrap(),
        Some(vec![digest])
    );

    // Built locally: an image with no digest at all.
    let built = registry.reference("ws/built", "1");
    TestImage::new("built").build(&built);
    let built = Reference::parse(&built).unwrap();
    assert_eq!(engine.local_repo_digests(&built).unwrap(), Some(vec![]));
}

#[test]
fn pulls_a_moved_tag_and_reports_the_new_image() {
    let engine = engine();
    let scope = Scope::new();
    let registry = TestRegistry::start();
    scope.own_images_of(&registry);
    let text = registry.reference("ws/app", "latest");
    let reference = Reference::parse(&text).unwrap();
    TestImage::new("one")
        .file("/version", "1")
        .build_and_push(&registry, "ws/app", "latest");
    docker(&["pull", "--quiet", &text]);
    let before = inspect(&text)["Id"].as_str().unwrap().to_string();

    let digest = TestImage::new("two")
        .file("/version", "2")
        .build_and_push(&registry, "ws/app", "latest");
    let platform = engine.platform().unwrap();
    let pulled = engine.pull(&reference, &platform, None).unwrap();
    assert_eq!(pulled.digests, [digest]);
    assert_ne!(pulled.id, before);
    assert_eq!(inspect(&text)["Id"].as_str().unwrap(), pulled.id);
}
