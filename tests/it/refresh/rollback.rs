//! A new image that does not work is rolled back: the old container runs again under its
//! name, with its own ID, and the runtime fails saying why.

use std::time::Instant;

use imgwatch::report::Action;

use super::{HEALTHY_WITHIN, Host, assert_running, read, report_of};
use crate::support::{TestImage, inspect};

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
