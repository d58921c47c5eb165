//! A new image that does not work is rolled back: the old container runs again under its
//! name, with its own ID, and the runtime fails saying why.

use std::cell::RefCell;
use std::net::TcpListener;
use std::time::Instant;

use imgwatch::engine::Engine;
use imgwatch::refresh::{self, EngineApi};
use imgwatch::report::{Action, ContainerReport};

use super::interpose::{Change, Interposed};
use super::{HEALTHY_WITHIN, Host, SETTLE, assert_running, read, report_of};
use crate::support::{TestImage, inspect, try_docker};

fn working() -> TestImage {
    TestImage::new("good").file("/version", "1")
}

/// Refreshes onto `broken` and checks the old container is back; returns the reason.
fn rolled_back(broken: &TestImage, healthcheck: bool) -> String {
    let host = Host::with(&working());
    let name = host.container("ws", &["-v", "/data"], true);
    let other = host.container("zz", &[], true);
    docker_exec_write(&name);
    let old_id = inspect(&name)["Id"].as_str().unwrap().to_string();
    let other_id = inspect(&other)["Id"].clone();

    let digest = host.publish(broken);
    let mut job = host.job(&digest);
    if healthcheck {
        job.health_timeout = HEALTHY_WITHIN;
    }
    let started = Instant::now();
    let outcome = host.refresh(&job);
    eprintln!("rollback took {:.2}s", started.elapsed().as_secs_f64());

    let error = outcome.error.clone().expect("the runtime failed");
    let report = report_of(&outcome, &name);
    assert_eq!(report.action, Action::RolledBack, "{outcome:?}");
    assert_eq!(inspect(&name)["Id"].as_str().unwrap(), old_id);
    assert_running(&name);
    assert_eq!(read(&name, "/version"), "1");
    assert_eq!(read(&name, "/data/f"), "kept");
    assert_eq!(host.names(), [name, other.clone()], "nothing left over");

    // After one rollback the runtime's other containers are left as they are.
    assert_eq!(report_of(&outcome, &other).action, Action::Unchanged);
    assert_eq!(inspect(&other)["Id"], other_id);
    error
}

fn docker_exec_write(name: &str) {
    crate::support::docker(&["exec", name, "sh", "-c", "echo kept > /data/f"]);
}

#[test]
fn a_new_image_that_exits_at_once_is_rolled_back() {
    let broken = TestImage::new("exits").cmd(&["/bin/sh", "-c", "exit 3"]);
    let error = rolled_back(&broken, false);
    assert!(error.contains("exited with code 3"), "{error}");
}

#[test]
fn a_new_image_that_turns_unhealthy_is_rolled_back() {
    let broken = TestImage::new("sick").healthcheck("echo sick; exit 1");
    let error = rolled_back(&broken, true);
    assert!(error.contains("unhealthy"), "{error}");
}

/// The names of the volumes mounted in container `id`.
fn volumes_of(engine: &Engine, id: &str) -> Vec<String> {
    let Ok(Some(container)) = EngineApi::inspect_container(engine, id) else {
        return Vec::new();
    };
    let mounts = container.mounts.into_iter().flatten();
    let volumes = mounts.filter(|m| m.typ.as_deref() == Some("volume"));
    volumes.filter_map(|m| m.name).collect()
}

#[test]
fn a_rollback_leaves_no_volume_only_the_new_container_made() {
    let host = Host::with(&working());
    let name = host.container("ws", &["-v", "/data"], true);
    docker_exec_write(&name);
    let broken = TestImage::new("exits")
        .volume("/fresh")
        .cmd(&["/bin/sh", "-c", "exit 3"]);
    let digest = host.publish(&broken);

    // The volumes of each container the refresh removes, noted just before.
    let noted: RefCell<Vec<String>> = RefCell::default();
    let watch = Interposed::new(&host.engine, |change| {
        if let Change::Remove(id) | Change::Discard(id) = change {
            noted.borrow_mut().extend(volumes_of(&host.engine, id));
        }
    });
    let outcome = host.refresh_via(&watch, &host.job(&digest));
    assert_eq!(report_of(&outcome, &name).action, Action::RolledBack);
    assert_eq!(read(&name, "/data/f"), "kept");
    let data = inspect(&name)["Mounts"][0]["Name"]
        .as_str()
        .unwrap()
        .to_string();
    let noted = noted.borrow();
    assert!(
        noted.contains(&data),
        "the new container had /data: {noted:?}"
    );
    let left: Vec<&String> = noted
        .iter()
        .filter(|v| **v != data && try_docker(&["volume", "inspect", v]).is_ok())
        .collect();
    assert!(left.is_empty(), "volumes left behind: {left:?}");
}

#[test]
fn an_old_container_that_cannot_start_again_is_started_by_the_next_run() {
    // The old container's host port is taken while it is stopped, so neither the new
    // container nor, in the rollback, the old one can start. Until the old one runs
    // again the new one must stay, as the record the next run restores from.
    let host = Host::with(&working());
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let publish = format!("127.0.0.1:{port}:80");
    let name = host.container("ws", &["-p", &publish], true);
    let old_id = inspect(&name)["Id"].as_str().unwrap().to_string();
    let digest = host.publish(&TestImage::new("next").file("/version", "2"));

    let taken: RefCell<Option<TcpListener>> = RefCell::default();
    let watch = Interposed::new(&host.engine, |change| {
        if let Change::Start(id) = change
            && id != old_id
            && taken.borrow().is_none()
        {
            let listener = TcpListener::bind(("127.0.0.1", port)).expect("take the port");
            *taken.borrow_mut() = Some(listener);
        }
    });
    let outcome = host.refresh_via(&watch, &host.job(&digest));
    let error = outcome.error.clone().expect("the runtime failed");
    assert!(error.contains("rollback incomplete"), "{error}");
    assert_eq!(inspect(&name)["Id"].as_str(), Some(old_id.as_str()));

    drop(taken.take());
    let recovered = refresh::recover_via(&host.engine, SETTLE).expect("recovery runs");
    assert_eq!(report_of_all(&recovered, &name), Action::RolledBack);
    assert_eq!(inspect(&name)["Id"].as_str(), Some(old_id.as_str()));
    assert_running(&name);
    assert_eq!(read(&name, "/version"), "1");
    assert_eq!(host.names(), [name], "nothing left over");
}

/// The action of the one report for `name` among `reports`.
fn report_of_all(reports: &[ContainerReport], name: &str) -> Action {
    let found: Vec<&ContainerReport> = reports.iter().filter(|r| r.name == name).collect();
    assert_eq!(found.len(), 1, "one report for {name}: {reports:?}");
    found[0].action
}
