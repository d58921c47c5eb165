//! Replacing a file atomically: readers see the old contents or the new, never a mix.

use std::fs::{self, File, Permissions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};

/// Replaces `path` with `contents`: a temporary file in the same directory (named so no
/// `*.json` or `*.prom` reader picks it up), fsync, rename over the target, fsync the
/// directory. Creates the directory if needed. The file is world-readable (0644): the
/// state is read with `jq` and the metrics by node_exporter, often as other users.
pub fn write(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".imgwatch-")
        .suffix(".tmp")
        .permissions(Permissions::from_mode(0o644))
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    temp.write_all(contents)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;

    // The rename is durable only once the directory entry is.
    File::open(dir)?.sync_all()?;
    Ok(())
}
