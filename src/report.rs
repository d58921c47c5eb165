//! What a run did, per runtime: the data behind the human report and `--json`.

use serde::Serialize;

/// The outcome of one `check` run.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    pub runtimes: Vec<RuntimeReport>,
}

/// One runtime's line of the report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RuntimeReport {
    pub runtime: String,
    /// The reference checked, e.g. `ghcr.io/molecule-ai/workspace-template-x:latest`.
    pub image: String,
    pub status: Status,
    /// The digest the state held before this run, if any.
    pub previous: Option<String>,
    /// The digest the registry serves now, if it could be read.
    pub digest: Option<String>,
    pub containers: Vec<ContainerReport>,
    pub error: Option<String>,
}

/// Where a runtime stands after the run.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// First sight: digest recorded, nothing refreshed.
    Seeded,
    /// Same digest as last time (or only other platforms changed).
    Unchanged,
    /// Moved; not refreshed by this run (report-only or dry run).
    Pending,
    /// Moved and pulled; containers not recreated.
    Pulled,
    /// Moved, pulled and every container brought onto the new image.
    Updated,
    /// Something failed; the state keeps the previous digest.
    Failed,
    /// Held back: a rollout of this digest failed recently and waits for its retry time.
    Skipped,
}

/// One container's part in a runtime's refresh.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ContainerReport {
    pub name: String,
    pub id: String,
    pub action: Action,
    pub error: Option<String>,
}

/// What happened to a container.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Recreated,
    Removed,
    RolledBack,
    Failed,
    Unchanged,
}

impl Status {
    /// The word used in the report and the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Seeded => "seeded",
            Status::Unchanged => "unchanged",
            Status::Pending => "pending",
            Status::Pulled => "pulled",
            Status::Updated => "updated",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

impl Report {
    /// True when any runtime failed: the run exits 1.
    pub fn any_failed(&self) -> bool {
        self.runtimes.iter().any(|r| r.status == Status::Failed)
    }

    /// Number of runtimes with this status.
    pub fn count(&self, status: Status) -> usize {
        self.runtimes.iter().filter(|r| r.status == status).count()
    }
}
