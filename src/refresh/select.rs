//! Which containers belong to a runtime, and which are swapped together because they
//! share a namespace.
//!
//! A container belongs when its configured image (`Config.Image`) names the runtime's
//! repository, in tag or digest form, or when it runs the image the tag pointed to before
//! the pull (a container created from an ID, or from a name that was retagged). The
//! repository must match exactly: `langgraph` is not `langgraph-x`.
//!
//! Known shortcoming: after a pull-only run the tag already names the new image when the
//! recreate runs, so a container that belongs only by the previous image's ID is not
//! recognised then and stays on its image; containers that name the repository are not
//! affected.

use std::collections::{BTreeSet, HashMap, HashSet};

use bollard::models::ContainerInspectResponse;

use super::labels;
use crate::reference::Reference;

/// The runtime's containers, split by what happens to them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// IDs of containers to bring onto the new image, in name order.
    pub members: Vec<String>,
    /// IDs of containers that already run the new image.
    pub current: Vec<String>,
    /// IDs of containers labelled `imgwatch.enable=false`.
    pub disabled: Vec<String>,
}

/// The container's name without the engine's leading `/`.
pub fn name(container: &ContainerInspectResponse) -> &str {
    container
        .name
        .as_deref()
        .unwrap_or_default()
        .trim_start_matches('/')
}

/// The container's full ID.
pub fn id(container: &ContainerInspectResponse) -> &str {
    container.id.as_deref().unwrap_or_default()
}

/// True when the container's configured image names `reference`'s repository or it runs
/// `previous_image`.
pub fn belongs(
    container: &ContainerInspectResponse,
    reference: &Reference,
    previous_image: Option<&str>,
) -> bool {
    let configured = container.config.as_ref().and_then(|c| c.image.as_deref());
    let by_name = configured
        .and_then(|image| Reference::parse_loose(image).ok())
        .is_some_and(|image| image.same_repository(reference));
    let by_id = previous_image.is_some_and(|p| container.image.as_deref() == Some(p));
    by_name || by_id
}

/// Picks the runtime's containers among `all`, narrowed by the name prefix.
///
/// Containers an interrupted run left under a temporary name are never picked: recovery
/// owns them.
pub fn select(
    all: &[ContainerInspectResponse],
    reference: &Reference,
    previous_image: Option<&str>,
    new_image: Option<&str>,
    prefix: &str,
) -> Selection {
    let mut picked: Vec<&ContainerInspectResponse> = all
        .iter()
        .filter(|c| belongs(c, reference, previous_image))
        .filter(|c| name(c).starts_with(prefix))
        .filter(|c| {
            !name(c).ends_with(labels::NEW_SUFFIX) && !name(c).ends_with(labels::OLD_SUFFIX)
        })
        .collect();
    picked.sort_by_key(|c| name(c));

    let mut selection = Selection::default();
    for container in picked {
        let id = id(container).to_string();
        if labels::disabled(container.config.as_ref().and_then(|c| c.labels.as_ref())) {
            selection.disabled.push(id);
        } else if new_image.is_some() && container.image.as_deref() == new_image {
            selection.current.push(id);
        } else {
            selection.members.push(id);
        }
    }
    selection
}

/// The containers whose network, PID or IPC namespace is `target`'s.
fn dependants<'a>(
    all: &'a [ContainerInspectResponse],
    target: &ContainerInspectResponse,
) -> Vec<&'a ContainerInspectResponse> {
    all.iter().filter(|c| shares_with(c, target)).collect()
}

/// True when `container` joins one of `target`'s namespaces (`container:<id or name>`).
pub fn shares_with(
    container: &ContainerInspectResponse,
    target: &ContainerInspectResponse,
) -> bool {
    let Some(host) = &container.host_config else {
        return false;
    };
    [&host.network_mode, &host.pid_mode, &host.ipc_mode]
        .into_iter()
        .filter_map(|mode| mode.as_deref()?.strip_prefix("container:"))
        .any(|reference| refers_to(reference, target))
}

fn refers_to(reference: &str, target: &ContainerInspectResponse) -> bool {
    let id = id(target);
    reference == name(target) || (reference.len() >= 12 && id.starts_with(reference))
}

/// Groups `members` with every container that shares a namespace with them, directly or
/// through another. Each group lists container IDs with a target before the containers
/// that join it; groups come in the order of their first member.
pub fn groups(all: &[ContainerInspectResponse], members: &[String]) -> Vec<Vec<String>> {
    let by_id: HashMap<&str, &ContainerInspectResponse> = all.iter().map(|c| (id(c), c)).collect();

    // Every member and, transitively, everything that joins one of them.
    let mut closure: Vec<&str> = Vec::new();
    let mut queue: Vec<&str> = members.iter().map(String::as_str).collect();
    let mut seen: HashSet<&str> = HashSet::new();
    while let Some(next) = queue.pop() {
        let Some(container) = by_id.get(next) else {
            continue;
        };
        if !seen.insert(next) {
            continue;
        }
        closure.push(next);
        queue.extend(dependants(all, container).into_iter().map(id));
    }

    // Edges target -> dependant inside the closure.
    let mut edges: Vec<(&str, &str)> = Vec::new();
    for t in &closure {
        for d in &closure {
            if shares_with(by_id[d], by_id[t]) {
                edges.push((t, d));
            }
        }
    }

    // Connected components, seeded in member order.
    let mut assigned: HashSet<&str> = HashSet::new();
    let mut result = Vec::new();
    let seeds = members
        .iter()
        .map(String::as_str)
        .chain(closure.iter().copied());
    for seed in seeds {
        if !seen.contains(seed) || assigned.contains(seed) {
            continue;
        }
        let mut component: BTreeSet<&str> = BTreeSet::from([seed]);
        let mut stack = vec![seed];
        while let Some(node) = stack.pop() {
            for (a, b) in &edges {
                let other = if *a == node {
                    *b
                } else if *b == node {
                    *a
                } else {
                    continue;
                };
                if component.insert(other) {
                    stack.push(other);
                }
            }
        }
        assigned.extend(component.iter().copied());
        result.push(order(&component, &edges, members));
    }
    result
}

/// Targets before their dependants; members first among equals, then by ID.
fn order(component: &BTreeSet<&str>, edges: &[(&str, &str)], members: &[String]) -> Vec<String> {
    let rank = |id: &str| members.iter().position(|m| m == id).unwrap_or(usize::MAX);
    let mut left: Vec<&str> = component.iter().copied().collect();
    let mut ordered: Vec<String> = Vec::new();
    while !left.is_empty() {
        // Containers whose targets inside the group are all placed already.
        let mut ready: Vec<&str> = left
            .iter()
            .copied()
            .filter(|c| {
                edges
                    .iter()
                    .all(|(t, d)| d != c || !left.contains(t) || t == c)
            })
            .collect();
        if ready.is_empty() {
            // A cycle cannot be built with the engine; take the rest as they are.
            ready = left.clone();
        }
        ready.sort_by_key(|c| (rank(c), c.to_string()));
        ordered.extend(ready.iter().map(|c| c.to_string()));
        left.retain(|c| !ready.contains(c));
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn container(
        id: &str,
        name: &str,
        image: &str,
        host: serde_json::Value,
    ) -> ContainerInspectResponse {
        let labels = if name.contains("off") {
            json!({"imgwatch.enable": "false"})
        } else {
            json!({})
        };
        serde_json::from_value(json!({
            "Id": format!("{id:0<64}"),
            "Name": format!("/{name}"),
            "Image": format!("sha256:{}", if image.contains("@") { "pinned" } else { "old" }),
            "Config": {"Image": image, "Labels": labels},
            "HostConfig": host
        }))
        .unwrap()
    }

    fn full(id: &str) -> String {
        format!("{id:0<64}")
    }

    #[test]
    fn picks_the_exact_repository_in_any_form() {
        let reference = Reference::parse("ghcr.io/m/workspace-template-langgraph:latest").unwrap();
        let pinned = format!(
            "ghcr.io/m/workspace-template-langgraph@sha256:{}",
            "a".repeat(64)
        );
        let all = vec![
            container(
                "a",
                "ws-a",
                "ghcr.io/m/workspace-template-langgraph:latest",
                json!({}),
            ),
            container(
                "b",
                "ws-b",
                "ghcr.io/m/workspace-template-langgraph",
                json!({}),
            ),
            container("c", "ws-c", &pinned, json!({})),
            container(
                "d",
                "ws-d",
                "ghcr.io/m/workspace-template-langgraph-x:latest",
                json!({}),
            ),
            container(
                "e",
                "ws-e",
                "docker.io/m/workspace-template-langgraph",
                json!({}),
            ),
            container(
                "f",
                "other-f",
                "ghcr.io/m/workspace-template-langgraph:1",
                json!({}),
            ),
            container(
                "g",
                "ws-off",
                "ghcr.io/m/workspace-template-langgraph:latest",
                json!({}),
            ),
            container(
                "h",
                "ws-h-imgwatch-old",
                "ghcr.io/m/workspace-template-langgraph",
                json!({}),
            ),
        ];
        let selection = select(&all, &reference, None, None, "ws-");
        assert_eq!(selection.members, [full("a"), full("b"), full("c")]);
        assert_eq!(selection.disabled, [full("g")]);
        let everything = select(&all, &reference, None, None, "");
        assert!(everything.members.contains(&full("f")));
    }

    #[test]
    fn picks_containers_running_the_previous_image_by_id() {
        let reference = Reference::parse("reg.test/ws/x:latest").unwrap();
        let all = vec![container("a", "retagged", "local/name:1", json!({}))];
        assert!(select(&all, &reference, None, None, "").members.is_empty());
        let selection = select(&all, &reference, Some("sha256:old"), None, "");
        assert_eq!(selection.members, [full("a")]);
    }

    #[test]
    fn leaves_containers_already_on_the_new_image() {
        let reference = Reference::parse("reg.test/ws/x:latest").unwrap();
        let all = vec![container("a", "a", "reg.test/ws/x", json!({}))];
        let selection = select(&all, &reference, None, Some("sha256:old"), "");
        assert_eq!(selection.current, [full("a")]);
        assert!(selection.members.is_empty());
    }

    #[test]
    fn groups_namespace_sharers_after_their_target() {
        let net = |t: &str| json!({"NetworkMode": format!("container:{}", full(t))});
        let all = vec![
            container("side", "sidecar", "other/image", net("t")),
            container("t", "target", "reg.test/ws/x", json!({})),
            container(
                "pid",
                "by-name",
                "other/image",
                json!({"PidMode": "container:sidecar"}),
            ),
            container("lone", "lone", "reg.test/ws/x", json!({})),
            container("far", "far", "other/image", json!({})),
        ];
        let groups = groups(&all, &[full("lone"), full("t")]);
        assert_eq!(
            groups,
            [
                vec![full("lone")],
                vec![full("t"), full("side"), full("pid")]
            ]
        );
    }

    #[test]
    fn a_member_joining_an_unrelated_container_stands_alone() {
        let all = vec![
            container("vpn", "vpn", "other/vpn", json!({})),
            container(
                "a",
                "a",
                "reg.test/ws/x",
                json!({"NetworkMode": format!("container:{}", full("vpn"))}),
            ),
        ];
        assert_eq!(groups(&all, &[full("a")]), [vec![full("a")]]);
    }

    #[test]
    fn two_members_sharing_one_group_are_ordered() {
        let all = vec![
            container(
                "d",
                "dep",
                "reg.test/ws/x",
                json!({"IpcMode": format!("container:{}", full("t"))}),
            ),
            container("t", "target", "reg.test/ws/x", json!({})),
        ];
        assert_eq!(
            groups(&all, &[full("d"), full("t")]),
            [vec![full("t"), full("d")]]
        );
    }
}
