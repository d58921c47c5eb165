//! Which process a swap belongs to, so recovery never undoes a swap that is still running.
//!
//! The state lock keeps two runs with the same state file apart, but two imgwatch runs
//! with different state files (or a manual run beside the timer's) can share one engine.
//! Each new container is labelled with its run's boot ID, PID and process start time; a
//! later run leaves a group alone while that process lives. The start time guards against
//! a reused PID; the boot ID tells a process of this boot from one of an earlier boot.
//! When the owner cannot be checked (another machine's engine, no `/proc`), the group is
//! treated as live until it is [`STALE_AFTER`] old.

use std::time::Duration;

/// How old an unfinished swap of an unknown process must be before recovery takes it over.
pub const STALE_AFTER: Duration = Duration::from_secs(3600);

/// This process as an owner label: `<boot id>/<pid>/<start time in clock ticks>`.
pub fn current() -> String {
    let pid = std::process::id();
    format!(
        "{}/{pid}/{}",
        boot_id().unwrap_or_default(),
        start_time(pid).unwrap_or_default()
    )
}

/// Whether the process an owner label names still runs: `None` when it cannot be told.
pub fn alive(owner: &str) -> Option<bool> {
    let mut parts = owner.split('/');
    let (Some(boot), Some(pid), Some(start)) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let ours = boot_id()?;
    if boot.is_empty() || boot != ours {
        // Another boot of this machine, or another machine: not something /proc can say.
        return None;
    }
    let pid: u32 = pid.parse().ok()?;
    Some(start_time(pid).is_some_and(|s| s.to_string() == start))
}

fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_string()).filter(|id| !id.is_empty())
}

/// Field 22 of `/proc/<pid>/stat`; the command name before it may hold spaces and
/// parentheses, so fields are counted from the last `)`.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_dead_one_is_not() {
        let me = current();
        assert_eq!(alive(&me), Some(true), "{me}");
        let boot = boot_id().unwrap();
        assert_eq!(
            alive(&format!("{boot}/{}/1", std::process::id())),
            Some(false)
        );
        assert_eq!(alive(&format!("{boot}/999999999/1")), Some(false));
        assert_eq!(alive("another-boot/1/1"), None);
        assert_eq!(alive("garbage"), None);
    }
}
