//! Detection against a real registry: seeding, no-change runs, moved tags, platform-only
//! changes, the `digest` command, and what a run costs the registry.

use std::process::Command as Process;

use crate::support::registry::{DOCKER_LIST, OCI_INDEX};
use crate::support::{Sandbox, TestRegistry, run};

/// A sandbox watching runtimes `names` on `registry` under `ws/template-{runtime}:latest`.
fn watching(registry: &TestRegistry, names: &[&str], extra: &str) -> Sandbox {
    let sandbox = Sandbox::new();
    let list: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    sandbox.config(&format!(
        "image = \"{}/ws/template-{{runtime}}:latest\"\nruntimes = [{}]\n\
         platform = \"linux/amd64\"\n{extra}",
        registry.addr(),
        list.join(", ")
    ));
    sandbox
}

fn repo(name: &str) -> String {
    format!("ws/template-{name}")
}

#[test]
fn seeds_then_stays_unchanged_then_reports_pending_until_refreshed() {
    let registry = TestRegistry::start();
    let first = registry.push_image(&repo("alpha"), "latest", "linux/amd64", "v1");
    let sandbox = watching(&registry, &["alpha"], "");

    let seeded = run(sandbox.cmd().args(["check", "--json"]));
    assert_eq!(seeded.code, 0, "{}", seeded.stderr);
    let line = seeded.runtime("alpha");
    assert_eq!(line["status"], "seeded");
    assert_eq!(line["digest"], first.digest.as_str());
    assert!(line["previous"].is_null());
    assert_eq!(
        sandbox.state()["runtimes"]["alpha"]["digest"],
        first.digest.as_str()
    );

    let unchanged = run(sandbox.cmd().args(["check", "--json"]));
    assert_eq!(unchanged.runtime("alpha")["status"], "unchanged");

    let second = registry.push_image(&repo("alpha"), "latest", "linux/amd64", "v2");
    for _ in 0..2 {
        // Report-only: the change is reported and stays pending for the next run.
        let pending = run(sandbox.cmd().args(["check", "--json"]));
        assert_eq!(pending.code, 0, "{}", pending.stderr);
        let line = pending.runtime("alpha");
        assert_eq!(line["status"], "pending");
        assert_eq!(line["previous"], first.digest.as_str());
        assert_eq!(line["digest"], second.digest.as_str());
        assert_eq!(
            sandbox.state()["runtimes"]["alpha"]["digest"],
            first.digest.as_str()
        );
    }

    let human = run(sandbox.cmd().arg("check"));
    let short = |d: &str| d[..19].to_string();
    let expected = format!(
        "alpha  pending    {} -> {}",
        short(&first.digest),
        short(&second.digest)
    );
    assert_eq!(human.stdout.trim_end(), expected);
}

#[test]
fn a_change_on_other_platforms_only_is_recorded_without_a_refresh() {
    let registry = TestRegistry::start();
    let name = repo("multi");
    let amd64 = registry.push_image(&name, "", "linux/amd64", "a1");
    let arm64 = registry.push_image(&name, "", "linux/arm64/v8", "r1");
    let index = registry.push_index(
        &name,
        "latest",
        &[("linux/amd64", &amd64), ("linux/arm64/v8", &arm64)],
        OCI_INDEX,
    );
    let sandbox = watching(&registry, &["multi"], "");
    assert_eq!(
        run(sandbox.cmd().args(["check", "--json"])).runtime("multi")["status"],
        "seeded"
    );
    let entry = &sandbox.state()["runtimes"]["multi"];
    assert_eq!(entry["digest"], index.digest.as_str());
    assert_eq!(entry["platform_digest"], amd64.digest.as_str());

    // arm64 rebuilt: the index moves, but nothing changes for this amd64 host.
    let arm64_new = registry.push_image(&name, "", "linux/arm64/v8", "r2");
    let index2 = registry.push_index(
        &name,
        "latest",
        &[("linux/amd64", &amd64), ("linux/arm64/v8", &arm64_new)],
        OCI_INDEX,
    );
    let ran = run(sandbox.cmd().args(["check", "--json"]));
    assert_eq!(
        ran.runtime("multi")["status"],
        "unchanged",
        "{}",
        ran.stderr
    );
    assert_eq!(
        sandbox.state()["runtimes"]["multi"]["digest"],
        index2.digest.as_str()
    );

    // amd64 rebuilt: now it is a change for this host.
    let amd64_new = registry.push_image(&name, "", "linux/amd64", "a2");
    let index3 = registry.push_index(
        &name,
        "latest",
        &[("linux/amd64", &amd64_new), ("linux/arm64/v8", &arm64_new)],
        DOCKER_LIST,
    );
    let line = run(sandbox.cmd().args(["check", "--json"])).runtime("multi");
    assert_eq!(line["status"], "pending");
    assert_eq!(line["previous"], index2.digest.as_str());
    assert_eq!(line["digest"], index3.digest.as_str());
}

#[test]
fn digest_prints_what_the_registry_and_skopeo_say() {
    let registry = TestRegistry::start();
    let single = registry.push_docker_image("app", "single", "linux/amd64", "s");
    let amd64 = registry.push_image("app", "", "linux/amd64", "a");
    let arm64 = registry.push_image("app", "", "linux/arm64/v8", "b");
    let index = registry.push_index(
        "app",
        "multi",
        &[("linux/amd64", &amd64), ("linux/arm64/v8", &arm64)],
        OCI_INDEX,
    );
    let sandbox = Sandbox::new();
    for (tag, expected) in [("single", &single.digest), ("multi", &index.digest)] {
        let reference = registry.reference("app", tag);
        let ran = run(sandbox.cmd().args(["digest", &reference]));
        assert_eq!(ran.code, 0, "{}", ran.stderr);
        assert_eq!(ran.stdout.trim(), expected.as_str());
        assert_eq!(ran.stdout.trim(), registry.head_digest("app", tag));
        assert_eq!(
            ran.stdout.trim(),
            skopeo_digest(&reference),
            "skopeo agrees on {tag}"
        );
    }
    let reference = registry.reference("app", "multi");
    let ran = run(sandbox
        .cmd()
        .args(["digest", &reference, "--platform", "linux/arm64"]));
    assert_eq!(ran.stdout.trim(), arm64.digest.as_str(), "{}", ran.stderr);
    let ran = run(sandbox
        .cmd()
        .args(["digest", &reference, "--platform", "linux/s390x"]));
    assert_eq!(ran.code, 1);
    assert!(
        ran.stderr.contains("no manifest for linux/s390x"),
        "{}",
        ran.stderr
    );
}

fn skopeo_digest(reference: &str) -> String {
    let output = Process::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"])
        .arg(format!("docker://{reference}"))
        .output()
        .expect("skopeo is installed by scripts/test");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
fn a_no_change_run_sends_one_ping_and_one_head_per_runtime_and_no_get() {
    let registry = TestRegistry::start();
    let names = ["a", "b", "c", "d"];
    for name in names {
        let amd64 = registry.push_image(&repo(name), "", "linux/amd64", name);
        registry.push_index(&repo(name), "latest", &[("linux/amd64", &amd64)], OCI_INDEX);
    }
    let sandbox = watching(&registry, &names, "");
    assert_eq!(run(sandbox.cmd().arg("check")).code, 0);
    let before = imgwatch_requests(&registry).len();

    let ran = run(sandbox.cmd().args(["check", "--json"]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let second = requests_since(&registry, before);
    let pings = second
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/v2/")
        .count();
    let heads = second.iter().filter(|r| r.method == "HEAD").count();
    let gets = second
        .iter()
        .filter(|r| r.method == "GET" && r.path != "/v2/")
        .count();
    assert_eq!((pings, heads, gets), (1, names.len(), 0), "{second:#?}");
}

/// imgwatch's requests after the first `before` of them.
fn requests_since(
    registry: &TestRegistry,
    before: usize,
) -> Vec<crate::support::registry::Request> {
    // The registry logs a request after answering it; give the last line a moment.
    std::thread::sleep(std::time::Duration::from_millis(300));
    imgwatch_requests(registry)
        .into_iter()
        .skip(before)
        .collect()
}

fn imgwatch_requests(registry: &TestRegistry) -> Vec<crate::support::registry::Request> {
    registry
        .requests()
        .into_iter()
        .filter(|r| r.user_agent.starts_with("imgwatch/"))
        .collect()
}

#[test]
fn one_failing_runtime_does_not_stop_the_others() {
    let registry = TestRegistry::start();
    registry.push_image(&repo("ok"), "latest", "linux/amd64", "1");
    let sandbox = watching(&registry, &["ok", "missing"], "");
    let ran = run(sandbox.cmd().args(["check", "--json"]));
    assert_eq!(ran.code, 1);
    assert_eq!(ran.runtime("ok")["status"], "seeded");
    let missing = ran.runtime("missing");
    assert_eq!(missing["status"], "failed");
    assert!(
        missing["error"].as_str().unwrap().contains("404"),
        "{missing}"
    );
    assert!(sandbox.state()["runtimes"].get("missing").is_none());
}

#[test]
fn runtime_flag_limits_the_check_and_keeps_other_entries() {
    let registry = TestRegistry::start();
    for name in ["one", "two"] {
        registry.push_image(&repo(name), "latest", "linux/amd64", name);
    }
    let sandbox = watching(&registry, &["one", "two"], "");
    assert_eq!(run(sandbox.cmd().arg("check")).code, 0);
    registry.push_image(&repo("two"), "latest", "linux/amd64", "two-b");
    let ran = run(sandbox.cmd().args(["check", "--json", "--runtime", "one"]));
    let names: Vec<_> = ran.json()["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["runtime"].clone())
        .collect();
    assert_eq!(names, ["one"]);
    assert!(
        sandbox.state()["runtimes"].get("two").is_some(),
        "other entries are kept"
    );
}

#[test]
fn dry_run_writes_no_state() {
    let registry = TestRegistry::start();
    registry.push_image(&repo("dry"), "latest", "linux/amd64", "1");
    let sandbox = watching(&registry, &["dry"], "");
    let ran = run(sandbox.cmd().args(["check", "--dry-run", "--json"]));
    assert_eq!(ran.runtime("dry")["status"], "seeded");
    assert!(!sandbox.state_path().exists());
    assert!(!sandbox.path("state/state.json.lock").exists());
}

#[test]
fn status_and_forget_show_and_drop_entries() {
    let registry = TestRegistry::start();
    let pushed = registry.push_image(&repo("s"), "latest", "linux/amd64", "1");
    let sandbox = watching(&registry, &["s"], "");
    assert_eq!(run(sandbox.cmd().arg("check")).code, 0);

    let status = run(sandbox.cmd().args(["status", "--json"]));
    assert_eq!(status.code, 0);
    let entry = &status.json()["runtimes"][0];
    assert_eq!(entry["runtime"], "s");
    assert_eq!(entry["digest"], pushed.digest.as_str());
    let human = run(sandbox.cmd().arg("status"));
    assert!(human.stdout.starts_with("s  sha256:"), "{}", human.stdout);

    let forgot = run(sandbox.cmd().args(["forget", "s"]));
    assert_eq!(
        (forgot.code, forgot.stdout.trim()),
        (0, "forgot s"),
        "{}",
        forgot.stderr
    );
    assert!(sandbox.state()["runtimes"].as_object().unwrap().is_empty());
    let again = run(sandbox.cmd().args(["check", "--json"]));
    assert_eq!(again.runtime("s")["status"], "seeded");
}

#[test]
fn the_state_names_the_reference_now_watched_after_the_image_key_changes() {
    let registry = TestRegistry::start();
    let first = registry.push_image(&repo("kept"), "latest", "linux/amd64", "same");
    let sandbox = watching(&registry, &["kept"], "");
    assert_eq!(run(sandbox.cmd().arg("check")).code, 0);

    // The same image, now watched under a mirror path: nothing moved, but the state
    // has to say where it is watched now.
    let mirrored = registry.push_image("mirror/template-kept", "latest", "linux/amd64", "same");
    assert_eq!(mirrored.digest, first.digest);
    sandbox.config(&format!(
        "image = \"{}/mirror/template-{{runtime}}:latest\"\nruntimes = [\"kept\"]\n\
         platform = \"linux/amd64\"\n",
        registry.addr()
    ));
    let ran = run(sandbox.cmd().args(["check", "--json"]));
    assert_eq!(ran.runtime("kept")["status"], "unchanged", "{}", ran.stderr);
    assert_eq!(
        sandbox.state()["runtimes"]["kept"]["image"],
        registry
            .reference("mirror/template-kept", "latest")
            .as_str()
    );
}

#[test]
fn a_held_back_digest_costs_one_head_and_no_get() {
    let registry = TestRegistry::start();
    let name = repo("held");
    let amd64 = registry.push_image(&name, "", "linux/amd64", "h1");
    let index = registry.push_index(&name, "latest", &[("linux/amd64", &amd64)], OCI_INDEX);
    let sandbox = watching(&registry, &["held"], "");

    // The state runs an older digest; a rollout of the current one failed just now.
    let old = format!("sha256:{}", "0".repeat(64));
    let now = chrono::Utc::now();
    let state = serde_json::json!({"version": 1, "runtimes": {"held": {
        "image": registry.reference(&name, "latest"),
        "digest": old, "platform": "linux/amd64", "platform_digest": old,
        "first_seen": now, "last_checked": now,
        "last_error": "new container unhealthy", "consecutive_failures": 1,
        "held": {"digest": index.digest, "attempts": 1, "last_attempt": now,
                 "retry_at": now + chrono::Duration::hours(1)}}}});
    std::fs::create_dir_all(sandbox.state_path().parent().unwrap()).unwrap();
    std::fs::write(sandbox.state_path(), state.to_string()).unwrap();

    let before = imgwatch_requests(&registry).len();
    let ran = run(sandbox.cmd().args(["check", "--json"]));
    assert_eq!(ran.runtime("held")["status"], "skipped", "{}", ran.stderr);
    let requests = requests_since(&registry, before);
    let gets = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path != "/v2/")
        .count();
    assert_eq!(gets, 0, "{requests:#?}");
}

/// Makes a directory immutable (even for root) until dropped.
struct Immutable(std::path::PathBuf);

impl Immutable {
    fn new(dir: std::path::PathBuf) -> Immutable {
        let status = Process::new("chattr")
            .arg("+i")
            .arg(&dir)
            .status()
            .expect("chattr (e2fsprogs)");
        assert!(status.success(), "chattr +i {}", dir.display());
        Immutable(dir)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Process::new("chattr").arg("-i").arg(&self.0).status();
    }
}

#[test]
fn a_state_that_cannot_be_written_fails_the_run_after_reporting() {
    let registry = TestRegistry::start();
    registry.push_image(&repo("ro"), "latest", "linux/amd64", "1");
    let sandbox = watching(&registry, &["ro"], "");
    assert_eq!(run(sandbox.cmd().arg("check")).code, 0);
    let before = std::fs::read(sandbox.state_path()).unwrap();
    registry.push_image(&repo("ro"), "latest", "linux/amd64", "2");

    let guard = Immutable::new(sandbox.state_path().parent().unwrap().to_path_buf());
    let ran = run(sandbox.cmd().args(["check", "--json"]));
    drop(guard);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert_eq!(
        ran.runtime("ro")["status"],
        "pending",
        "the report is still printed"
    );
    assert!(
        ran.stderr.contains("cannot write state file"),
        "{}",
        ran.stderr
    );
    assert_eq!(std::fs::read(sandbox.state_path()).unwrap(), before);
}
