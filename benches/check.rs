//! Benchmark: what a timer run costs when nothing moved, and when every runtime moved.
//!
//! Run with `cargo bench --bench check`. It starts a real registry on loopback, pushes
//! eight multi-platform runtimes, and runs the release `imgwatch check` binary repeatedly,
//! reporting wall time, peak memory (max RSS of the child) and registry requests.
//! Targets, for eight runtimes on loopback: a no-change run under 100 ms median and
//! 32 MiB peak, with exactly one ping and eight HEADs (nine requests).

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::TestRegistry;
use support::registry::OCI_INDEX;

const RUNTIMES: [&str; 8] = ["a", "b", "c", "d", "e", "f", "g", "h"];
const ROUNDS: usize = 30;

fn main() {
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.toml");
    let list: Vec<String> = RUNTIMES.iter().map(|r| format!("\"{r}\"")).collect();
    std::fs::write(
        &config,
        format!(
            "image = \"{}/ws/t-{{runtime}}:latest\"\nruntimes = [{}]\nplatform = \"linux/amd64\"\n",
            registry.addr(),
            list.join(", ")
        ),
    )
    .expect("write config");
    let push = |seed: &str| {
        for runtime in RUNTIMES {
            let repo = format!("ws/t-{runtime}");
            let amd64 = registry.push_image(&repo, "", "linux/amd64", &format!("{runtime}{seed}"));
            let arm64 =
                registry.push_image(&repo, "", "linux/arm64/v8", &format!("{runtime}{seed}"));
            let entries = [("linux/amd64", &amd64), ("linux/arm64/v8", &arm64)];
            registry.push_index(&repo, "latest", &entries, OCI_INDEX);
        }
    };
    push("1");

    let state = dir.path().join("state.json");
    let binary = env!("CARGO_BIN_EXE_imgwatch");
    let check = || {
        let started = Instant::now();
        let status = Command::new(binary)
            .args(["--quiet", "--config"])
            .arg(&config)
            .args(["check", "--state"])
            .arg(&state)
            .env("DOCKER_HOST", "unix:///nonexistent.sock")
            .env("IMGWATCH_LOG", "error")
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run imgwatch");
        assert!(status.success(), "imgwatch check failed");
        started.elapsed()
    };

    check(); // seed
    let before = registry.requests().len();
    let mut no_change: Vec<Duration> = (0..ROUNDS).map(|_| check()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let requests = registry.requests().len() - before;

    // Every runtime moved: each costs one more GET (its index) in report-only mode.
    let mut moved = Vec::new();
    for round in 0..5 {
        push(&format!("m{round}"));
        std::fs::remove_file(&state).ok();
        check();
        push(&format!("n{round}"));
        moved.push(check());
    }

    no_change.sort();
    moved.sort();
    let peak = peak_rss_kib();
    println!(
        "imgwatch check, {} runtimes, loopback registry",
        RUNTIMES.len()
    );
    println!(
        "  no change: median {:.1} ms, p90 {:.1} ms over {ROUNDS} runs; {:.1} requests per run",
        ms(no_change[ROUNDS / 2]),
        ms(no_change[ROUNDS * 9 / 10]),
        requests as f64 / ROUNDS as f64
    );
    println!(
        "  all moved: median {:.1} ms over {} runs",
        ms(moved[moved.len() / 2]),
        moved.len()
    );
    println!("  peak RSS of any run: {:.1} MiB", peak as f64 / 1024.0);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The largest max RSS of any child this process waited for, in KiB (getrusage).
fn peak_rss_kib() -> i64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage only writes the struct it is handed.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr()) };
    assert_eq!(rc, 0, "getrusage failed");
    // SAFETY: the successful call above initialised it.
    unsafe { usage.assume_init() }.ru_maxrss
}
