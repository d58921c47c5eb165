//! The recreate plan: which settings of the old container the user gave, and so are kept,
//! and which came from the old image, and so are left for the new image to supply.
//!
//! The engine merges an image's config into a container's at create: variables, labels,
//! exposed ports and volumes are unioned; command, entrypoint, working dir, user,
//! healthcheck and stop signal are taken from the image when the create leaves them unset.
//! An inspect shows the merged result. Comparing it with the old image's config tells the
//! two apart: whatever equals the old image's value came from it, the rest is the user's.
//! Copying the merged result wholesale would pin the old image's `PATH`, version
//! variables and labels over the new image's.
//!
//! Variables say more: the engine lists the create's own variables first, in their order,
//! then appends the image's that the create did not name. That order shows a variable the
//! user set to the image's own value (see [`user_env`]).
//!
//! Known shortcomings: a label, command, entrypoint, user, working dir or stop signal the
//! user set to exactly the old image's value cannot be told from the image's and follows
//! the new image. A MAC address given with `--mac-address` is not carried over on
//! engines before API 1.44 (the client model has no field for it there; the new container
//! gets a generated one), and the deprecated kernel-memory limits are dropped.

use std::collections::{HashMap, HashSet};

use bollard::models::{
    ContainerConfig, ContainerCreateBody, ContainerInspectResponse, EndpointIpamConfig,
    EndpointSettings, HealthConfig, HostConfig, ImageConfig, Mount, MountType, NetworkingConfig,
};

use super::labels;

/// Everything the planner looks at. No I/O happens while planning.
pub struct Input<'a> {
    /// The old container's inspect.
    pub old: &'a ContainerInspectResponse,
    /// The config of the image the old container was created from.
    pub old_image: &'a ImageConfig,
    /// The config of the image the new container is created from.
    pub new_image: &'a ImageConfig,
    /// What the new container's `Config.Image` says.
    pub image: String,
    /// Old container ID to new container ID, for containers recreated before this one:
    /// `container:<id>` namespace modes are pointed at the new ID.
    pub replaced: &'a HashMap<String, String>,
    /// The engine host's name: a host-network container's default hostname.
    pub engine_hostname: Option<&'a str>,
}

/// The create request for the new container and the networks to connect before start.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The container's name, without the engine's leading `/`.
    pub name: String,
    /// The create body; it names at most one network (API < 1.44 takes only one).
    pub body: ContainerCreateBody,
    /// Further networks, each with its aliases and addresses, in name order.
    pub networks: Vec<(String, EndpointSettings)>,
    /// The network the create joins through the network mode although the old container
    /// had been taken off it (`docker network disconnect bridge`): left before start.
    pub detach: Option<String>,
}

/// A network name and how the container is attached to it.
type Endpoint = (String, EndpointSettings);

/// Network modes that are not user-defined networks: no aliases or fixed addresses there.
const BUILTIN_NETWORKS: [&str; 4] = ["default", "bridge", "host", "none"];

/// Builds the plan for recreating `input.old` from the new image.
pub fn plan(input: &Input) -> Plan {
    let empty = ContainerConfig::default();
    let old = input.old.config.as_ref().unwrap_or(&empty);
    let image = input.old_image;
    let id = input.old.id.as_deref().unwrap_or_default();
    let short_id = &id[..id.len().min(12)];
    let host = input.old.host_config.clone().unwrap_or_default();
    let network_mode = host.network_mode.clone().unwrap_or_default();

    let (entrypoint, cmd) = command(old, image);
    // The engine names a container after its short ID unless told otherwise; a joiner
    // takes its target's name; a host-network container takes the host's.
    let engine_default = |h: &String| {
        h.is_empty()
            || h == short_id
            || network_mode.starts_with("container:")
            || (network_mode == "host" && Some(h.as_str()) == input.engine_hostname)
    };
    let hostname = old.hostname.clone().filter(|h| !engine_default(h));
    let domainname = old
        .domainname
        .clone()
        .filter(|d| !d.is_empty() && !network_mode.starts_with("container:"));

    let body = ContainerCreateBody {
        hostname,
        domainname,
        user: user_set(&old.user, &image.user),
        attach_stdin: old.attach_stdin,
        attach_stdout: old.attach_stdout,
        attach_stderr: old.attach_stderr,
        exposed_ports: exposed_ports(old, image, &host),
        tty: old.tty,
        open_stdin: old.open_stdin,
        stdin_once: old.stdin_once,
        env: user_env(&old.env, &image.env),
        cmd,
        healthcheck: healthcheck(old.healthcheck.as_ref(), image.healthcheck.as_ref()),
        image: Some(input.image.clone()),
        volumes: not_in(&old.volumes, &image.volumes),
        working_dir: user_set(&old.working_dir, &image.working_dir),
        entrypoint,
        network_disabled: old.network_disabled,
        labels: user_labels(&old.labels, &image.labels),
        stop_signal: user_set(&old.stop_signal, &image.stop_signal),
        stop_timeout: old.stop_timeout,
        host_config: Some(host_config(input, host)),
        ..Default::default()
    };

    let (first, networks, detach) =
        networks(input, &network_mode, old.hostname.as_deref(), short_id);
    let body = ContainerCreateBody {
        networking_config: first.map(|(name, endpoint)| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(name, endpoint)])),
        }),
        ..body
    };
    let name = input
        .old
        .name
        .as_deref()
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_string();
    Plan {
        name,
        body,
        networks,
        detach,
    }
}

/// Entrypoint and command the user set, or `None` where the image's apply.
///
/// The engine takes the image's command only when the create sets no entrypoint, so a
/// user entrypoint keeps the user's command with it, even an empty one.
fn command(
    old: &ContainerConfig,
    image: &ImageConfig,
) -> (Option<Vec<String>>, Option<Vec<String>>) {
    let blank = |v: &Option<Vec<String>>| {
        v.as_deref()
            .is_none_or(|v| v.is_empty() || v.iter().all(String::is_empty))
    };
    let same = |a: &Option<Vec<String>>, b: &Option<Vec<String>>| (blank(a) && blank(b)) || a == b;
    if !same(&old.entrypoint, &image.entrypoint) {
        // `[""]` is how the docker CLI asks for no entrypoint at all.
        let entrypoint = if blank(&old.entrypoint) {
            vec![String::new()]
        } else {
            old.entrypoint.clone().unwrap_or_default()
        };
        return (Some(entrypoint), old.cmd.clone());
    }
    let cmd = if same(&old.cmd, &image.cmd) {
        None
    } else {
        old.cmd.clone()
    };
    (None, cmd)
}

/// The parts of the healthcheck the user set; the engine fills the rest from the image.
///
/// An override of one part (`--health-retries`) shows in the inspect merged with the old
/// image's probe; copying it whole would keep probing with the old image's command.
fn healthcheck(old: Option<&HealthConfig>, image: Option<&HealthConfig>) -> Option<HealthConfig> {
    let old = old?;
    let Some(image) = image else {
        return Some(old.clone());
    };
    fn own<T: PartialEq + Clone>(old: &Option<T>, image: &Option<T>) -> Option<T> {
        old.clone().filter(|_| old != image)
    }
    let kept = HealthConfig {
        test: own(&old.test, &image.test),
        interval: own(&old.interval, &image.interval),
        timeout: own(&old.timeout, &image.timeout),
        retries: own(&old.retries, &image.retries),
        start_period: own(&old.start_period, &image.start_period),
        start_interval: own(&old.start_interval, &image.start_interval),
    };
    (kept != HealthConfig::default()).then_some(kept)
}

/// The ports the user exposed, and every port the user publishes.
///
/// The engine publishes only exposed ports. `-p` exposes its port, but when the old image
/// exposed it too nothing tells the two apart; a new image without that `EXPOSE` would
/// leave the port unpublished, so a published port is always exposed.
fn exposed_ports(
    old: &ContainerConfig,
    image: &ImageConfig,
    host: &HostConfig,
) -> Option<Vec<String>> {
    let mut ports = not_in(&old.exposed_ports, &image.exposed_ports).unwrap_or_default();
    let mut published: Vec<String> = host
        .port_bindings
        .iter()
        .flatten()
        .map(|(p, _)| p.clone())
        .collect();
    published.sort();
    for port in published {
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    (!ports.is_empty()).then_some(ports)
}

/// The old value when it differs from the image's (treating unset as empty).
fn user_set(old: &Option<String>, image: &Option<String>) -> Option<String> {
    let old_value = old.as_deref().unwrap_or_default();
    (old_value != image.as_deref().unwrap_or_default()).then(|| old_value.to_string())
}

/// Entries of `old` that the image does not have, or `None` when there are none.
fn not_in(old: &Option<Vec<String>>, image: &Option<Vec<String>>) -> Option<Vec<String>> {
    let from_image: HashSet<&String> = image.iter().flatten().collect();
    let kept: Vec<String> = old
        .iter()
        .flatten()
        .filter(|e| !from_image.contains(e))
        .cloned()
        .collect();
    (!kept.is_empty()).then_some(kept)
}

/// The variables the user set, in their order, or `None` when there are none.
///
/// The engine builds a container's variables as the create's own followed by the image's
/// whose names the create did not use. The shortest leading run that explains the rest
/// that way is the user's, even where a value equals the image's. When nothing of the
/// image's was appended (the create named every image variable, as a tool that copied a
/// whole merged list does) the order tells nothing, and the variables whose values the
/// old image does not have are the user's.
fn user_env(old: &Option<Vec<String>>, image: &Option<Vec<String>>) -> Option<Vec<String>> {
    let env = old.as_deref().unwrap_or_default();
    let from_image = image.as_deref().unwrap_or_default();
    let name = |entry: &String| entry.split('=').next().unwrap_or_default().to_string();
    let split = (0..env.len()).find(|&at| {
        let named: HashSet<String> = env[..at].iter().map(name).collect();
        let appended = from_image.iter().filter(|e| !named.contains(&name(e)));
        env[at..].iter().eq(appended)
    });
    match split {
        Some(at) => (at > 0).then(|| env[..at].to_vec()),
        None => not_in(old, image),
    }
}

/// Labels the user set: not the old image's, and not imgwatch's own bookkeeping.
fn user_labels(
    old: &Option<HashMap<String, String>>,
    image: &Option<HashMap<String, String>>,
) -> Option<HashMap<String, String>> {
    let kept: HashMap<String, String> = old
        .iter()
        .flatten()
        .filter(|(k, v)| image.as_ref().and_then(|i| i.get(*k)) != Some(*v))
        .filter(|(k, _)| !labels::is_bookkeeping(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!kept.is_empty()).then_some(kept)
}

/// The old host config with its container references, links and volumes made to work for
/// the new container.
fn host_config(input: &Input, mut host: HostConfig) -> HostConfig {
    let repoint = |mode: Option<String>| {
        mode.map(|m| match m.strip_prefix("container:") {
            Some(target) => match input.replaced.get(target) {
                Some(new) => format!("container:{new}"),
                None => m,
            },
            None => m,
        })
    };
    host.network_mode = repoint(host.network_mode.take());
    host.pid_mode = repoint(host.pid_mode.take());
    host.ipc_mode = repoint(host.ipc_mode.take());

    // Inspect shows links as `/target:/name/alias`; create wants `target:alias`.
    host.links = host
        .links
        .map(|links| links.iter().map(|l| create_link(l)).collect());

    // The engine fills these with its defaults unless the user asked for none
    // (`systempaths=unconfined` leaves them empty); leave the defaults to the engine.
    if host.masked_paths.as_ref().is_some_and(|p| !p.is_empty()) {
        host.masked_paths = None;
    }
    if host.readonly_paths.as_ref().is_some_and(|p| !p.is_empty()) {
        host.readonly_paths = None;
    }

    host.mounts = hand_over_volumes(input.old, &host);
    host
}

fn create_link(link: &str) -> String {
    match link.split_once(':') {
        Some((target, alias)) => {
            let target = target.trim_start_matches('/');
            let alias = alias.rsplit('/').next().unwrap_or(alias);
            format!("{target}:{alias}")
        }
        None => link.trim_start_matches('/').to_string(),
    }
}

/// The host config's mounts plus the old container's anonymous volumes, mounted by name
/// at the same place so the new container keeps their data.
///
/// A volume is anonymous when no bind or mount names it: it came from `-v /path`,
/// `--mount type=volume` without a source, or the image's `VOLUME`.
fn hand_over_volumes(old: &ContainerInspectResponse, host: &HostConfig) -> Option<Vec<Mount>> {
    let mut mounts = host.mounts.clone().unwrap_or_default();
    let mut named: HashSet<String> = host
        .binds
        .iter()
        .flatten()
        .filter_map(|b| bind_destination(b))
        .collect();
    named.extend(
        mounts
            .iter()
            .filter(|m| m.source.as_deref().is_some_and(|s| !s.is_empty()))
            .filter_map(|m| m.target.clone()),
    );

    for point in old.mounts.iter().flatten() {
        let (Some(name), Some(destination)) = (&point.name, &point.destination) else {
            continue;
        };
        if point.typ.as_deref() != Some("volume") || named.contains(destination) {
            continue;
        }
        match mounts
            .iter_mut()
            .find(|m| m.target.as_ref() == Some(destination))
        {
            // `--mount type=volume,target=/x`: give it the volume's name.
            Some(mount) => mount.source = Some(name.clone()),
            None => mounts.push(Mount {
                target: Some(destination.clone()),
                source: Some(name.clone()),
                typ: Some(MountType::VOLUME),
                read_only: point.rw.map(|rw| !rw).filter(|ro| *ro),
                ..Default::default()
            }),
        }
    }
    (!mounts.is_empty()).then_some(mounts)
}

/// The container path of a `-v` bind (`source:destination[:options]`), or `None` for a
/// bare path.
fn bind_destination(bind: &str) -> Option<String> {
    let mut parts = bind.split(':');
    let _source = parts.next()?;
    parts.next().map(str::to_string)
}

/// The network the create names, the networks to connect after it, and the network of
/// the mode to leave when the old container was no longer on it.
///
/// The create names the network of the network mode, as the docker CLI does; the
/// others are connected before start. Aliases the engine added itself (the short ID and
/// the hostname) are dropped so they do not pile up; aliases and fixed addresses are kept
/// only on user-defined networks, where the engine accepts them.
fn networks(
    input: &Input,
    network_mode: &str,
    hostname: Option<&str>,
    short_id: &str,
) -> (Option<Endpoint>, Vec<Endpoint>, Option<String>) {
    if network_mode.starts_with("container:") || network_mode == "host" || network_mode == "none" {
        return (None, Vec::new(), None);
    }
    let attached = input
        .old
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref());
    let primary = if network_mode.is_empty() || network_mode == "default" {
        "bridge"
    } else {
        network_mode
    };
    let mut endpoints: Vec<(bool, String, EndpointSettings)> = attached
        .into_iter()
        .flatten()
        .map(|(name, old)| {
            let user_defined = !BUILTIN_NETWORKS.contains(&name.as_str());
            (
                name == primary || names_network(primary, old),
                name.clone(),
                endpoint(old, user_defined, hostname, short_id),
            )
        })
        .collect();
    endpoints.sort_by(|a, b| a.1.cmp(&b.1));

    let first = endpoints
        .iter()
        .position(|(is_primary, _, _)| *is_primary)
        .map(|i| endpoints.remove(i))
        .map(|(_, name, endpoint)| (name, endpoint));
    let rest = endpoints.into_iter().map(|(_, n, e)| (n, e)).collect();
    // The engine attaches a new container to its mode's network whatever the create says.
    let detach = first.is_none().then(|| primary.to_string());
    (first, rest, detach)
}

/// True when a network mode that is a network ID (or the 12-character form of one) is the
/// network of `endpoint`: API clients may name the network by ID, and the engine keeps
/// that ID as the mode while the inspect lists the network under its name.
fn names_network(mode: &str, endpoint: &EndpointSettings) -> bool {
    let id = endpoint.network_id.as_deref().unwrap_or_default();
    mode.len() >= 12 && id.starts_with(mode)
}

fn endpoint(
    old: &EndpointSettings,
    user_defined: bool,
    hostname: Option<&str>,
    short_id: &str,
) -> EndpointSettings {
    if !user_defined {
        return EndpointSettings::default();
    }
    let aliases: Vec<String> = old
        .aliases
        .iter()
        .flatten()
        .filter(|a| a.as_str() != short_id && Some(a.as_str()) != hostname)
        .cloned()
        .collect();
    let ipam = old
        .ipam_config
        .clone()
        .filter(|c| *c != EndpointIpamConfig::default());
    EndpointSettings {
        ipam_config: ipam,
        links: old.links.clone().filter(|l| !l.is_empty()),
        aliases: (!aliases.is_empty()).then_some(aliases),
        driver_opts: old.driver_opts.clone().filter(|o| !o.is_empty()),
        ..Default::default()
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
