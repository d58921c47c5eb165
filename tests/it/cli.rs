//! Bad input of every kind: a clear message, the documented exit status, files untouched.

use std::fs;
use std::io::Write;
use std::time::{Duration, Instant};

use crate::support::{Sandbox, run};

/// A config that points at a port nothing listens on, so a test fails loudly if a
/// command got as far as the network.
const UNREACHABLE: &str = "image = \"127.0.0.1:1/ws/{runtime}:latest\"\nruntimes = [\"x\"]\n";

fn assert_usage(ran: &crate::support::Ran, needles: &[&str]) {
    assert_eq!(
        ran.code, 2,
        "stdout: {}\nstderr: {}",
        ran.stdout, ran.stderr
    );
    for needle in needles {
        assert!(
            ran.stderr.contains(needle),
            "missing {needle:?} in:\n{}",
            ran.stderr
        );
    }
    assert!(ran.stdout.is_empty(), "nothing on stdout: {}", ran.stdout);
}

#[test]
fn config_errors_name_the_file_and_line() {
    let cases = [
        (
            "discover = true\nbogus_key = 1\n",
            vec!["line 2", "bogus_key"],
        ),
        (
            "image = \"ghcr.io/x/y:latest\"\n",
            vec!["line 1", "{runtime}"],
        ),
        ("timeout = \"whenever\"\n", vec!["line 1", "whenever"]),
        ("runtimes = [\"Bad\"]\n", vec!["line 1", "'Bad'"]),
        (
            "image = \"ghcr.io/x/{runtime}@sha256:00\"\n",
            vec!["line 1", "image"],
        ),
        ("strategy = \"nuke\"\n", vec!["line 1", "nuke"]),
        ("not toml at all", vec!["line 1"]),
    ];
    for (text, needles) in cases {
        let sandbox = Sandbox::new();
        let path = sandbox.config(text);
        let ran = run(sandbox.cmd().arg("check"));
        let mut all = needles.clone();
        let shown = path.display().to_string();
        all.push(&shown);
        assert_usage(&ran, &all);
        assert!(
            !sandbox.state_path().exists(),
            "no state written for {text:?}"
        );
    }
}

#[test]
fn a_missing_explicit_config_is_an_error() {
    let sandbox = Sandbox::new();
    let ran = run(sandbox
        .cmd()
        .args(["--config", "/nonexistent/imgwatch.toml", "check"]));
    assert_usage(&ran, &["/nonexistent/imgwatch.toml"]);
}

#[test]
fn a_config_path_that_is_a_directory_is_a_usage_error() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path("conf.d");
    fs::create_dir_all(&dir).unwrap();
    let shown = dir.display().to_string();
    let ran = run(sandbox.cmd().args(["--config", &shown, "check"]));
    assert_usage(&ran, &[&shown, "Is a directory"]);
    let ran = run(sandbox.cmd().env("IMGWATCH_CONFIG", &dir).arg("status"));
    assert_usage(&ran, &[&shown, "Is a directory"]);
}

#[test]
fn corrupt_and_newer_state_files_are_left_byte_for_byte() {
    let contents: [&[u8]; 4] = [
        b"{\"version\": 1, \"runtimes\": {\"x\": {\"image\": 5}}}",
        b"\x00\x01garbage",
        b"",
        b"{\"version\": 7, \"runtimes\": {}, \"from_the_future\": true}",
    ];
    for bytes in contents {
        let sandbox = Sandbox::new();
        sandbox.config(UNREACHABLE);
        fs::create_dir_all(sandbox.state_path().parent().unwrap()).unwrap();
        fs::write(sandbox.state_path(), bytes).unwrap();
        let before = fs::metadata(sandbox.state_path())
            .unwrap()
            .modified()
            .unwrap();
        let shown = sandbox.state_path().display().to_string();
        for args in [
            vec!["check"],
            vec!["check", "--recreate"],
            vec!["status"],
            vec!["forget", "x"],
        ] {
            let ran = run(sandbox.cmd().args(&args));
            let hint = if bytes.starts_with(b"{\"version\": 7") {
                "upgrade"
            } else {
                "forget --all"
            };
            assert_usage(&ran, &[&shown, hint]);
            assert_eq!(
                fs::read(sandbox.state_path()).unwrap(),
                bytes,
                "{args:?} left it as it was"
            );
        }
        assert_eq!(
            fs::metadata(sandbox.state_path())
                .unwrap()
                .modified()
                .unwrap(),
            before
        );
    }
}

#[test]
fn forget_all_replaces_an_unreadable_state_file() {
    let sandbox = Sandbox::new();
    fs::create_dir_all(sandbox.state_path().parent().unwrap()).unwrap();
    fs::write(sandbox.state_path(), b"{broken").unwrap();
    let ran = run(sandbox.cmd().args(["forget", "--all"]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(sandbox.state()["version"], 1);
    assert!(
        ran.stderr.contains("replacing the unreadable state file"),
        "{}",
        ran.stderr
    );
}

#[test]
fn forgetting_an_unknown_runtime_says_what_is_there() {
    let sandbox = Sandbox::new();
    let ran = run(sandbox.cmd().args(["forget", "nope"]));
    assert_usage(&ran, &["no state entry for 'nope'", "entries: none"]);
    assert!(!sandbox.state_path().exists());
}

/// Holds the run lock from this test process, as another imgwatch run would.
fn hold_lock(sandbox: &Sandbox) -> fs::File {
    let path = sandbox.path("state/state.json.lock");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    file.lock().unwrap();
    writeln!(file, "{}", std::process::id()).unwrap();
    file
}

#[test]
fn a_held_lock_exits_75_naming_the_holder() {
    let sandbox = Sandbox::new();
    sandbox.config(UNREACHABLE);
    let _held = hold_lock(&sandbox);
    let started = Instant::now();
    let ran = run(sandbox.cmd().args(["check", "--wait", "1s"]));
    assert_eq!(ran.code, 75, "{}", ran.stderr);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(
        ran.stderr
            .contains(&format!("(pid {})", std::process::id())),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("state.json.lock"), "{}", ran.stderr);
    let forget = run(sandbox.cmd().args(["forget", "--all", "--wait", "0s"]));
    assert_eq!(forget.code, 75);
}

#[test]
fn a_second_run_waits_for_the_first() {
    let sandbox = Sandbox::new();
    sandbox.config("runtimes = []\ndiscover = false\n");
    let held = hold_lock(&sandbox);
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        drop(held);
    });
    let started = Instant::now();
    let ran = run(sandbox.cmd().args(["check", "--wait", "30s"]));
    release.join().unwrap();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "it waited"
    );
    assert!(
        ran.stderr.contains("waiting for another imgwatch run"),
        "{}",
        ran.stderr
    );
    assert_eq!(sandbox.state()["version"], 1);
}

#[test]
fn flag_errors_exit_2() {
    let sandbox = Sandbox::new();
    sandbox.config(UNREACHABLE);
    let cases: [(&[&str], &str); 9] = [
        (&["check", "--runtime", "Bad/Name"], "--runtime"),
        (&["check", "--pull", "--recreate"], "cannot be used with"),
        (&["check", "--force"], "--force"),
        (&["check", "--wait", "forever"], "forever"),
        (&["check", "--strategy", "explode"], "explode"),
        (&["digest", "UPPER/case"], "UPPER/case"),
        (
            &["digest", "ghcr.io/a/b", "--platform", "amd64"],
            "--platform",
        ),
        (&["forget"], "RUNTIME"),
        (&["frobnicate"], "frobnicate"),
    ];
    for (args, needle) in cases {
        let ran = run(sandbox.cmd().args(args));
        assert_usage(&ran, &[needle]);
    }
    assert!(!sandbox.state_path().exists());
}

#[test]
fn a_bad_platform_variable_is_a_usage_error() {
    let sandbox = Sandbox::new();
    sandbox.config(UNREACHABLE);
    let ran = run(sandbox
        .cmd()
        .env("MOLECULE_IMAGE_PLATFORM", "arm")
        .arg("check"));
    assert_usage(&ran, &["MOLECULE_IMAGE_PLATFORM", "'arm'"]);
}

#[test]
fn status_of_a_fresh_host_says_nothing_is_recorded() {
    let sandbox = Sandbox::new();
    let ran = run(sandbox.cmd().arg("status"));
    assert_eq!(ran.code, 0);
    assert!(
        ran.stdout.contains("no runtimes recorded yet"),
        "{}",
        ran.stdout
    );
    assert!(!sandbox.state_path().exists(), "status creates nothing");
}

/// Every path under `dir`, sorted, to compare before and after a command.
fn listing(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut paths = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path.clone());
            }
            paths.push(path);
        }
    }
    paths.sort();
    paths
}

#[test]
fn an_empty_or_directory_state_path_is_a_usage_error_that_creates_nothing() {
    let sandbox = Sandbox::new();
    sandbox.config("runtimes = []\ndiscover = false\n");
    let dir = sandbox.path("a-directory");
    let cwd = sandbox.path("cwd");
    fs::create_dir_all(&dir).unwrap();
    fs::create_dir_all(&cwd).unwrap();
    let dir = dir.display().to_string();
    let slash = format!("{}/missing/", sandbox.dir.path().display());
    let before = listing(sandbox.dir.path());
    let cases: [(&[&str], &str); 4] = [
        (&["check", "--state", &dir], "is a directory"),
        (&["check", "--state", &slash], "is a directory"),
        (&["status", "--state", &dir], "is a directory"),
        (&["forget", "--all", "--state", &dir], "is a directory"),
    ];
    for (args, needle) in cases {
        let ran = run(sandbox.cmd().current_dir(&cwd).args(args));
        assert_usage(&ran, &[needle]);
        assert_eq!(
            listing(sandbox.dir.path()),
            before,
            "{args:?} created files"
        );
    }

    // clap refuses an empty --state itself; the config key needs its own check.
    sandbox.config("runtimes = []\ndiscover = false\nstate = \"\"\n");
    let before = listing(sandbox.dir.path());
    let mut cmd = sandbox.cmd();
    let ran = run(cmd
        .current_dir(&cwd)
        .env_remove("IMGWATCH_STATE")
        .arg("check"));
    assert_usage(&ran, &["key 'state'", "empty"]);
    assert_eq!(
        listing(sandbox.dir.path()),
        before,
        "state = \"\" created files"
    );
}

/// Runs a command whose reader closes stdout at once, as `| head -0` would.
fn with_stdout_closed(sandbox: &Sandbox, args: &[&str]) -> crate::support::Ran {
    use std::process::Stdio;
    let mut child = sandbox
        .process()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    crate::support::Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn a_closed_pipe_ends_quietly_with_the_command_s_own_status() {
    use crate::support::fake::{OCI_MANIFEST, digest, manifest_head};
    let fake = crate::support::FakeRegistry::start(|seen| match seen.method.as_str() {
        "HEAD" => manifest_head(&digest('a'), OCI_MANIFEST),
        _ => crate::support::Answer::status(200),
    });
    let sandbox = Sandbox::new();
    sandbox.config(&format!(
        "image = \"{}/ws/{{runtime}}:latest\"\nruntimes = [\"a\", \"b\"]\n",
        fake.addr()
    ));
    let reference = format!("{}/ws/a:latest", fake.addr());
    for args in [
        &["check"][..],
        &["status"],
        &["status", "--json"],
        &["digest", &reference],
    ] {
        let ran = with_stdout_closed(&sandbox, args);
        assert_eq!(ran.code, 0, "{args:?}: {}", ran.stderr);
        assert!(
            !ran.stderr.contains("imgwatch: error"),
            "{args:?}: {}",
            ran.stderr
        );
    }
}
