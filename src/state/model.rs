//! The state file's contents: per runtime, the digest last brought in and what happened.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The version this build writes and the newest it reads.
pub const STATE_VERSION: u32 = 1;

/// Everything the state file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub version: u32,
    #[serde(default)]
    pub runtimes: BTreeMap<String, Entry>,
}

impl Default for State {
    fn default() -> Self {
        State {
            version: STATE_VERSION,
            runtimes: BTreeMap::new(),
        }
    }
}

/// One runtime's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The reference watched.
    pub image: String,
    /// The tag's digest (an index digest for multi-platform tags) last brought in.
    pub digest: String,
    /// The platform the platform digest was chosen for.
    #[serde(default)]
    pub platform: Option<String>,
    /// The digest of the manifest for `platform`; equal to `digest` for single manifests.
    #[serde(default)]
    pub platform_digest: Option<String>,
    /// When `digest` was first seen.
    pub first_seen: DateTime<Utc>,
    /// When the registry was last asked.
    pub last_checked: DateTime<Utc>,
    /// When a refresh (pull and recreate) last succeeded.
    #[serde(default)]
    pub last_updated: Option<DateTime<Utc>>,
    /// The last run's error for this runtime, cleared by a success.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Runs in a row that failed for this runtime.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// A digest whose rollout failed, held back until its retry time.
    #[serde(default)]
    pub held: Option<Held>,
}

/// A digest whose rollout failed and is retried after a backoff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    pub digest: String,
    pub attempts: u32,
    pub last_attempt: DateTime<Utc>,
    pub retry_at: DateTime<Utc>,
}
