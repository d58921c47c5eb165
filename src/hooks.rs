//! The `on_update` and `on_failure` commands, run after a runtime moved or failed.
//!
//! Each runs as `/bin/sh -c COMMAND` in a process group of its own, with what happened in
//! `IMGWATCH_*` environment variables and standard input closed. Its output goes to the log
//! line by line (stdout at info, stderr at warning). A hook that outlives `hook_timeout`
//! has its whole group terminated, then killed. A hook never changes a run's outcome: a
//! failure is logged and handed back for the report.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use crate::report::{Report, RuntimeReport, Status};

/// How long a hook's group gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// How often a running hook is checked for having exited.
const POLL: Duration = Duration::from_millis(50);

/// The configured hook commands.
#[derive(Debug, Clone)]
pub struct Hooks {
    /// Run for each runtime whose new image was brought in (status updated or pulled).
    pub on_update: Option<String>,
    /// Run for each runtime that failed.
    pub on_failure: Option<String>,
    /// How long one hook may run.
    pub timeout: Duration,
}

/// A hook that could not start, exited non-zero, was killed, or ran out of time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookFailure {
    /// `on_update` or `on_failure`.
    pub hook: &'static str,
    /// The runtime it ran for.
    pub runtime: String,
    /// What went wrong, e.g. `exited with status 3`.
    pub reason: String,
}

impl fmt::Display for HookFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} hook for runtime '{}': {}",
            self.hook, self.runtime, self.reason
        )
    }
}

/// Runs the hooks the report calls for, one after another, and returns those that failed.
///
/// `on_update` runs for runtimes whose status is `updated` or `pulled` (so a `--pull` run
/// can leave the restart to the hook), `on_failure` for those whose status is `failed`.
pub fn run(hooks: &Hooks, report: &Report) -> Vec<HookFailure> {
    let mut failures = Vec::new();
    for runtime in &report.runtimes {
        let (hook, command) = match runtime.status {
            Status::Updated | Status::Pulled => ("on_update", &hooks.on_update),
            Status::Failed => ("on_failure", &hooks.on_failure),
            _ => continue,
        };
        let Some(command) = command.as_deref().filter(|c| !c.trim().is_empty()) else {
            continue;
        };

        tracing::debug!(hook, runtime = %runtime.runtime, command, "running hook");
        if let Err(reason) = run_one(hook, command, runtime, hooks.timeout) {
            let failure = HookFailure {
                hook,
                runtime: runtime.runtime.clone(),
                reason,
            };
            tracing::warn!("{failure}");
            failures.push(failure);
        }
    }
    failures
}

/// The variables a hook sees. Missing values are empty, so `set -u` scripts work.
pub fn environment(runtime: &RuntimeReport) -> Vec<(&'static str, String)> {
    let names: Vec<&str> = runtime.containers.iter().map(|c| c.name.as_str()).collect();
    vec![
        ("IMGWATCH_RUNTIME", runtime.runtime.clone()),
        ("IMGWATCH_IMAGE", runtime.image.clone()),
        (
            "IMGWATCH_PREVIOUS_DIGEST",
            runtime.previous.clone().unwrap_or_default(),
        ),
        (
            "IMGWATCH_DIGEST",
            runtime.digest.clone().unwrap_or_default(),
        ),
        ("IMGWATCH_STATUS", runtime.status.as_str().to_string()),
        ("IMGWATCH_ERROR", runtime.error.clone().unwrap_or_default()),
        ("IMGWATCH_CONTAINERS", names.join(" ")),
    ]
}

/// Which pipe a line came from.
#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// Runs one hook to completion or its deadline; `Err` holds the reason it failed.
fn run_one(
    hook: &'static str,
    command: &str,
    runtime: &RuntimeReport,
    timeout: Duration,
) -> Result<(), String> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .envs(environment(runtime))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start /bin/sh: {e}"))?;

    // Readers send lines here so they are logged in order from this thread.
    let (lines, incoming) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        read_lines(out, Stream::Stdout, lines.clone());
    }
    if let Some(err) = child.stderr.take() {
        read_lines(err, Stream::Stderr, lines.clone());
    }
    drop(lines);

    let log = |stream: Stream, line: String| match stream {
        Stream::Stdout => tracing::info!(hook, runtime = %runtime.runtime, "{line}"),
        Stream::Stderr => tracing::warn!(hook, runtime = %runtime.runtime, "{line}"),
    };

    // The hook is done when the shell has exited and every process holding its output
    // has closed it; a background job left running keeps it going until the deadline.
    let deadline = Instant::now() + timeout;
    let mut status: Option<ExitStatus> = None;
    let mut pipes_open = true;
    loop {
        if status.is_none() {
            status = child
                .try_wait()
                .map_err(|e| format!("cannot wait for /bin/sh: {e}"))?;
        }
        if status.is_some() && !pipes_open {
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            kill_group(&mut child);
            while let Ok((stream, line)) = incoming.try_recv() {
                log(stream, line);
            }
            return Err(format!(
                "timed out after {}",
                humantime::format_duration(timeout)
            ));
        }
        let wait = POLL.min(deadline - now);
        if pipes_open {
            match incoming.recv_timeout(wait) {
                Ok((stream, line)) => log(stream, line),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => pipes_open = false,
            }
        } else {
            std::thread::sleep(wait);
        }
    }

    match status {
        Some(status) if status.success() => Ok(()),
        Some(status) => Err(describe(status)),
        None => Err("ended without an exit status".to_string()),
    }
}

/// Forwards each line of a pipe to `lines` from a thread of its own.
fn read_lines(pipe: impl Read + Send + 'static, stream: Stream, lines: Sender<(Stream, String)>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            match reader.read_until(b'\n', &mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&buffer);
                    let line = text.trim_end_matches(['\n', '\r']).to_string();
                    if lines.send((stream, line)).is_err() {
                        break;
                    }
                }
            }
        }
    });
}

/// Terminates the hook's process group, then kills whatever is left after a grace period.
fn kill_group(child: &mut Child) {
    let Ok(group) = libc::pid_t::try_from(child.id()) else {
        return;
    };
    // SAFETY: killpg only sends a signal; the group is the one the shell was started in.
    unsafe { libc::killpg(group, libc::SIGTERM) };
    let until = Instant::now() + KILL_GRACE;
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(POLL);
    }
    // Background jobs of the hook may ignore SIGTERM or outlive the shell.
    // SAFETY: as above.
    unsafe { libc::killpg(group, libc::SIGKILL) };
    let _ = child.wait();
}

/// Says how a shell that did not succeed ended.
fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => format!("ended with {status}"),
    }
}
