//! Tables of recreate-planning cases, written as the engine's own inspect JSON.

use std::collections::HashMap;

use bollard::models::{ContainerInspectResponse, ImageConfig, MountType};
use serde_json::{Value, json};

use super::{Input, Plan, plan};

const ID: &str = "9503946867a31c50c7d378673fcf569f01c8be51ff810922382a1e2913788533";
const ANON: &str = "4c40e6dd252c4fe90a3c3ce8d91a8cd49c00b4648a9e3cd0940d0c77fe953127";

fn image(config: Value) -> ImageConfig {
    serde_json::from_value(config).unwrap()
}

/// An inspect of a container from `old_image`, with `config` and `host` merged over a
/// plain one on the default bridge.
fn container(config: Value, host: Value, extra: Value) -> ContainerInspectResponse {
    let mut inspect = json!({
        "Id": ID,
        "Name": "/ws-1",
        "Config": {"Hostname": &ID[..12], "Image": "reg.test/ws/x:latest"},
        "HostConfig": {"NetworkMode": "default"},
        "NetworkSettings": {"Networks": {"bridge": {"Aliases": null}}},
        "Mounts": []
    });
    merge(&mut inspect["Config"], config);
    merge(&mut inspect["HostConfig"], host);
    merge(&mut inspect, extra);
    serde_json::from_value(inspect).unwrap()
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        for (k, v) in from {
            into.insert(k, v);
        }
    }
}

fn run(old: &ContainerInspectResponse, old_image: &ImageConfig, new_image: &ImageConfig) -> Plan {
    let replaced = HashMap::from([("target-old".to_string(), "target-new".to_string())]);
    plan(&Input {
        old,
        old_image,
        new_image,
        image: "reg.test/ws/x:latest".to_string(),
        replaced: &replaced,
        engine_hostname: Some("host-1"),
    })
}

/// Checks the env a plan gives for each old container env in `cases`.
fn assert_env_cases(
    old_image: &ImageConfig,
    new_image: &ImageConfig,
    cases: &[(&[&str], Option<Vec<String>>)],
) {
    for (env, expected) in cases {
        let old = container(json!({"Env": env}), json!({}), json!({}));
        assert_eq!(
            &run(&old, old_image, new_image).body.env,
            expected,
            "{env:?}"
        );
    }
}

fn strings(v: &[&str]) -> Option<Vec<String>> {
    Some(v.iter().map(|s| s.to_string()).collect())
}

#[test]
fn keeps_only_the_variables_the_user_set() {
    let old_image = image(json!({"Env": ["PATH=/bin", "VERSION=1", "MODE=a"]}));
    let new_image = image(json!({"Env": ["PATH=/usr/bin:/bin", "VERSION=2"]}));
    let cases: [(&[&str], Option<Vec<String>>); 4] = [
        (&["PATH=/bin", "VERSION=1", "MODE=a"], None),
        (
            &["PATH=/bin", "VERSION=1", "MODE=a", "TOKEN=x"],
            strings(&["TOKEN=x"]),
        ),
        (&["PATH=/bin", "VERSION=1", "MODE=b"], strings(&["MODE=b"])),
        (
            &["PATH=/opt/bin", "VERSION=1", "MODE=a"],
            strings(&["PATH=/opt/bin"]),
        ),
    ];
    assert_env_cases(&old_image, &new_image, &cases);
}

#[test]
fn a_variable_listed_before_the_image_ones_is_the_users_even_at_the_image_value() {
    let old_image = image(json!({"Env": ["PATH=/bin", "PORT=80", "MODE=a"]}));
    let new_image = image(json!({"Env": ["PATH=/usr/bin:/bin", "PORT=90"]}));
    let cases: [(&[&str], Option<Vec<String>>); 6] = [
        // `-e PORT=80`: listed first, the image's follow without it.
        (&["PORT=80", "PATH=/bin", "MODE=a"], strings(&["PORT=80"])),
        (
            &["TOKEN=x", "MODE=a", "PATH=/bin", "PORT=80"],
            strings(&["TOKEN=x", "MODE=a"]),
        ),
        // The user's list equals the image's in order: nothing tells them apart.
        (&["PATH=/bin", "PORT=80", "MODE=a"], None),
        // A trailing variable at the image's value may be the image's: it is left to it.
        (
            &["MODE=b", "PORT=80", "PATH=/bin"],
            strings(&["MODE=b", "PORT=80"]),
        ),
        // A whole merged list copied by some tool: nothing was appended, values decide.
        (
            &["PATH=/bin", "PORT=80", "MODE=a", "TOKEN=x"],
            strings(&["TOKEN=x"]),
        ),
        // Not a list the engine builds from this image: values decide.
        (&["PATH=/bin", "MODE=c"], strings(&["MODE=c"])),
    ];
    assert_env_cases(&old_image, &new_image, &cases);
}

#[test]
fn keeps_user_labels_and_drops_image_and_bookkeeping_labels() {
    let old_image = image(json!({"Labels": {"org.version": "1", "vendor": "m"}}));
    let new_image = image(json!({"Labels": {"org.version": "2"}}));
    let old = container(
        json!({"Labels": {
            "org.version": "1", "vendor": "other", "app": "ws",
            "imgwatch.enable": "true", "imgwatch.replaces": "abc", "imgwatch.name": "ws-1",
            "imgwatch.was-running": "true", "imgwatch.group": "abc"
        }}),
        json!({}),
        json!({}),
    );
    let labels = run(&old, &old_image, &new_image).body.labels.unwrap();
    let expected: HashMap<String, String> = [
        ("vendor", "other"),
        ("app", "ws"),
        ("imgwatch.enable", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(labels, expected);
}

#[test]
fn command_and_entrypoint_come_from_the_image_unless_the_user_set_them() {
    let old_image = image(json!({"Entrypoint": ["/entry"], "Cmd": ["serve"]}));
    let new_image = image(json!({"Entrypoint": ["/entry2"], "Cmd": ["run"]}));
    type Case = (Value, Option<Vec<String>>, Option<Vec<String>>);
    let cases: [Case; 5] = [
        (
            json!({"Entrypoint": ["/entry"], "Cmd": ["serve"]}),
            None,
            None,
        ),
        (
            json!({"Entrypoint": ["/entry"], "Cmd": ["serve", "-v"]}),
            None,
            strings(&["serve", "-v"]),
        ),
        (
            json!({"Entrypoint": ["/bin/sh"], "Cmd": ["-c", "x"]}),
            strings(&["/bin/sh"]),
            strings(&["-c", "x"]),
        ),
        (
            json!({"Entrypoint": ["/bin/sh"], "Cmd": null}),
            strings(&["/bin/sh"]),
            None,
        ),
        // `--entrypoint ""`: the engine shows no entrypoint; the CLI asks with [""].
        (
            json!({"Entrypoint": null, "Cmd": ["sleep", "1"]}),
            strings(&[""]),
            strings(&["sleep", "1"]),
        ),
    ];
    for (config, entrypoint, cmd) in cases {
        let old = container(config.clone(), json!({}), json!({}));
        let body = run(&old, &old_image, &new_image).body;
        assert_eq!(body.entrypoint, entrypoint, "{config}");
        assert_eq!(body.cmd, cmd, "{config}");
    }
}

#[test]
fn no_image_entrypoint_and_none_in_the_container_is_not_a_user_setting() {
    let old_image = image(json!({"Cmd": ["sh"]}));
    let old = container(
        json!({"Entrypoint": null, "Cmd": ["sh"]}),
        json!({}),
        json!({}),
    );
    let body = run(&old, &old_image, &old_image).body;
    assert_eq!((body.entrypoint, body.cmd), (None, None));
}

#[test]
fn keeps_a_healthcheck_override_only() {
    let check = json!({"Test": ["CMD", "true"], "Interval": 1_000_000_000});
    let old_image = image(json!({"Healthcheck": check}));
    let new_image = image(json!({"Healthcheck": {"Test": ["CMD", "ok"]}}));
    let same = container(json!({"Healthcheck": check}), json!({}), json!({}));
    assert_eq!(run(&same, &old_image, &new_image).body.healthcheck, None);
    let disabled = container(
        json!({"Healthcheck": {"Test": ["NONE"]}}),
        json!({}),
        json!({}),
    );
    let kept = run(&disabled, &old_image, &new_image)
        .body
        .healthcheck
        .unwrap();
    assert_eq!(kept.test, strings(&["NONE"]));

    // `--health-retries 5` alone: the engine showed the old image's probe beside it.
    let retuned = container(
        json!({"Healthcheck": {"Test": ["CMD", "true"], "Interval": 1_000_000_000,
                               "Retries": 5}}),
        json!({}),
        json!({}),
    );
    let kept = run(&retuned, &old_image, &new_image)
        .body
        .healthcheck
        .unwrap();
    assert_eq!(
        (kept.test, kept.interval, kept.retries),
        (None, None, Some(5))
    );
}

#[test]
fn keeps_user_working_dir_user_and_stop_settings() {
    let old_image = image(json!({"WorkingDir": "/app", "User": "1000", "StopSignal": "SIGINT"}));
    let new_image = image(json!({"WorkingDir": "/srv"}));
    let same = container(
        json!({"WorkingDir": "/app", "User": "1000", "StopSignal": "SIGINT"}),
        json!({}),
        json!({}),
    );
    let body = run(&same, &old_image, &new_image).body;
    assert_eq!(
        (body.working_dir, body.user, body.stop_signal),
        (None, None, None)
    );
    let set = container(
        json!({"WorkingDir": "/data", "User": "root", "StopSignal": "SIGTERM", "StopTimeout": 30}),
        json!({}),
        json!({}),
    );
    let body = run(&set, &old_image, &new_image).body;
    assert_eq!(body.working_dir.as_deref(), Some("/data"));
    assert_eq!(body.user.as_deref(), Some("root"));
    assert_eq!(body.stop_signal.as_deref(), Some("SIGTERM"));
    assert_eq!(body.stop_timeout, Some(30));
}

#[test]
fn drops_the_default_hostname_and_keeps_a_chosen_one() {
    let img = image(json!({}));
    let cases = [
        (json!({"Hostname": &ID[..12]}), json!({}), None),
        (json!({"Hostname": "myhost"}), json!({}), Some("myhost")),
        (
            json!({"Hostname": "myhost"}),
            json!({"NetworkMode": "container:target-old"}),
            None,
        ),
        (
            json!({"Hostname": "host-1"}),
            json!({"NetworkMode": "host"}),
            None,
        ),
        (
            json!({"Hostname": "other"}),
            json!({"NetworkMode": "host"}),
            Some("other"),
        ),
    ];
    for (config, host, expected) in cases {
        let old = container(config.clone(), host.clone(), json!({}));
        assert_eq!(
            run(&old, &img, &img).body.hostname.as_deref(),
            expected,
            "{config} {host}"
        );
    }
}

#[test]
fn names_one_network_at_create_and_connects_the_rest_with_their_aliases() {
    let img = image(json!({}));
    let old = container(
        json!({"Hostname": "myhost"}),
        json!({"NetworkMode": "net-a"}),
        json!({"NetworkSettings": {"Networks": {
            "net-b": {"Aliases": ["bee", &ID[..12], "myhost"], "IPAMConfig": {},
                      "IPAddress": "172.23.0.2", "MacAddress": "02:42:ac:17:00:02",
                      "NetworkID": "n2", "EndpointID": "e2"},
            "net-a": {"Aliases": ["ay", &ID[..12], "myhost"],
                      "IPAMConfig": {"IPv4Address": "10.5.0.9"}, "NetworkID": "n1"}
        }}}),
    );
    let plan = run(&old, &img, &img);
    let first = plan
        .body
        .networking_config
        .unwrap()
        .endpoints_config
        .unwrap();
    assert_eq!(first.len(), 1);
    let a = &first["net-a"];
    assert_eq!(a.aliases, strings(&["ay"]));
    assert_eq!(
        a.ipam_config.as_ref().unwrap().ipv4_address.as_deref(),
        Some("10.5.0.9")
    );
    assert_eq!(a.network_id, None);
    assert_eq!(plan.networks.len(), 1);
    let (name, b) = &plan.networks[0];
    assert_eq!(name, "net-b");
    assert_eq!(b.aliases, strings(&["bee"]));
    assert_eq!(
        (&b.ipam_config, &b.ip_address, &b.mac_address),
        (&None, &None, &None)
    );
}

#[test]
fn a_network_mode_given_as_a_network_id_keeps_that_network_at_create() {
    let img = image(json!({}));
    let net_id = "d844d1bcc6da270170baa43cbd6ddc3637dcd8f56333d7ddb92d8ecd980d568f";
    let old = container(
        json!({}),
        json!({"NetworkMode": net_id}),
        json!({"NetworkSettings": {"Networks": {
            "net-a": {"Aliases": ["ay"], "IPAMConfig": {"IPv4Address": "10.5.0.9"},
                      "NetworkID": net_id},
            "net-b": {"Aliases": ["bee"], "NetworkID": "n2"}
        }}}),
    );
    let plan = run(&old, &img, &img);
    let first = plan
        .body
        .networking_config
        .unwrap()
        .endpoints_config
        .unwrap();
    assert_eq!(first["net-a"].aliases, strings(&["ay"]));
    let names: Vec<&str> = plan.networks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["net-b"]);
}

#[test]
fn leaves_the_network_of_the_mode_when_the_old_container_was_taken_off_it() {
    let img = image(json!({}));
    let off = container(
        json!({}),
        json!({}),
        json!({"NetworkSettings": {"Networks": {"net-b": {"Aliases": ["bee"]}}}}),
    );
    let plan = run(&off, &img, &img);
    assert_eq!(plan.body.networking_config, None);
    assert_eq!(plan.detach.as_deref(), Some("bridge"));
    assert_eq!(plan.networks[0].0, "net-b");

    let on = container(json!({}), json!({}), json!({}));
    assert_eq!(run(&on, &img, &img).detach, None);
}

#[test]
fn sets_no_aliases_on_the_default_bridge() {
    let img = image(json!({}));
    let old = container(
        json!({}),
        json!({}),
        json!({"NetworkSettings": {"Networks": {
            "bridge": {"Aliases": ["x"], "IPAddress": "172.17.0.2"},
            "net-b": {"Aliases": ["bee"]}
        }}}),
    );
    let plan = run(&old, &img, &img);
    let first = plan
        .body
        .networking_config
        .unwrap()
        .endpoints_config
        .unwrap();
    assert_eq!(first["bridge"], Default::default());
    assert_eq!(plan.networks[0].1.aliases, strings(&["bee"]));
}

#[test]
fn namespace_sharing_containers_join_no_network_and_follow_their_target() {
    let img = image(json!({}));
    let old = container(
        json!({}),
        json!({"NetworkMode": "container:target-old", "PidMode": "container:target-old",
               "IpcMode": "container:elsewhere"}),
        json!({"NetworkSettings": {"Networks": {}}}),
    );
    let plan = run(&old, &img, &img);
    let host = plan.body.host_config.unwrap();
    assert_eq!(host.network_mode.as_deref(), Some("container:target-new"));
    assert_eq!(host.pid_mode.as_deref(), Some("container:target-new"));
    assert_eq!(host.ipc_mode.as_deref(), Some("container:elsewhere"));
    assert_eq!(plan.body.networking_config, None);
    assert!(plan.networks.is_empty());
}

#[test]
fn hands_anonymous_volumes_over_by_name() {
    let old_image = image(json!({"Volumes": {"/cache": {}}}));
    let old = container(
        json!({"Volumes": {"/data": {}, "/cache": {}}}),
        json!({"Binds": ["named:/named", "/srv/host:/host:ro"],
               "Mounts": [{"Type": "volume", "Target": "/m"}]}),
        json!({"Mounts": [
            {"Type": "volume", "Name": "named", "Destination": "/named", "RW": true},
            {"Type": "bind", "Source": "/srv/host", "Destination": "/host", "RW": false},
            {"Type": "volume", "Name": ANON, "Destination": "/data", "RW": true},
            {"Type": "volume", "Name": "c0ffee", "Destination": "/cache", "RW": false},
            {"Type": "volume", "Name": "m0unt", "Destination": "/m", "RW": true}
        ]}),
    );
    let body = run(&old, &old_image, &old_image).body;
    assert_eq!(body.volumes, strings(&["/data"]));
    let host = body.host_config.unwrap();
    assert_eq!(host.binds, strings(&["named:/named", "/srv/host:/host:ro"]));
    let mounts: Vec<(String, String, MountType, Option<bool>)> = host
        .mounts
        .unwrap()
        .into_iter()
        .map(|m| {
            (
                m.target.unwrap(),
                m.source.unwrap(),
                m.typ.unwrap(),
                m.read_only,
            )
        })
        .collect();
    assert_eq!(
        mounts,
        [
            (
                "/m".to_string(),
                "m0unt".to_string(),
                MountType::VOLUME,
                None
            ),
            (
                "/data".to_string(),
                ANON.to_string(),
                MountType::VOLUME,
                None
            ),
            (
                "/cache".to_string(),
                "c0ffee".to_string(),
                MountType::VOLUME,
                Some(true)
            ),
        ]
    );
}

#[test]
fn rewrites_links_and_leaves_default_masked_paths_to_the_engine() {
    let img = image(json!({}));
    let old = container(
        json!({}),
        json!({"Links": ["/db:/ws-1/database"], "MaskedPaths": ["/proc/kcore"],
               "ReadonlyPaths": [], "RestartPolicy": {"Name": "unless-stopped"},
               "CapAdd": ["NET_ADMIN"]}),
        json!({}),
    );
    let host = run(&old, &img, &img).body.host_config.unwrap();
    assert_eq!(host.links, strings(&["db:database"]));
    assert_eq!(host.masked_paths, None);
    assert_eq!(host.readonly_paths, Some(vec![]));
    assert_eq!(host.cap_add, strings(&["NET_ADMIN"]));
    assert_eq!(
        host.restart_policy
            .unwrap()
            .name
            .map(|n| n.to_string())
            .as_deref(),
        Some("unless-stopped")
    );
}

#[test]
fn exposed_ports_from_the_image_are_left_to_it() {
    let old_image = image(json!({"ExposedPorts": {"80/tcp": {}}}));
    let old = container(
        json!({"ExposedPorts": {"80/tcp": {}, "9000/tcp": {}}}),
        json!({}),
        json!({}),
    );
    let body = run(&old, &old_image, &old_image).body;
    assert_eq!(body.exposed_ports, strings(&["9000/tcp"]));
    assert_eq!(body.image.as_deref(), Some("reg.test/ws/x:latest"));

    // Published: exposed whatever the images say, or the engine would not publish it.
    let published = container(
        json!({"ExposedPorts": {"80/tcp": {}}}),
        json!({"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}}),
        json!({}),
    );
    let body = run(&published, &old_image, &image(json!({}))).body;
    assert_eq!(body.exposed_ports, strings(&["80/tcp"]));
}

#[test]
fn name_loses_the_engine_slash() {
    let img = image(json!({}));
    let old = container(json!({}), json!({}), json!({}));
    assert_eq!(run(&old, &img, &img).name, "ws-1");
}
