//! Reading and writing the state file: strict on read, atomic on write.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::model::{STATE_VERSION, State};
use crate::reference::check_digest;

/// A state file that cannot be used as it is. The file is never touched.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "state file {path} cannot be read: {reason}\n\
         hint: run `imgwatch forget --all` to start afresh, or move the file away"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "state file {path} has version {found}, newer than the {STATE_VERSION} this imgwatch \
         understands\nhint: upgrade imgwatch, or run `imgwatch forget --all` to start afresh"
    )]
    Newer { path: PathBuf, found: u64 },
}

/// Loads the state; a missing file is an empty state.
pub fn load(path: &Path) -> Result<State> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read state file {}", path.display()));
        }
    };
    parse(&bytes, path)
}

/// Parses a state file's bytes; `path` is only used in messages.
pub fn parse(bytes: &[u8], path: &Path) -> Result<State> {
    let corrupt = |reason: String| StateError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };

    // The version is read first, so a newer file is named as such rather than as corrupt.
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| corrupt(format!("not JSON: {e}")))?;
    let version = value
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| corrupt("no numeric 'version' field".to_string()))?;
    if version > u64::from(STATE_VERSION) {
        return Err(StateError::Newer {
            path: path.to_path_buf(),
            found: version,
        }
        .into());
    }
    let state: State = serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))?;

    // A digest no registry can serve never matches the remote one: it would read as a
    // moved image and refresh containers for nothing.
    for (runtime, entry) in &state.runtimes {
        let digests = [Some(&entry.digest), entry.platform_digest.as_ref()];
        let held = entry.held.as_ref().map(|h| &h.digest);
        for digest in digests.into_iter().chain([held]).flatten() {
            check_digest(digest).map_err(|e| corrupt(format!("runtime '{runtime}': {e}")))?;
        }
    }
    Ok(state)
}

/// Writes the state atomically: a temporary file in the same directory, fsync, rename over
/// the old file, fsync the directory. A crash leaves either the old or the new file.
pub fn save(path: &Path, state: &State) -> Result<()> {
    let mut text = serde_json::to_string_pretty(state).context("cannot encode the state")?;
    text.push('\n');
    crate::atomic::write(path, text.as_bytes())
        .with_context(|| format!("cannot write state file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Entry;
    use chrono::{TimeZone, Utc};

    fn sample() -> State {
        let t = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let mut state = State::default();
        state.runtimes.insert(
            "langgraph".into(),
            Entry {
                image: "ghcr.io/a/b:latest".into(),
                digest: format!("sha256:{}", "a".repeat(64)),
                platform: Some("linux/amd64".into()),
                platform_digest: Some(format!("sha256:{}", "b".repeat(64))),
                first_seen: t,
                last_checked: t,
                last_updated: None,
                last_error: None,
                consecutive_failures: 0,
                held: None,
            },
        );
        state
    }

    #[test]
    fn round_trips_through_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.json");
        save(&path, &sample()).unwrap();
        assert_eq!(load(&path).unwrap(), sample());
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn missing_file_is_empty_state() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            load(&dir.path().join("none.json")).unwrap(),
            State::default()
        );
    }

    #[test]
    fn refuses_corrupt_and_newer_files() {
        let path = Path::new("/var/lib/imgwatch/state.json");
        for bytes in [
            &b"{"[..],
            b"[]",
            br#"{"version":"1"}"#,
            br#"{"version":1,"runtimes":5}"#,
        ] {
            let error = parse(bytes, path).unwrap_err().to_string();
            assert!(
                error.contains("forget --all") && error.contains("state.json"),
                "{error}"
            );
        }
        // Valid JSON with a digest no registry serves would read as a moved image.
        let mut bad = serde_json::to_value(sample()).unwrap();
        bad["runtimes"]["langgraph"]["digest"] = "sha256:abc".into();
        let error = parse(bad.to_string().as_bytes(), path)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("langgraph") && error.contains("sha256:abc") && error.contains("forget"),
            "{error}"
        );
        let mut bad = serde_json::to_value(sample()).unwrap();
        bad["runtimes"]["langgraph"]["platform_digest"] = "md5:00".into();
        assert!(parse(bad.to_string().as_bytes(), path).is_err());

        let error = parse(br#"{"version": 9, "anything": true}"#, path)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("version 9") && error.contains("upgrade"),
            "{error}"
        );
    }
}
