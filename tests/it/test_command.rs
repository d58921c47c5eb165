//! The test command, scripts/test: what it installs, starts and runs, and its exit status.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// The state of the engine the stand-ins pretend.
#[derive(PartialEq)]
enum Engine {
    /// `docker version` answers.
    Running,
    /// `docker version` fails until `dockerd` runs.
    Stopped,
    /// `docker version` fails and `dockerd` exits at once.
    Broken,
}

/// What the test command did: its success, the calls it made, and its stderr.
struct Outcome {
    passed: bool,
    calls: Vec<String>,
    stderr: String,
}

/// Runs scripts/test with stand-ins for apt, dpkg, docker, dockerd and cargo on PATH.
///
/// Packages cannot be uninstalled nor the engine stopped on demand on a shared machine, so
/// these stand-ins record their calls; `missing` packages are reported as not installed,
/// `failing` names a cargo subcommand that fails. The script must run as root, as in CI.
fn run_test_command(missing: &[&str], engine: Engine, failing: &str) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    fs::create_dir(&bin).unwrap();
    let calls = dir.path().join("calls");
    let up = dir.path().join("up");
    if engine == Engine::Running {
        fs::write(&up, "").unwrap();
    }
    let stubs = [
        (
            "dpkg-query",
            format!(
                r#"for package; do :; done
case " {} " in *" $package "*) exit 1;; esac
printf 'install ok installed'"#,
                missing.join(" ")
            ),
        ),
        ("apt-get", format!(r#"echo "apt-get $*" >> {calls:?}"#)),
        ("docker", format!("test -e {up:?}")),
        (
            "dockerd",
            match engine {
                Engine::Broken => format!("echo dockerd >> {calls:?}; echo cannot start >&2"),
                // A daemon keeps running; the script checks that it has not exited.
                _ => format!("echo dockerd >> {calls:?}; touch {up:?}; exec sleep 5"),
            },
        ),
        (
            "cargo",
            format!(
                r#"case "$*" in *--version) exit 0;; esac
echo "cargo $*" >> {calls:?}
case "$1" in {failing}) exit 3;; esac"#
            ),
        ),
    ];
    for (name, body) in stubs {
        let path = bin.join(name);
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/test");
    let output = Command::new(script)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("DOCKERD_LOG", dir.path().join("dockerd.log"))
        .output()
        .unwrap();
    let calls = fs::read_to_string(&calls).unwrap_or_default();
    Outcome {
        passed: output.status.success(),
        calls: calls.lines().map(str::to_string).collect(),
        stderr: String::from_utf8_lossy(&output.stderr).to_string(),
    }
}

#[test]
fn installs_missing_packages_and_starts_the_engine() {
    let outcome = run_test_command(&["skopeo", "man-db"], Engine::Stopped, "none");
    assert!(outcome.passed, "{}", outcome.stderr);
    let expected = [
        "apt-get update",
        "apt-get install -y --no-install-recommends skopeo man-db",
        "dockerd",
        "cargo fmt --all --check",
        "cargo clippy --all-targets -- -D warnings",
        "cargo test --doc",
        "cargo nextest run --no-fail-fast",
    ];
    assert_eq!(outcome.calls, expected);
}

#[test]
fn goes_straight_to_the_checks_on_a_ready_machine() {
    let outcome = run_test_command(&[], Engine::Running, "none");
    assert!(outcome.passed, "{}", outcome.stderr);
    assert_eq!(outcome.calls[0], "cargo fmt --all --check");
}

#[test]
fn fails_when_a_check_fails() {
    let outcome = run_test_command(&[], Engine::Running, "clippy");
    assert!(!outcome.passed);
    let last = outcome.calls.last().unwrap();
    assert_eq!(last, "cargo clippy --all-targets -- -D warnings");
}

#[test]
fn fails_loudly_when_the_engine_will_not_start() {
    let outcome = run_test_command(&[], Engine::Broken, "none");
    assert!(!outcome.passed);
    assert_eq!(outcome.calls, ["dockerd"]);
    assert!(
        outcome.stderr.contains("error: dockerd exited"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("cannot start"),
        "the log tail is shown: {}",
        outcome.stderr
    );
}
