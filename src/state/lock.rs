//! The lock that keeps runs apart: an exclusive `flock` on a file beside the state file,
//! holding the owner's PID so a waiting run can say who holds it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Another run held the lock for longer than the wait allowed.
#[derive(Debug, thiserror::Error)]
#[error(
    "another imgwatch run{} holds {}; gave up after waiting {}\n\
     hint: wait for it, or raise --wait",
    holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default(),
    path.display(),
    humantime::format_duration(*waited)
)]
pub struct LockHeld {
    pub path: PathBuf,
    pub holder: Option<u32>,
    pub waited: Duration,
}

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// The lock file for a state file: `state.json.lock`.
pub fn lock_path(state: &Path) -> PathBuf {
    let mut name = state.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    state.with_file_name(name)
}

/// Takes the lock, waiting up to `wait` for another run to finish.
pub fn acquire(state: &Path, wait: Duration) -> Result<Lock> {
    let path = lock_path(state);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let (mut file, writable) = open(&path)?;

    let started = Instant::now();
    let mut announced = false;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {
                if started.elapsed() >= wait {
                    let holder = read_pid(&mut file);
                    return Err(LockHeld {
                        path,
                        holder,
                        waited: wait,
                    }
                    .into());
                }
                if !announced {
                    announced = true;
                    let holder = read_pid(&mut file)
                        .map(|p| format!(" (pid {p})"))
                        .unwrap_or_default();
                    tracing::info!("waiting for another imgwatch run{holder} to finish");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
    }

    if writable {
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        file.flush()?;
    }
    Ok(Lock { _file: file })
}

/// Opens the lock file, read-write when allowed. A lock file another user created (root
/// running `imgwatch forget` by hand before the service's first run, say) can still be
/// locked read-only; the holder's PID is then not recorded.
fn open(path: &Path) -> Result<(File, bool)> {
    let read_write = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path);
    match read_write {
        Ok(file) => Ok((file, true)),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            let file = File::open(path)
                .with_context(|| format!("cannot open lock file {}", path.display()))?;
            Ok((file, false))
        }
        Err(e) => Err(e).with_context(|| format!("cannot open lock file {}", path.display())),
    }
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_taker_times_out_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        let _held = acquire(&state, Duration::ZERO).unwrap();
        let error = acquire(&state, Duration::from_millis(150)).unwrap_err();
        let held = error.downcast_ref::<LockHeld>().expect("a LockHeld error");
        assert_eq!(held.holder, Some(std::process::id()));
        assert!(error.to_string().contains("state.json.lock"), "{error}");
    }

    #[test]
    fn released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        drop(acquire(&state, Duration::ZERO).unwrap());
        acquire(&state, Duration::ZERO).unwrap();
    }
}
