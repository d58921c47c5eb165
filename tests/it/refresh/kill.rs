//! A run killed in the middle of a recreate, at each of its steps, and the next run's
//! recovery: no container is lost, each name is held once, on the old image or the new.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use imgwatch::refresh;

use super::interpose::Interposed;
use super::{Host, SETTLE, assert_running, read};
use crate::support::{TestImage, docker, inspect, try_docker};

/// The panic that stands for the process being killed.
const KILLED: &str = "imgwatch killed here";

/// One container on two networks with volume data: create, connect, stop, rename old,
/// rename new, start, remove old. A kill before each of those and after the last.
#[test]
fn a_run_killed_at_any_step_of_a_recreate_is_finished_by_the_next_run() {
    let v1 = TestImage::new("v1").file("/version", "1");
    let host = Host::with(&v1);
    let (na, nb) = (host.scope.name("na"), host.scope.name("nb"));
    docker(&["network", "create", &na]);
    docker(&["network", "create", &nb]);
    let digest = host.publish(&TestImage::new("v2").file("/version", "2"));
    let old_image = host.image_id();

    for at in 0..=7 {
        // The host is back on the old image: each round starts from the same place.
        docker(&["tag", &old_image, &host.image]);
        let part = format!("ws{at}");
        let flags = [
            "--network",
            na.as_str(),
            "--network-alias",
            "alpha",
            "-v",
            "/data",
        ];
        let name = host.container(&part, &flags, true);
        docker(&["network", "connect", "--alias", "beta", &nb, &name]);
        docker(&["exec", &name, "sh", "-c", "echo kept > /data/f"]);

        // The process "dies" before its at-th change.
        let changes = Cell::new(0);
        let api = Interposed::new(&host.engine, |change| {
            let n = changes.get();
            if n == at {
                panic!("{KILLED}: before change {n} ({change:?})");
            }
            changes.set(n + 1);
        });
        let mut job = host.job(&digest);
        job.container_prefix = &name;
        let killed = catch_unwind(AssertUnwindSafe(|| host.refresh_via(&api, &job)));
        match &killed {
            Err(panic) => {
                let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
                assert!(message.contains(KILLED), "unexpected panic: {message}");
            }
            Ok(outcome) => assert_eq!(outcome.error, None, "finished before the kill"),
        }
        // The run must really have been cut short: a run with nothing to do proves nothing.
        assert_eq!(killed.is_err(), at < 7, "killed before change {at}");

        let started = Instant::now();
        let recovered = refresh::recover_via(&host.engine, SETTLE).expect("recovery runs");
        eprintln!(
            "killed before change {at}: recovery took {:.2}s: {recovered:?}",
            started.elapsed().as_secs_f64()
        );
        let leftovers: Vec<String> = host
            .names()
            .into_iter()
            .filter(|n| n.starts_with(&name))
            .collect();
        assert_eq!(
            leftovers,
            std::slice::from_ref(&name),
            "killed before change {at}"
        );
        assert_running(&name);
        let image = inspect(&name)["Image"].as_str().unwrap().to_string();
        assert!(
            image == old_image || image == host.image_id(),
            "killed before {at}: {image}"
        );
        assert_eq!(read(&name, "/data/f"), "kept", "killed before change {at}");
        let networks = &inspect(&name)["NetworkSettings"]["Networks"];
        assert!(
            networks[&na]["Aliases"].to_string().contains("alpha"),
            "{at}: {networks}"
        );
        assert!(
            networks[&nb]["Aliases"].to_string().contains("beta"),
            "{at}: {networks}"
        );
        // Best effort: the scope removes whatever is left when the test ends.
        let _ = try_docker(&["rm", "-f", &name]);
    }
}
