//! Recreating containers onto a new image: every setting the user gave survives, the
//! image's own defaults come from the new image, and volume data stays.

use imgwatch::report::Action;
use serde_json::Value;

use super::{
    HEALTHY_WITHIN, Host, assert_gone, assert_running, read, recreated, report_of, strings, updated,
};
use crate::support::{TestImage, docker, inspect, try_docker};

fn version(n: &str) -> TestImage {
    TestImage::new(&format!("v{n}"))
        .env("VERSION", n)
        .env("MODE", "image")
        .label("org.version", n)
        .file("/version", n)
        .volume("/cache")
        .healthcheck("test -f /version")
}

/// Shell commands that sleep and exit at once on SIGTERM (a shell as PID 1 ignores it).
const STOPPABLE_1: &str = "trap 'exit 0' TERM; sleep 1001 & wait";
const STOPPABLE_2: &str = "trap 'exit 0' TERM; sleep 1002 & wait";
const STOPPABLE_3: &str = "trap 'exit 0' TERM; sleep 1003 & wait";

/// A /24 under `10.<second>.0.0/16` for a test's static-address network, and an address
/// in it; each test passes its own `second`, so tests of one process never overlap.
fn subnet(second: u32) -> (String, String) {
    let octet = 20 + std::process::id() % 200;
    (
        format!("10.{second}.{octet}.0/24"),
        format!("10.{second}.{octet}.50"),
    )
}

#[test]
fn recreates_a_running_container_with_every_setting_and_its_volume_data() {
    let host = Host::with(&version("1"));
    let (na, nb, vol) = (
        host.scope.name("na"),
        host.scope.name("nb"),
        host.scope.name("vol"),
    );
    let (range, address) = subnet(213);
    docker(&["network", "create", &na]);
    docker(&["network", "create", "--subnet", &range, &nb]);
    let named = format!("{vol}:/named");
    let name = host.container(
        "ws",
        &[
            "--network",
            &na,
            "--network-alias",
            "alpha",
            "-e",
            "TOKEN=secret",
            "-e",
            "MODE=user",
            "-l",
            "app=ws",
            "-v",
            &named,
            "-v",
            "/anon",
            "--restart",
            "unless-stopped",
            "--hostname",
            "myhost",
            "--cap-add",
            "NET_ADMIN",
            "-p",
            "127.0.0.1::8080",
            "--stop-timeout",
            "7",
            "--memory",
            "64m",
        ],
        true,
    );
    docker(&[
        "network", "connect", "--alias", "beta", "--ip", &address, &nb, &name,
    ]);
    docker(&[
        "exec",
        &name,
        "sh",
        "-c",
        "echo n > /named/f && echo a > /anon/f && echo c > /cache/f",
    ]);
    let old = inspect(&name);
    let old_id = old["Id"].as_str().unwrap().to_string();
    let mount = |c: &Value, at: &str| {
        let mounts = c["Mounts"].as_array().unwrap();
        let found = mounts.iter().find(|m| m["Destination"] == at);
        found.unwrap_or_else(|| panic!("no mount at {at}: {mounts:?}"))["Name"].clone()
    };

    let digest = host.publish(&version("2"));
    let mut job = host.job(&digest);
    job.health_timeout = HEALTHY_WITHIN;
    let new = recreated(&host.refresh(&job), &name);

    // The new image, with its own defaults.
    assert_eq!(new["Image"].as_str().unwrap(), host.image_id());
    assert_eq!(new["Config"]["Image"].as_str().unwrap(), host.image);
    assert_eq!(read(&name, "/version"), "2");
    let env = strings(&new["Config"]["Env"]);
    for wanted in ["TOKEN=secret", "MODE=user", "VERSION=2"] {
        assert!(env.contains(&wanted.to_string()), "{wanted} in {env:?}");
    }
    assert!(!env.contains(&"VERSION=1".to_string()), "{env:?}");
    assert_eq!(new["Config"]["Labels"]["app"], "ws");
    assert_eq!(new["Config"]["Labels"]["org.version"], "2");

    // The user's settings.
    assert_eq!(new["Config"]["Hostname"], "myhost");
    assert_eq!(new["Config"]["StopTimeout"], 7);
    let (old_host, new_host) = (&old["HostConfig"], &new["HostConfig"]);
    for key in ["RestartPolicy", "CapAdd", "PortBindings", "Memory", "Binds"] {
        assert_eq!(new_host[key], old_host[key], "HostConfig.{key}");
    }

    // Both networks, the user's aliases (not the old short ID), the fixed address.
    let networks = &new["NetworkSettings"]["Networks"];
    let aliases = |net: &str| strings(&networks[net]["Aliases"]);
    assert!(aliases(&na).contains(&"alpha".to_string()), "{networks}");
    assert!(aliases(&nb).contains(&"beta".to_string()), "{networks}");
    for net in [&na, &nb] {
        assert!(
            !aliases(net).contains(&old_id[..12].to_string()),
            "{networks}"
        );
    }
    assert_eq!(networks[&nb]["IPAddress"], address.as_str());

    // The same volumes, named and anonymous, with their data; healthy; nothing left over.
    for at in ["/named", "/anon", "/cache"] {
        assert_eq!(mount(&new, at), mount(&old, at), "volume at {at}");
    }
    assert_eq!(read(&name, "/named/f"), "n");
    assert_eq!(read(&name, "/anon/f"), "a");
    assert_eq!(read(&name, "/cache/f"), "c");
    assert_eq!(inspect(&name)["State"]["Health"]["Status"], "healthy");
    assert_eq!(host.names(), [name]);
    assert_gone(&[&old_id]);
}

#[test]
fn keeps_every_host_setting_of_a_hardened_container() {
    let host = Host::with(&version("1"));
    let flags = [
        "--init",
        "--read-only",
        "--tmpfs",
        "/run:size=1m",
        "--security-opt",
        "no-new-privileges",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "CHOWN",
        "--sysctl",
        "net.ipv4.ip_unprivileged_port_start=0",
        "--ulimit",
        "nofile=1024:2048",
        "--pids-limit",
        "100",
        "--cpus",
        "0.5",
        "--shm-size",
        "8m",
        "--log-opt",
        "max-size=1m",
        "--dns",
        "192.0.2.53",
        "--dns-search",
        "ws.test",
        "--add-host",
        "db.ws.test:192.0.2.10",
        "--device",
        "/dev/null:/dev/ws-null",
        "--group-add",
        "10",
        "--restart",
        "always",
        "-p",
        "127.0.0.1::8080",
    ];
    let name = host.container("ws", &flags, true);
    let old = inspect(&name);

    let digest = host.publish(&version("2"));
    let mut job = host.job(&digest);
    job.health_timeout = HEALTHY_WITHIN;
    let mut new = recreated(&host.refresh(&job), &name);
    // The one difference: the image's anonymous volume at /cache, now mounted by name.
    let mounts = new["HostConfig"].as_object_mut().unwrap().remove("Mounts");
    assert_eq!(mounts.unwrap()[0]["Target"], "/cache");
    assert_eq!(old["HostConfig"].get("Mounts"), None);
    assert_eq!(new["HostConfig"], old["HostConfig"]);
    assert_running(&name);
    // The stopped old container did not come back through its restart policy.
    assert_eq!(host.names(), [name]);
}

#[test]
fn a_published_port_stays_published_when_the_new_image_no_longer_exposes_it() {
    // The engine publishes only exposed ports; `-p` exposed it, but so did the old image.
    let first = TestImage::new("one").instruction("EXPOSE 8080".to_string());
    let host = Host::with(&first);
    let name = host.container("ws", &["-p", "127.0.0.1::8080"], true);

    let digest = host.publish(&TestImage::new("two"));
    let new = recreated(&host.refresh(&host.job(&digest)), &name);
    let bound = &new["NetworkSettings"]["Ports"]["8080/tcp"];
    assert_eq!(
        bound[0]["HostIp"], "127.0.0.1",
        "{}",
        new["NetworkSettings"]
    );
}

#[test]
fn keeps_the_aliases_and_address_on_a_network_given_by_id() {
    // API clients may name the network by ID; the engine then keeps the ID as the network
    // mode while the inspect lists the network under its name.
    let host = Host::with(&version("1"));
    let net = host.scope.name("byid");
    let (range, address) = subnet(214);
    docker(&["network", "create", "--subnet", &range, &net]);
    let net_id = inspect(&net)["Id"].as_str().unwrap().to_string();
    let flags = [
        "--network",
        &net_id,
        "--network-alias",
        "alpha",
        "--ip",
        &address,
    ];
    let name = host.container("ws", &flags, true);

    let digest = host.publish(&version("2"));
    let mut job = host.job(&digest);
    job.health_timeout = HEALTHY_WITHIN;
    let new = recreated(&host.refresh(&job), &name);
    let endpoint = &new["NetworkSettings"]["Networks"][&net];
    assert!(
        strings(&endpoint["Aliases"]).contains(&"alpha".to_string()),
        "{endpoint}"
    );
    assert_eq!(endpoint["IPAddress"], address.as_str(), "{endpoint}");
}

#[test]
fn a_container_taken_off_the_default_bridge_stays_off_it() {
    // Taken off the bridge for isolation, on its own network only: the network mode still
    // says `default`, which a create would attach to the bridge again.
    let host = Host::with(&version("1"));
    let net = host.scope.name("own");
    docker(&["network", "create", &net]);
    let name = host.container("ws", &[], true);
    docker(&["network", "disconnect", "bridge", &name]);
    docker(&["network", "connect", "--alias", "alpha", &net, &name]);

    let digest = host.publish(&version("2"));
    let mut job = host.job(&digest);
    job.health_timeout = HEALTHY_WITHIN;
    let new = recreated(&host.refresh(&job), &name);
    let networks = new["NetworkSettings"]["Networks"].as_object().unwrap();
    let names: Vec<&String> = networks.keys().collect();
    assert_eq!(names, [&net], "{networks:?}");
    assert!(strings(&networks[&net]["Aliases"]).contains(&"alpha".to_string()));
}

#[test]
fn a_healthcheck_the_user_only_retuned_probes_with_the_new_image_command() {
    // The engine fills what a healthcheck override leaves out from the image, so the
    // inspect shows the old image's probe beside the user's retries.
    let probe = |n: &str| TestImage::new(n).healthcheck(&format!("echo {n}"));
    let host = Host::with(&probe("one"));
    let name = host.container("ws", &["--health-retries", "5"], true);

    let digest = host.publish(&probe("two"));
    let mut job = host.job(&digest);
    job.health_timeout = HEALTHY_WITHIN;
    let new = recreated(&host.refresh(&job), &name);
    let check = &new["Config"]["Healthcheck"];
    assert_eq!(
        strings(&check["Test"]).last().unwrap(),
        "echo two",
        "{check}"
    );
    assert_eq!(check["Retries"], 5, "{check}");
}

#[test]
fn a_variable_the_user_set_to_the_image_default_keeps_the_user_value() {
    // `-e PORT=8000` equals the first image's default; the second image moves the
    // default, and the container keeps what its creator asked for.
    let port = |n: &str, port: &str| TestImage::new(n).env("PORT", port).env("MODE", n);
    let host = Host::with(&port("one", "8000"));
    let pinned = host.container("pinned", &["-e", "PORT=8000"], true);
    let plain = host.container("plain", &[], true);

    let digest = host.publish(&port("two", "9000"));
    let outcome = host.refresh(&host.job(&digest));
    let env = |name: &str| strings(&recreated(&outcome, name)["Config"]["Env"]);
    let pinned = env(&pinned);
    assert!(pinned.contains(&"PORT=8000".to_string()), "{pinned:?}");
    assert!(pinned.contains(&"MODE=two".to_string()), "{pinned:?}");
    assert!(env(&plain).contains(&"PORT=9000".to_string()));
}

#[test]
fn a_stopped_container_stays_stopped_on_the_new_image() {
    let host = Host::with(&version("1"));
    let created = host.container("created", &[], false);
    // A restart policy does not start what the user stopped, before or after.
    let exited = host.container("exited", &["--restart", "always"], true);
    docker(&["stop", &exited]);

    let digest = host.publish(&version("2"));
    let outcome = host.refresh(&host.job(&digest));
    for name in [&created, &exited] {
        let new = recreated(&outcome, name);
        assert_eq!(new["State"]["Running"], false, "{name}");
        assert_eq!(new["Image"].as_str().unwrap(), host.image_id());
    }
}

#[test]
fn a_user_command_and_entrypoint_are_kept_and_the_image_ones_follow_the_image() {
    let first = TestImage::new("one")
        .entrypoint(&["/bin/sh", "-c"])
        .cmd(&[STOPPABLE_1]);
    let host = Host::with(&first);
    let label = host.scope.label_arg();
    let run = |part: &str, flags: &[&str], args: &[&str]| {
        let name = host.scope.name(part);
        let mut line = vec!["run", "-d", "--name", &name, &label];
        line.extend(flags);
        line.push(&host.image);
        line.extend(args);
        docker(&line);
        name
    };
    // A bare `sleep` as PID 1 ignores SIGTERM; a short stop timeout keeps the test quick.
    let own = run(
        "own",
        &["--entrypoint", "/bin/sleep", "--stop-timeout", "1"],
        &["1000"],
    );
    let image = run("image", &[], &[]);
    // `docker run IMAGE ARGS` sets a command; the entrypoint stays the image's.
    let args = run("args", &[], &[STOPPABLE_2]);

    let next = TestImage::new("two")
        .entrypoint(&["/bin/sh", "-c"])
        .cmd(&[STOPPABLE_3]);
    let digest = host.publish(&next);
    let outcome = host.refresh(&host.job(&digest));
    let config = |name: &str| {
        let c = recreated(&outcome, name);
        (
            strings(&c["Config"]["Entrypoint"]),
            strings(&c["Config"]["Cmd"]),
        )
    };
    assert_eq!(
        config(&own),
        (vec!["/bin/sleep".to_string()], vec!["1000".to_string()])
    );
    assert_eq!(config(&image).1, [STOPPABLE_3]);
    assert_eq!(config(&args).1, [STOPPABLE_2]);
    for name in [&own, &image, &args] {
        assert_running(name);
    }
}

#[test]
fn a_dry_run_lists_the_containers_and_changes_nothing() {
    let (host, name, before, digest) = updated(&version("1"), &version("2"));
    let image_before = host.image_id();
    let mut job = host.job(&digest);
    job.dry_run = true;
    let outcome = host.refresh(&job);
    assert_eq!(outcome.error, None);
    assert_eq!(report_of(&outcome, &name).action, Action::Recreated);
    assert_eq!(inspect(&name)["Id"], before);
    assert_eq!(host.image_id(), image_before, "a dry run pulls nothing");
}

#[test]
fn a_dry_run_counts_containers_already_on_the_pulled_image_as_unchanged() {
    let (host, name, _, digest) = updated(&version("1"), &version("2"));
    docker(&["pull", "--quiet", &host.image]);
    let current = host.container("current", &[], true);
    let mut job = host.job(&digest);
    job.dry_run = true;
    let outcome = host.refresh(&job);
    assert_eq!(report_of(&outcome, &name).action, Action::Recreated);
    assert_eq!(report_of(&outcome, &current).action, Action::Unchanged);
}

#[test]
fn pull_only_leaves_the_containers_alone() {
    let (host, name, before, digest) = updated(&version("1"), &version("2"));
    let mut job = host.job(&digest);
    job.recreate = false;
    let outcome = host.refresh(&job);
    assert_eq!((outcome.error, outcome.containers), (None, vec![]));
    assert_eq!(inspect(&name)["Id"], before);
    assert_eq!(
        inspect(&host.image)["RepoDigests"][0]
            .as_str()
            .unwrap()
            .split('@')
            .nth(1),
        Some(digest.as_str())
    );
}

#[test]
fn cleanup_removes_the_previous_image_once_unused() {
    let (host, _, _, digest) = updated(&version("1"), &version("2"));
    // The harness leaves the local tag where it was: on the first version.
    let previous = host.image_id();
    let mut job = host.job(&digest);
    job.cleanup = true;
    let outcome = host.refresh(&job);
    assert_eq!(outcome.error, None);
    assert!(
        try_docker(&["image", "inspect", &previous]).is_err(),
        "{previous} removed"
    );
}

#[test]
fn cleanup_keeps_a_previous_image_another_tag_still_names() {
    let (host, _, _, digest) = updated(&version("1"), &version("2"));
    let previous = host.image_id();
    // A tag of the same repository: the engine removes an image by ID with its one
    // repository's tags, unasked.
    let kept = host.image.replace(":latest", ":pinned");
    docker(&["tag", &previous, &kept]);
    let mut job = host.job(&digest);
    job.cleanup = true;
    let outcome = host.refresh(&job);
    assert_eq!(outcome.error, None);
    assert_eq!(inspect(&kept)["Id"].as_str(), Some(previous.as_str()));
}

#[test]
fn cleanup_after_a_pull_only_run_removes_the_image_the_containers_left() {
    // The pull moved the tag already, so the image before the recreate's pull is the new
    // one; the image to clean up is the one the containers ran.
    let (host, name, _, digest) = updated(&version("1"), &version("2"));
    let first = host.image_id();
    let mut job = host.job(&digest);
    job.recreate = false;
    assert_eq!(host.refresh(&job).error, None);

    job.recreate = true;
    job.cleanup = true;
    recreated(&host.refresh(&job), &name);
    assert!(
        try_docker(&["image", "inspect", &first]).is_err(),
        "{first} removed"
    );
}
