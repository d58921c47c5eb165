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

/// A test's engine, cleanup scope and registry, with `ws/app:latest` as its reference.
struct Fixture {
    engine: Engine,
    scope: Scope,
    registry: TestRegistry,
    text: String,
    reference: Reference,
}

impl Fixture {
    fn new() -> Fixture {
        let engine = engine();
        let scope = Scope::new();
        let registry = TestRegistry::start();
        scope.own_images_of(&registry);
        let text = registry.reference("ws/app", "latest");
        let reference = Reference::parse(&text).unwrap();
        Fixture {
            engine,
            scope,
            registry,
            text,
            reference,
        }
    }

    /// Pushes an image unique to this test as `ws/app:latest`; returns its digest.
    ///
    /// Unique, because the harness untags what it built by image ID, which fails when a
    /// concurrent test built the very same image.
    fn push(&self, image: TestImage) -> String {
        let image = image.label("org.imgwatch.test.engine", self.scope.prefix());
        image.build_and_push(&self.registry, "ws/app", "latest")
    }
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
    let fixture = Fixture::new();
    let (engine, scope, registry) = (&fixture.engine, &fixture.scope, &fixture.registry);
    let reference = fixture.text.clone();
    let digest = fixture.push(TestImage::new("app"));
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
    let fixture = Fixture::new();
    let (engine, registry, text, reference) = (
        &fixture.engine,
        &fixture.registry,
        &fixture.text,
        &fixture.reference,
    );
    assert_eq!(engine.local_repo_digests(reference).unwrap(), None);

    let digest = fixture.push(TestImage::new("app"));
    docker(&["pull", "--quiet", text]);
    // The same image under a second repository must not count for the first.
    let other = registry.reference("ws/other", "latest");
    docker(&["tag", text, &other]);
    docker(&["push", "--quiet", &other]);
    assert_eq!(
        engine.local_repo_digests(reference).unwrap(),
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
    let fixture = Fixture::new();
    let (engine, text, reference) = (&fixture.engine, &fixture.text, &fixture.reference);
    fixture.push(TestImage::new("one").file("/version", "1"));
    docker(&["pull", "--quiet", text]);
    let before = inspect(text)["Id"].as_str().unwrap().to_string();

    let digest = fixture.push(TestImage::new("two").file("/version", "2"));
    let platform = engine.platform().unwrap();
    let pulled = engine.pull(reference, &platform, None).unwrap();
    assert_eq!(pulled.digests, [digest]);
    assert_ne!(pulled.id, before);
    assert_eq!(inspect(text)["Id"].as_str().unwrap(), pulled.id);
}
