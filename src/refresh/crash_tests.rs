//! A swap killed before each of its changes, then recovered: no container is lost, every
//! name is held once, and what ran runs again on the old image or the new one.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use bollard::models::ImageConfig;
use serde_json::json;

use super::EngineApi;
use super::fake::{Fake, KILLED};
use super::swap::{Prepared, swap};

const TIMEOUT: Duration = Duration::from_secs(2);

struct Scenario {
    fake: Fake,
    group: Vec<String>,
    old_image: String,
    new_image: String,
    /// name -> was running
    before: BTreeMap<String, bool>,
}

/// `ws` (running or not) on the old runtime image; with `sidecar`, a container of another
/// image joining its network namespace; with `broken`, a new image that exits at once.
fn scenario(running: bool, sidecar: bool, broken: bool) -> Scenario {
    let fake = Fake::default();
    let old_image = fake.image("reg.test/ws:old", ImageConfig::default());
    let new_image = fake.image("reg.test/ws:latest", ImageConfig::default());
    fake.image("other/side:1", ImageConfig::default());
    if broken {
        fake.broken.borrow_mut().push(new_image.clone());
    }
    let ws = fake.container(
        "ws",
        "reg.test/ws:old",
        json!({"NetworkMode": "net-a"}),
        running,
    );
    let mut group = vec![ws.clone()];
    let mut before = BTreeMap::from([("ws".to_string(), running)]);
    if sidecar {
        let mode = json!({"NetworkMode": format!("container:{ws}")});
        group.push(fake.container("side", "other/side:1", mode, running));
        before.insert("side".to_string(), running);
    }
    Scenario {
        fake,
        group,
        old_image,
        new_image,
        before,
    }
}

fn prepared(s: &Scenario) -> Vec<Prepared> {
    s.group
        .iter()
        .map(|id| {
            let old = s.fake.inspect_container(id).unwrap().unwrap();
            let runtime = old.image.as_deref() == Some(s.old_image.as_str());
            Prepared {
                old,
                old_image: ImageConfig::default(),
                new_image: ImageConfig::default(),
                image: if runtime {
                    "reg.test/ws:latest"
                } else {
                    "other/side:1"
                }
                .to_string(),
            }
        })
        .collect()
}

/// Every name held once, by a container that runs when the old one ran; joiners join the
/// container that now holds their target's name. Returns the image `ws` ends on.
fn check(s: &Scenario, context: &str) -> String {
    let list = s.fake.list();
    let names: Vec<&str> = list.iter().map(|c| c.0.as_str()).collect();
    let expected: Vec<&str> = s.before.keys().map(String::as_str).collect();
    assert_eq!(
        names.len(),
        expected.len(),
        "{context}: containers {list:?}"
    );
    for (name, was_running) in &s.before {
        let found = list.iter().find(|c| &c.0 == name);
        let (_, _, _, running, _) =
            found.unwrap_or_else(|| panic!("{context}: '{name}' lost: {list:?}"));
        assert_eq!(
            running, was_running,
            "{context}: '{name}' running: {list:?}"
        );
    }
    let ws = list.iter().find(|c| c.0 == "ws").unwrap();
    if let Some(side) = list.iter().find(|c| c.0 == "side") {
        assert_eq!(side.4, format!("container:{}", ws.1), "{context}: {list:?}");
    }
    assert!(
        ws.2 == s.old_image || ws.2 == s.new_image,
        "{context}: {list:?}"
    );
    ws.2.clone()
}

/// Runs the scenario killed before change `kill`, recovers, and checks.
fn killed_then_recovered(make: &dyn Fn() -> Scenario, kill: usize) -> String {
    let s = make();
    let group = prepared(&s);
    s.fake.kill_at.set(Some(kill));
    let result = catch_unwind(AssertUnwindSafe(|| swap(&s.fake, &group, TIMEOUT, None)));
    if let Err(panic) = &result {
        let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains(KILLED), "unexpected panic: {message}");
    }
    s.fake.kill_at.set(None);
    super::recover_via(&s.fake, TIMEOUT).expect("recovery runs");
    check(&s, &format!("killed before change {kill}"))
}

fn changes_of_a_whole_run(make: &dyn Fn() -> Scenario) -> usize {
    let s = make();
    let group = prepared(&s);
    swap(&s.fake, &group, TIMEOUT, None);
    s.fake.changes()
}

fn every_kill_point(make: &dyn Fn() -> Scenario) -> Vec<String> {
    let total = changes_of_a_whole_run(make);
    assert!(total > 3, "a swap makes several changes");
    (0..=total)
        .map(|kill| killed_then_recovered(make, kill))
        .collect()
}

#[test]
fn a_whole_swap_moves_every_container_onto_the_new_image() {
    for (running, sidecar) in [(true, false), (false, false), (true, true)] {
        let s = scenario(running, sidecar, false);
        let swapped = swap(&s.fake, &prepared(&s), TIMEOUT, None);
        assert_eq!(swapped.error, None);
        assert_eq!(check(&s, "whole run"), s.new_image);
    }
}

#[test]
fn a_failing_new_image_is_rolled_back() {
    let s = scenario(true, true, true);
    let swapped = swap(&s.fake, &prepared(&s), TIMEOUT, None);
    assert!(swapped.rolled_back);
    assert!(
        swapped.error.unwrap().contains("exited"),
        "reason names the exit"
    );
    assert_eq!(check(&s, "rollback"), s.old_image);
}

#[test]
fn a_run_killed_at_any_step_of_a_swap_is_recovered() {
    let make = || scenario(true, false, false);
    let images = every_kill_point(&make);
    // Killed before anything changed: nothing to recover; past the commit: the new image.
    assert_eq!(
        images.first(),
        Some(&scenario(true, false, false).old_image)
    );
    assert_eq!(images.last(), Some(&scenario(true, false, false).new_image));
}

#[test]
fn a_run_killed_at_any_step_of_a_group_swap_is_recovered() {
    every_kill_point(&|| scenario(true, true, false));
}

#[test]
fn a_run_killed_at_any_step_of_a_stopped_container_swap_is_recovered() {
    every_kill_point(&|| scenario(false, false, false));
}

#[test]
fn a_run_killed_at_any_step_of_a_rollback_is_recovered() {
    let images = every_kill_point(&|| scenario(true, true, true));
    let old = scenario(true, true, true).old_image;
    assert!(
        images.iter().all(|i| *i == old),
        "a broken image never stays: {images:?}"
    );
}

#[test]
fn recovery_leaves_the_swap_of_a_live_run_alone() {
    let s = scenario(true, false, false);
    let group = prepared(&s);
    s.fake.live.set(true);
    s.fake.kill_at.set(Some(3));
    let _ = catch_unwind(AssertUnwindSafe(|| swap(&s.fake, &group, TIMEOUT, None)));
    s.fake.kill_at.set(None);
    let before = s.fake.list();
    let reports = super::recover_via(&s.fake, TIMEOUT).expect("recovery runs");
    assert!(reports.is_empty(), "{reports:?}");
    assert_eq!(s.fake.list(), before);
}
