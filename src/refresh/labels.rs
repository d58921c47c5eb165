//! The names and labels a recreate leaves on containers, so a later run can tell exactly
//! what an interrupted one was doing.

use std::collections::HashMap;

/// `imgwatch.enable=false` keeps imgwatch's hands off a container.
pub const ENABLE: &str = "imgwatch.enable";
/// On a new container: the full ID of the container it replaces.
pub const REPLACES: &str = "imgwatch.replaces";
/// On a new container: the name the old container had and the new one takes.
pub const NAME: &str = "imgwatch.name";
/// On a new container: `true` when the old container was running, so it must run.
pub const WAS_RUNNING: &str = "imgwatch.was-running";
/// On a new container: the full ID of the first old container of its group. Containers
/// sharing namespaces are swapped together and complete or roll back together.
pub const GROUP: &str = "imgwatch.group";
/// On a new container: the process that made it (see [`super::owner`]).
pub const OWNER: &str = "imgwatch.owner";

/// Suffix of the name a new container is created under before it takes the real name.
pub const NEW_SUFFIX: &str = "-imgwatch-new";
/// Suffix of the name an old container is renamed to while its successor is tried.
pub const OLD_SUFFIX: &str = "-imgwatch-old";

/// True for the labels imgwatch writes itself; they are never copied to a successor.
pub fn is_bookkeeping(key: &str) -> bool {
    matches!(key, REPLACES | NAME | WAS_RUNNING | GROUP | OWNER)
}

/// True when the labels say imgwatch must leave the container alone.
pub fn disabled(labels: Option<&HashMap<String, String>>) -> bool {
    labels
        .and_then(|l| l.get(ENABLE))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("false"))
}

/// The temporary name of the container that will replace `name`.
pub fn new_name(name: &str) -> String {
    format!("{name}{NEW_SUFFIX}")
}

/// The name `name` is moved to while its successor is tried.
pub fn old_name(name: &str) -> String {
    format!("{name}{OLD_SUFFIX}")
}

/// The bookkeeping labels of a new container.
pub fn bookkeeping(
    replaces: &str,
    name: &str,
    was_running: bool,
    group: &str,
    owner: &str,
) -> HashMap<String, String> {
    HashMap::from([
        (OWNER.to_string(), owner.to_string()),
        (REPLACES.to_string(), replaces.to_string()),
        (NAME.to_string(), name.to_string()),
        (WAS_RUNNING.to_string(), was_running.to_string()),
        (GROUP.to_string(), group.to_string()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_false_disables() {
        let labels = |v: &str| HashMap::from([(ENABLE.to_string(), v.to_string())]);
        assert!(disabled(Some(&labels("false"))));
        assert!(disabled(Some(&labels(" FALSE"))));
        assert!(!disabled(Some(&labels("true"))));
        assert!(!disabled(None));
    }

    #[test]
    fn bookkeeping_labels_are_recognised() {
        for key in bookkeeping("a", "b", true, "c", "d").keys() {
            assert!(is_bookkeeping(key), "{key}");
        }
        assert!(!is_bookkeeping(ENABLE));
    }
}
