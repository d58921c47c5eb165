//! Prometheus text exposition of the last run, for node_exporter's textfile collector.
//!
//! The collector reads every `*.prom` file in its directory on each scrape, so the file is
//! replaced in one rename and never seen half written. Series that mean "how many" are
//! written for every label value, zeros included, so an alert on them never sees a series
//! vanish and come back.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::report::{Action, Report, Status};
use crate::state::State;

/// What the metrics need to know about a run beyond its report.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// When the run finished.
    pub finished_at: DateTime<Utc>,
    /// How long it took.
    pub duration: Duration,
    /// The exit status it ends with.
    pub exit_status: i32,
}

const STATUSES: [Status; 7] = [
    Status::Seeded,
    Status::Unchanged,
    Status::Pending,
    Status::Pulled,
    Status::Updated,
    Status::Failed,
    Status::Skipped,
];

const ACTIONS: [(Action, &str); 5] = [
    (Action::Recreated, "recreated"),
    (Action::Removed, "removed"),
    (Action::RolledBack, "rolled_back"),
    (Action::Failed, "failed"),
    (Action::Unchanged, "unchanged"),
];

/// Renders the run, its report and the state written after it as exposition text.
///
/// `imgwatch_runtime_up_to_date` covers the runtimes this run checked; the timestamps and
/// failure counts cover every runtime the state holds. A run limited with `--runtime`
/// therefore drops the other runtimes' up-to-date series until the next full run.
pub fn render(run: &RunSummary, report: &Report, state: &State) -> String {
    let mut out = String::new();

    family(
        &mut out,
        "imgwatch_last_run_timestamp_seconds",
        "When the last run finished, in seconds since the Unix epoch.",
    );
    sample(
        &mut out,
        "imgwatch_last_run_timestamp_seconds",
        &[],
        unix_seconds(run.finished_at),
    );
    family(
        &mut out,
        "imgwatch_last_run_duration_seconds",
        "How long the last run took.",
    );
    sample(
        &mut out,
        "imgwatch_last_run_duration_seconds",
        &[],
        run.duration.as_secs_f64(),
    );
    family(
        &mut out,
        "imgwatch_last_run_exit_status",
        "Exit status of the last run: 0 no runtime failed, 1 a runtime failed, \
         2 usage, config or state error, 75 lock held by another run.",
    );
    sample(
        &mut out,
        "imgwatch_last_run_exit_status",
        &[],
        f64::from(run.exit_status),
    );

    family(
        &mut out,
        "imgwatch_last_run_runtimes",
        "Runtimes per status in the last run.",
    );
    for status in STATUSES {
        let count = report.count(status) as f64;
        sample(
            &mut out,
            "imgwatch_last_run_runtimes",
            &[("status", status.as_str())],
            count,
        );
    }
    family(
        &mut out,
        "imgwatch_last_run_containers",
        "Containers per action in the last run (recreated from the new image, removed for \
         the orchestrator to re-provision, rolled back, failed, left unchanged).",
    );
    for (action, name) in ACTIONS {
        let count = report
            .runtimes
            .iter()
            .flat_map(|r| &r.containers)
            .filter(|c| c.action == action)
            .count() as f64;
        sample(
            &mut out,
            "imgwatch_last_run_containers",
            &[("action", name)],
            count,
        );
    }

    family(
        &mut out,
        "imgwatch_runtime_up_to_date",
        "1 when the last run found the runtime on the registry's digest (seeded, unchanged \
         or updated), 0 when it is pending, pulled only, failed or held back.",
    );
    for runtime in &report.runtimes {
        let fresh = matches!(
            runtime.status,
            Status::Seeded | Status::Unchanged | Status::Updated
        );
        let value = if fresh { 1.0 } else { 0.0 };
        sample(
            &mut out,
            "imgwatch_runtime_up_to_date",
            &[("runtime", &runtime.runtime)],
            value,
        );
    }

    let known: BTreeSet<&String> = state.runtimes.keys().collect();
    family(
        &mut out,
        "imgwatch_runtime_last_update_timestamp_seconds",
        "When a refresh of the runtime last succeeded, in seconds since the Unix epoch.",
    );
    for name in &known {
        if let Some(at) = state.runtimes[*name].last_updated {
            let labels = [("runtime", name.as_str())];
            let name = "imgwatch_runtime_last_update_timestamp_seconds";
            sample(&mut out, name, &labels, unix_seconds(at));
        }
    }
    family(
        &mut out,
        "imgwatch_runtime_consecutive_failures",
        "Runs in a row that failed for the runtime.",
    );
    for name in &known {
        let failures = f64::from(state.runtimes[*name].consecutive_failures);
        let labels = [("runtime", name.as_str())];
        sample(
            &mut out,
            "imgwatch_runtime_consecutive_failures",
            &labels,
            failures,
        );
    }

    out
}

/// Replaces the metrics file atomically, so the collector never reads half a file.
pub fn write(path: &Path, text: &str) -> Result<()> {
    crate::atomic::write(path, text.as_bytes())
        .with_context(|| format!("cannot write metrics file {}", path.display()))
}

/// Writes the HELP and TYPE lines of a gauge.
fn family(out: &mut String, name: &str, help: &str) {
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

/// Writes one sample line.
fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        let pairs: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
            .collect();
        let _ = write!(out, "{{{}}}", pairs.join(","));
    }
    let _ = writeln!(out, " {value}");
}

/// Escapes a label value as the text format requires: backslash, quote, newline.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn unix_seconds(at: DateTime<Utc>) -> f64 {
    at.timestamp() as f64 + f64::from(at.timestamp_subsec_millis()) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
    }

    #[test]
    fn prints_numbers_without_exponents() {
        let mut out = String::new();
        sample(&mut out, "m", &[], 1_714_550_400.25);
        sample(&mut out, "m", &[("a", "b")], 0.0);
        assert_eq!(out, "m 1714550400.25\nm{a=\"b\"} 0\n");
    }
}
