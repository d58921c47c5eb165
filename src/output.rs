//! What goes to stdout: the report, one line per runtime, or one JSON object.

use std::io::{self, Write};

use crate::report::{Action, Report, RuntimeReport, Status};
use crate::state::State;

/// Writes the report in the requested form.
pub fn report(out: &mut dyn Write, report: &Report, json: bool) -> io::Result<()> {
    if json {
        serde_json::to_writer(&mut *out, report)?;
        return writeln!(out);
    }
    let width = report
        .runtimes
        .iter()
        .map(|r| r.runtime.len())
        .max()
        .unwrap_or(0);
    for line in &report.runtimes {
        writeln!(
            out,
            "{:width$}  {:9}  {}",
            line.runtime,
            line.status.as_str(),
            detail(line)
        )?;
    }
    Ok(())
}

/// The free text after a runtime's status.
fn detail(line: &RuntimeReport) -> String {
    let digest = line.digest.as_deref().map(short).unwrap_or("-");
    let moved = match &line.previous {
        Some(previous) if line.digest.as_deref() != Some(previous.as_str()) => {
            format!("{} -> {digest}", short(previous))
        }
        _ => digest.to_string(),
    };
    let mut text = match line.status {
        Status::Seeded | Status::Unchanged => digest.to_string(),
        Status::Failed | Status::Skipped if line.error.is_some() => String::new(),
        _ => moved,
    };
    let containers = containers(line);
    if !containers.is_empty() {
        text.push_str(&format!("  ({containers})"));
    }
    if let Some(error) = &line.error {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(error);
    }
    text
}

/// `recreated ws-1, ws-2; rolled back ws-3` style summary of container actions. A
/// pending runtime's containers are what a dry run would do.
fn containers(line: &RuntimeReport) -> String {
    let would = line.status == Status::Pending;
    let mut parts = Vec::new();
    for (action, word) in [
        (
            Action::Recreated,
            if would { "would recreate" } else { "recreated" },
        ),
        (
            Action::Removed,
            if would { "would remove" } else { "removed" },
        ),
        (Action::RolledBack, "rolled back"),
        (Action::Failed, "failed"),
    ] {
        let names: Vec<&str> = line
            .containers
            .iter()
            .filter(|c| c.action == action)
            .map(|c| c.name.as_str())
            .collect();
        if !names.is_empty() {
            parts.push(format!("{word} {}", names.join(", ")));
        }
    }
    parts.join("; ")
}

/// `sha256:` and the first 12 hex digits: enough to tell digests apart by eye.
pub fn short(digest: &str) -> &str {
    let end = digest.find(':').map_or(0, |i| i + 1) + 12;
    digest.get(..end).unwrap_or(digest)
}

/// Writes `imgwatch status`: one line per runtime, or the state as JSON.
pub fn status(out: &mut dyn Write, state: &State, json: bool) -> io::Result<()> {
    if json {
        let runtimes: Vec<serde_json::Value> = state
            .runtimes
            .iter()
            .map(|(name, entry)| {
                let mut value = serde_json::to_value(entry).unwrap_or_default();
                if let Some(object) = value.as_object_mut() {
                    object.insert("runtime".into(), name.clone().into());
                }
                value
            })
            .collect();
        serde_json::to_writer(&mut *out, &serde_json::json!({ "runtimes": runtimes }))?;
        return writeln!(out);
    }
    if state.runtimes.is_empty() {
        return writeln!(out, "no runtimes recorded yet (run imgwatch check)");
    }
    let width = state.runtimes.keys().map(String::len).max().unwrap_or(0);
    let time = |t: &chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%SZ").to_string();
    for (name, entry) in &state.runtimes {
        let mut text = format!(
            "{name:width$}  {}  first seen {}  checked {}",
            short(&entry.digest),
            time(&entry.first_seen),
            time(&entry.last_checked)
        );
        if let Some(held) = &entry.held {
            text.push_str(&format!(
                "  held {} after {} failed rollout(s) until {}",
                short(&held.digest),
                held.attempts,
                time(&held.retry_at)
            ));
        }
        if let Some(error) = &entry.last_error {
            text.push_str(&format!("  last error: {error}"));
        }
        writeln!(out, "{text}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ContainerReport;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn line(status: Status) -> RuntimeReport {
        RuntimeReport {
            runtime: "langgraph".into(),
            image: "ghcr.io/x/y:latest".into(),
            status,
            previous: Some(d('a')),
            digest: Some(d('b')),
            containers: vec![],
            error: None,
        }
    }

    #[test]
    fn human_lines_say_what_moved() {
        let mut report = Report {
            runtimes: vec![line(Status::Pending), line(Status::Unchanged)],
        };
        report.runtimes[1].runtime = "crewai".into();
        let mut failed = line(Status::Failed);
        failed.error = Some("HEAD https://ghcr.io/v2/x/manifests/latest: 500".into());
        failed.runtime = "autogen".into();
        report.runtimes.push(failed);
        let mut updated = line(Status::Updated);
        updated.containers.push(ContainerReport {
            name: "ws-1".into(),
            id: "abc".into(),
            action: Action::Recreated,
            error: None,
        });
        report.runtimes.push(updated);
        let mut out = Vec::new();
        super::report(&mut out, &report, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "langgraph  pending    sha256:aaaaaaaaaaaa -> sha256:bbbbbbbbbbbb"
        );
        assert_eq!(lines[1], "crewai     unchanged  sha256:bbbbbbbbbbbb");
        assert_eq!(
            lines[2],
            "autogen    failed     HEAD https://ghcr.io/v2/x/manifests/latest: 500"
        );
        assert!(lines[3].ends_with("(recreated ws-1)"), "{}", lines[3]);
    }

    #[test]
    fn json_has_the_documented_shape() {
        let report = Report {
            runtimes: vec![line(Status::Seeded)],
        };
        let mut out = Vec::new();
        super::report(&mut out, &report, true).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let first = &value["runtimes"][0];
        for key in [
            "runtime",
            "image",
            "status",
            "previous",
            "digest",
            "containers",
            "error",
        ] {
            assert!(first.get(key).is_some(), "missing {key}");
        }
        assert_eq!(first["status"], "seeded");
        assert!(first["error"].is_null());
    }

    #[test]
    fn short_digests() {
        assert_eq!(short(&d('f')), "sha256:ffffffffffff");
        assert_eq!(short("weird"), "weird");
    }
}
