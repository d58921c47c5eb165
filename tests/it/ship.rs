//! What a run leaves for the operator: metrics, hooks, the webhook, log lines, completions.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use imgwatch::hooks::{self, Hooks};
use imgwatch::metrics::{self, RunSummary};
use imgwatch::report::{Action, ContainerReport, Report, RuntimeReport, Status};
use imgwatch::state::{Entry, State};
use imgwatch::webhook;

const OLD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const NEW: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn runtime(name: &str, status: Status, containers: &[(&str, Action)]) -> RuntimeReport {
    RuntimeReport {
        runtime: name.to_string(),
        image: format!("ghcr.io/molecule-ai/workspace-template-{name}:latest"),
        status,
        previous: Some(OLD.to_string()),
        digest: Some(NEW.to_string()),
        containers: containers
            .iter()
            .map(|(container, action)| ContainerReport {
                name: container.to_string(),
                id: format!("{container}-id"),
                action: *action,
                error: None,
            })
            .collect(),
        error: (status == Status::Failed).then(|| "pull: connection refused".to_string()),
    }
}

fn entry(last_updated: Option<i64>, failures: u32) -> Entry {
    let at = Utc.timestamp_opt(1_714_000_000, 0).unwrap();
    Entry {
        image: "ghcr.io/molecule-ai/workspace-template-x:latest".to_string(),
        digest: NEW.to_string(),
        platform: None,
        platform_digest: None,
        first_seen: at,
        last_checked: at,
        last_updated: last_updated.map(|s| Utc.timestamp_opt(s, 0).unwrap()),
        last_error: None,
        consecutive_failures: failures,
        held: None,
    }
}

fn busy_report() -> Report {
    Report {
        runtimes: vec![
            runtime(
                "langgraph",
                Status::Updated,
                &[("ws-a", Action::Recreated), ("ws-b", Action::Recreated)],
            ),
            runtime("crewai", Status::Failed, &[("ws-c", Action::RolledBack)]),
            runtime("autogen", Status::Unchanged, &[]),
            runtime("hermes", Status::Pulled, &[("ws-d", Action::Removed)]),
        ],
    }
}

// ---- metrics ----

/// A metric name without `imgwatch_`, its labels, and the value it should have.
type Expected = (
    &'static str,
    &'static [(&'static str, &'static str)],
    Option<f64>,
);

/// One parsed sample: metric name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Parses the Prometheus text format strictly, panicking on anything it does not allow.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let name_ok = |n: &str| {
        let mut chars = n.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    assert!(text.ends_with('\n'), "the text must end with a newline");

    let mut helped = BTreeSet::new();
    let mut typed = BTreeSet::new();
    let mut finished: BTreeSet<String> = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut series = BTreeSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP has a text");
            assert!(name_ok(name) && !help.is_empty(), "{line}");
            assert!(helped.insert(name.to_string()), "HELP twice for {name}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE has a type");
            assert!(name_ok(name), "{line}");
            assert!(["gauge", "counter", "untyped"].contains(&kind), "{line}");
            assert!(typed.insert(name.to_string()), "TYPE twice for {name}");
            assert!(
                !finished.contains(name),
                "{name} declared after its samples"
            );
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "unexpected line {line:?}"
        );

        // name{labels} value
        let (series_text, value) = line.rsplit_once(' ').expect("sample has a value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let (name, labels) = match series_text.split_once('{') {
            Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}').expect(line))),
            None => (series_text, BTreeMap::new()),
        };
        assert!(name_ok(name), "bad name in {line}");
        assert!(
            helped.contains(name) && typed.contains(name),
            "{name} lacks HELP or TYPE"
        );
        if current.as_deref() != Some(name) {
            if let Some(previous) = current.replace(name.to_string()) {
                finished.insert(previous);
            }
            assert!(
                !finished.contains(name),
                "samples of {name} are not together"
            );
        }
        assert!(
            series.insert(series_text.to_string()),
            "duplicate series {series_text}"
        );
        samples.push((name.to_string(), labels, value));
    }
    samples
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let name: String = chars.by_ref().take_while(|&c| c != '=').collect();
        assert!(!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        assert_eq!(chars.next(), Some('"'), "label value must be quoted");
        let mut value = String::new();
        loop {
            match chars.next().expect("unterminated label value") {
                '\\' => match chars.next() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => panic!("bad escape \\{other:?}"),
                },
                '"' => break,
                '\n' => panic!("raw newline in a label value"),
                c => value.push(c),
            }
        }
        assert!(labels.insert(name, value).is_none(), "label twice");
        match chars.next() {
            Some(',') | None => {}
            other => panic!("expected , between labels, got {other:?}"),
        }
    }
    labels
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name && l.len() == labels.len() && labels.iter().all(|(k, v)| l[*k] == *v)
        })
        .map(|(_, _, v)| *v)
}

#[test]
fn metrics_are_valid_prometheus_text_with_the_run_in_them() {
    // A hand-edited state file can hold any name; it must still come out escaped.
    const ODD: &str = "odd\"name\\x\n";
    let run = RunSummary {
        finished_at: Utc.timestamp_opt(1_714_550_400, 250_000_000).unwrap(),
        duration: Duration::from_millis(12_500),
        exit_status: 1,
    };
    let mut state = State::default();
    state
        .runtimes
        .insert("langgraph".into(), entry(Some(1_714_550_399), 0));
    state.runtimes.insert("crewai".into(), entry(None, 3));
    state.runtimes.insert(ODD.into(), entry(None, 1));

    let text = metrics::render(&run, &busy_report(), &state);
    let samples = parse_exposition(&text);

    let last_update = "runtime_last_update_timestamp_seconds";
    let expected: [Expected; 17] = [
        ("last_run_timestamp_seconds", &[], Some(1_714_550_400.25)),
        ("last_run_duration_seconds", &[], Some(12.5)),
        ("last_run_exit_status", &[], Some(1.0)),
        ("runtime_up_to_date", &[("runtime", "langgraph")], Some(1.0)),
        ("runtime_up_to_date", &[("runtime", "autogen")], Some(1.0)),
        ("runtime_up_to_date", &[("runtime", "crewai")], Some(0.0)),
        ("runtime_up_to_date", &[("runtime", "hermes")], Some(0.0)),
        (
            last_update,
            &[("runtime", "langgraph")],
            Some(1_714_550_399.0),
        ),
        (last_update, &[("runtime", "crewai")], None),
        (
            "runtime_consecutive_failures",
            &[("runtime", "crewai")],
            Some(3.0),
        ),
        (
            "runtime_consecutive_failures",
            &[("runtime", ODD)],
            Some(1.0),
        ),
        ("last_run_containers", &[("action", "recreated")], Some(2.0)),
        ("last_run_containers", &[("action", "removed")], Some(1.0)),
        (
            "last_run_containers",
            &[("action", "rolled_back")],
            Some(1.0),
        ),
        ("last_run_containers", &[("action", "failed")], Some(0.0)),
        ("last_run_runtimes", &[("status", "failed")], Some(1.0)),
        ("last_run_runtimes", &[("status", "skipped")], Some(0.0)),
    ];
    for (name, labels, want) in expected {
        let name = format!("imgwatch_{name}");
        assert_eq!(value(&samples, &name, labels), want, "{name} {labels:?}");
    }

    promtool_agrees(&text);
}

/// Also asks `promtool check metrics` when it is installed; the parser above always runs.
fn promtool_agrees(text: &str) {
    let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        return;
    };
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "promtool check metrics:\n{said}");
}

#[test]
fn metrics_file_is_replaced_whole_and_readable_by_the_collector() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("imgwatch.prom");
    fs::write(&path, "old\n").unwrap();
    let inode = fs::metadata(&path).unwrap().ino();

    metrics::write(&path, "imgwatch_x 1\n").unwrap();

    assert_eq!(fs::read_to_string(&path).unwrap(), "imgwatch_x 1\n");
    let meta = fs::metadata(&path).unwrap();
    assert_ne!(
        meta.ino(),
        inode,
        "written in place instead of renamed over"
    );
    assert_eq!(meta.permissions().mode() & 0o777, 0o644);
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["imgwatch.prom"], "temporary files left behind");

    // A directory that cannot exist: its parent is a file.
    let blocked = dir.path().join("imgwatch.prom/sub/imgwatch.prom");
    let error = metrics::write(&blocked, "x 1\n").unwrap_err();
    assert!(
        format!("{error:#}").contains("sub/imgwatch.prom"),
        "{error:#}"
    );
}

// ---- hooks ----

fn hooks(on_update: Option<String>, on_failure: Option<String>, timeout: Duration) -> Hooks {
    Hooks {
        on_update,
        on_failure,
        timeout,
    }
}

#[test]
fn hooks_run_for_updated_pulled_and_failed_runtimes_with_the_details() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let line = |hook: &str| {
        format!(
            "printf '{hook}|%s|%s|%s|%s|%s|%s|%s\\n' \"$IMGWATCH_RUNTIME\" \"$IMGWATCH_IMAGE\" \
             \"$IMGWATCH_PREVIOUS_DIGEST\" \"$IMGWATCH_DIGEST\" \"$IMGWATCH_STATUS\" \
             \"$IMGWATCH_ERROR\" \"$IMGWATCH_CONTAINERS\" >> {}",
            log.display()
        )
    };
    let hooks = hooks(
        Some(line("update")),
        Some(line("failure")),
        Duration::from_secs(10),
    );

    let failures = hooks::run(&hooks, &busy_report());

    assert_eq!(failures, []);
    let written = fs::read_to_string(&log).unwrap();
    let image = |name: &str| format!("ghcr.io/molecule-ai/workspace-template-{name}:latest");
    assert_eq!(
        written.lines().collect::<Vec<_>>(),
        [
            format!(
                "update|langgraph|{}|{OLD}|{NEW}|updated||ws-a ws-b",
                image("langgraph")
            ),
            format!(
                "failure|crewai|{}|{OLD}|{NEW}|failed|pull: connection refused|ws-c",
                image("crewai")
            ),
            format!("update|hermes|{}|{OLD}|{NEW}|pulled||ws-d", image("hermes")),
        ]
    );
}

#[test]
fn a_failing_hook_is_reported_and_changes_nothing_else() {
    let hooks = hooks(
        Some("echo about to fail; exit 3".into()),
        None,
        Duration::from_secs(10),
    );
    let report = busy_report();
    let before = report.clone();

    let failures = hooks::run(&hooks, &report);

    assert_eq!(report, before);
    let reasons: Vec<String> = failures.iter().map(ToString::to_string).collect();
    assert_eq!(
        reasons,
        [
            "on_update hook for runtime 'langgraph': exited with status 3",
            "on_update hook for runtime 'hermes': exited with status 3",
        ]
    );
}

#[test]
fn a_hook_past_its_time_limit_is_killed_with_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let command = format!("sleep 300 & echo $! > {}; wait", pid_file.display());
    let hooks = hooks(Some(command), None, Duration::from_millis(500));
    let report = Report {
        runtimes: vec![runtime("langgraph", Status::Updated, &[])],
    };

    let started = Instant::now();
    let failures = hooks::run(&hooks, &report);

    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].reason, "timed out after 500ms");
    let pid = fs::read_to_string(&pid_file).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid.trim()) {
        assert!(
            Instant::now() < deadline,
            "the hook's background job {pid} survived"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// True while the process exists and is not a zombie waiting to be reaped.
fn alive(pid: &str) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[test]
fn hook_output_is_logged_line_by_line() {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let buffer = buffer.clone();
        move || Capture(buffer.clone())
    };
    let subscriber = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .finish();
    let hooks = hooks(
        Some("echo first; echo oops >&2; printf 'last without newline'".into()),
        None,
        Duration::from_secs(10),
    );
    let report = Report {
        runtimes: vec![runtime("langgraph", Status::Updated, &[])],
    };

    tracing::subscriber::with_default(subscriber, || hooks::run(&hooks, &report));

    let logged = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = logged.lines().collect();
    let find = |text: &str| lines.iter().find(|l| l.contains(text)).copied();
    assert!(
        find("first").is_some_and(|l| l.trim_start().starts_with("INFO")),
        "{logged}"
    );
    assert!(
        find("oops").is_some_and(|l| l.trim_start().starts_with("WARN")),
        "{logged}"
    );
    assert!(find("last without newline").is_some(), "{logged}");
    assert!(
        find("first").unwrap().contains("runtime=langgraph"),
        "{logged}"
    );
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// ---- webhook ----

/// What the receiver was sent: the Content-Type and the body of each request.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A local receiver that answers each request with the next status of `answers`
/// (the last one repeats), keeping what it was sent.
struct Receiver {
    url: String,
    count: Arc<AtomicUsize>,
    bodies: Received,
}

impl Receiver {
    fn start(answers: &'static [u16]) -> Receiver {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("listen on loopback");
        let url = format!("http://{}/hooks/secret-token", server.server_addr());
        let count = Arc::new(AtomicUsize::new(0));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let (seen, kept) = (count.clone(), bodies.clone());
        std::thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let mut body = Vec::new();
                request.as_reader().read_to_end(&mut body).unwrap();
                let kind = request
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("Content-Type"))
                    .map(|h| h.value.to_string())
                    .unwrap_or_default();
                kept.lock().unwrap().push((kind, body));
                let status = answers[n.min(answers.len() - 1)];
                let _ = request.respond(tiny_http::Response::empty(status));
            }
        });
        Receiver { url, count, bodies }
    }

    fn requests(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

#[test]
fn webhook_posts_the_json_report_when_something_changed() {
    let receiver = Receiver::start(&[200]);
    let report = busy_report();

    assert!(webhook::notify(&receiver.url, &report).unwrap());

    assert_eq!(receiver.requests(), 1);
    let (kind, body) = receiver.bodies.lock().unwrap()[0].clone();
    assert_eq!(kind, "application/json");
    let sent: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(sent, serde_json::to_value(&report).unwrap());
}

#[test]
fn webhook_stays_silent_when_nothing_changed() {
    let receiver = Receiver::start(&[200]);
    let report = Report {
        runtimes: vec![
            runtime("a", Status::Unchanged, &[]),
            runtime("b", Status::Seeded, &[]),
            runtime("c", Status::Pending, &[]),
            runtime("d", Status::Skipped, &[]),
        ],
    };

    assert!(!webhook::notify(&receiver.url, &report).unwrap());
    assert!(!webhook::notify(&receiver.url, &Report::default()).unwrap());
    assert_eq!(receiver.requests(), 0);
}

#[test]
fn webhook_retries_once_after_a_failure() {
    let receiver = Receiver::start(&[503, 204]);
    assert!(webhook::notify(&receiver.url, &busy_report()).unwrap());
    assert_eq!(receiver.requests(), 2);
}

#[test]
fn webhook_gives_up_after_the_retry_without_leaking_the_url_path() {
    let receiver = Receiver::start(&[500]);
    let error = webhook::notify(&receiver.url, &busy_report()).unwrap_err();
    assert_eq!(receiver.requests(), 2);
    let message = format!("{error:#}");
    assert!(message.contains("500"), "{message}");
    assert!(!message.contains("secret-token"), "{message}");
}

#[test]
fn webhook_reports_an_unreachable_receiver() {
    // Bind and drop a listener so the port is (almost certainly) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let error = webhook::notify(&format!("http://127.0.0.1:{port}/x"), &busy_report()).unwrap_err();
    assert!(format!("{error:#}").contains("cannot connect"), "{error:#}");
}

// ---- the binary: log format and completions ----

/// Runs imgwatch with stderr in a file that `$JOURNAL_STREAM` names, as systemd does for
/// a service logging to the journal; returns the exit code and what went to stderr.
fn run_as_if_journald(args: &[&str], log_filter: Option<&str>) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let stderr_path = dir.path().join("stderr");
    let stderr = fs::File::create(&stderr_path).unwrap();
    let meta = stderr.metadata().unwrap();

    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_imgwatch"));
    command
        .args(args)
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stdout(std::process::Stdio::null())
        .stderr(stderr);
    if let Some(filter) = log_filter {
        command.env("IMGWATCH_LOG", filter);
    }
    let status = command.status().unwrap();
    (status.code(), fs::read_to_string(&stderr_path).unwrap())
}

#[test]
fn log_lines_carry_journal_priorities_when_stderr_is_the_journal() {
    // An invalid filter makes the logger warn about it, whatever the command.
    let (code, logged) = run_as_if_journald(&["completions", "bash"], Some("imgwatch=[x"));
    assert_eq!(code, Some(0));
    assert!(
        logged.starts_with("<4>warning: ignoring IMGWATCH_LOG"),
        "{logged}"
    );
}

#[test]
fn the_final_error_carries_error_priority_in_the_journal() {
    let (code, logged) =
        run_as_if_journald(&["--config", "/nonexistent/imgwatch.toml", "status"], None);
    assert_eq!(code, Some(2));
    assert!(logged.starts_with("<3>imgwatch: error: "), "{logged}");
    let unprefixed = logged.lines().find(|l| !l.starts_with('<'));
    assert_eq!(unprefixed, None, "a line without priority in {logged}");
}

#[test]
fn log_lines_carry_the_time_when_stderr_is_a_file() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_imgwatch"))
        .args(["completions", "bash"])
        .env("IMGWATCH_LOG", "imgwatch=[nonsense")
        .env("JOURNAL_STREAM", "1:1")
        .output()
        .unwrap();
    let logged = String::from_utf8(output.stderr).unwrap();
    let (time, rest) = logged.split_once(' ').expect("a timestamp first");
    assert!(
        chrono::DateTime::parse_from_rfc3339(time).is_ok(),
        "{logged}"
    );
    assert!(
        rest.starts_with("warning: ignoring IMGWATCH_LOG"),
        "{logged}"
    );
    assert!(!logged.contains('\x1b'), "colour in a file: {logged:?}");
}

#[test]
fn completions_are_printed_for_each_shell() {
    let committed =
        |name: &str| fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap();
    for (shell, file) in [
        ("bash", "packaging/completions/imgwatch.bash"),
        ("zsh", "packaging/completions/_imgwatch"),
        ("fish", "packaging/completions/imgwatch.fish"),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_imgwatch"))
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            String::from_utf8(output.stdout).unwrap(),
            committed(file),
            "{shell}"
        );
    }

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_imgwatch"))
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}
