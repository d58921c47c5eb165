//! Which containers a refresh touches, and how: the `remove` strategy, the name prefix,
//! `imgwatch.enable=false`, exact repositories, and containers sharing a namespace.

use imgwatch::config::Strategy;
use imgwatch::report::Action;

use super::{Host, assert_gone, assert_running, recreated, report_of, version};
use crate::support::{TestImage, docker, inspect};

#[test]
fn the_remove_strategy_removes_the_containers_and_keeps_their_volumes() {
    let host = Host::with(&version("1"));
    let vol = host.scope.name("vol");
    let named = format!("{vol}:/data");
    let name = host.container("ws", &["-v", &named, "-v", "/anon"], true);
    let anonymous = inspect(&name)["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Destination"] == "/anon")
        .map(|m| m["Name"].as_str().unwrap().to_string())
        .unwrap();

    let digest = host.publish(&version("2"));
    let mut job = host.job(&digest);
    job.strategy = Strategy::Remove;
    let outcome = host.refresh(&job);
    assert_eq!(outcome.error, None);
    assert_eq!(report_of(&outcome, &name).action, Action::Removed);
    assert_gone(&[&name]);
    for volume in [&vol, &anonymous] {
        docker(&["volume", "inspect", volume]);
    }
    docker(&["volume", "rm", &anonymous]);
}

#[test]
fn only_prefixed_enabled_containers_of_the_exact_repository_are_touched() {
    let host = Host::with(&version("1"));
    let picked = host.container("ws", &[], true);
    let disabled = host.container("off", &["-l", "imgwatch.enable=false"], true);
    let label = host.scope.label_arg();

    // Outside the prefix: same image, another name.
    let outside = format!("x{}", host.scope.name("out"));
    docker(&["run", "-d", "--name", &outside, &label, &host.image]);
    // A repository whose name only starts like the runtime's (another image: one running
    // the runtime's previous image ID would belong to the runtime by that ID).
    let similar = format!("{}-extra:latest", host.image.trim_end_matches(":latest"));
    TestImage::new("extra").file("/extra", "x").build(&similar);
    host.scope.image(&similar);
    let lookalike = host.scope.name("similar");
    docker(&["run", "-d", "--name", &lookalike, &label, &similar]);
    // Pinned by digest: still the runtime's.
    let pinned_ref = inspect(&host.image)["RepoDigests"][0]
        .as_str()
        .unwrap()
        .to_string();
    let pinned = host.scope.name("pinned");
    docker(&["run", "-d", "--name", &pinned, &label, &pinned_ref]);
    let ids = |names: &[&String]| {
        names
            .iter()
            .map(|n| inspect(n)["Id"].clone())
            .collect::<Vec<_>>()
    };
    let untouched = [&disabled, &outside, &lookalike];
    let before = ids(&untouched);

    let digest = host.publish(&version("2"));
    let outcome = host.refresh(&host.job(&digest));
    recreated(&outcome, &picked);
    let pinned_now = recreated(&outcome, &pinned);
    assert_eq!(pinned_now["Config"]["Image"].as_str().unwrap(), host.image);
    assert_eq!(ids(&untouched), before);
    assert_eq!(outcome.containers.len(), 2, "{outcome:?}");
    docker(&["rm", "-f", &outside]);
}

#[test]
fn a_container_joining_the_network_of_a_recreated_one_follows_it() {
    let host = Host::with(&version("1"));
    let target = host.container("ws", &[], true);
    let sidecar_image = format!("{}/side:1", host.registry.addr());
    TestImage::new("side").build(&sidecar_image);
    host.scope.image(&sidecar_image);
    let sidecar = host.scope.name("side");
    let mode = format!("container:{target}");
    let label = host.scope.label_arg();
    docker(&[
        "run",
        "-d",
        "--name",
        &sidecar,
        &label,
        "--network",
        &mode,
        &sidecar_image,
    ]);
    let sidecar_before = inspect(&sidecar)["Id"].clone();

    let digest = host.publish(&version("2"));
    let outcome = host.refresh(&host.job(&digest));
    let new_target = recreated(&outcome, &target);
    let new_sidecar = recreated(&outcome, &sidecar);
    assert_ne!(new_sidecar["Id"], sidecar_before);
    let expected = format!("container:{}", new_target["Id"].as_str().unwrap());
    assert_eq!(
        new_sidecar["HostConfig"]["NetworkMode"].as_str().unwrap(),
        expected
    );
    assert_eq!(
        new_sidecar["Config"]["Image"].as_str().unwrap(),
        sidecar_image
    );
    assert_running(&sidecar);
    // Same network namespace: the sidecar sees the target's hostname.
    let hostname = |name: &str| docker(&["exec", name, "hostname"]);
    assert_eq!(hostname(&sidecar), hostname(&target));
}
