//! The commands: each resolves its settings, does its work, and returns what to print.

mod check;
mod commands;
pub mod decide;
mod finish;
mod resolve;

pub use check::{Checked, check};
pub use commands::{digest, forget, status};
pub use finish::finish;
pub use resolve::{Resolution, Target, resolve_all};

/// Exit status: no runtime failed.
pub const EXIT_OK: u8 = 0;
/// Exit status: one or more runtimes failed; the others were still handled.
pub const EXIT_FAILED: u8 = 1;
/// Exit status: a usage, configuration or state error before any work.
pub const EXIT_USAGE: u8 = 2;
/// Exit status: another run held the lock past `--wait` (EX_TEMPFAIL).
pub const EXIT_LOCKED: u8 = 75;

/// An error that ends a command, with the exit status it maps to.
#[derive(Debug)]
pub struct Fatal {
    pub status: u8,
    pub error: anyhow::Error,
}

impl Fatal {
    /// A usage, configuration or state error: nothing was done.
    pub fn usage(error: anyhow::Error) -> Fatal {
        Fatal {
            status: EXIT_USAGE,
            error,
        }
    }

    /// A failure after work began.
    pub fn failure(error: anyhow::Error) -> Fatal {
        Fatal {
            status: EXIT_FAILED,
            error,
        }
    }

    /// A lock error: 75 when another run holds it, 2 when the lock file is unusable.
    pub fn from_lock(error: anyhow::Error) -> Fatal {
        if error.downcast_ref::<crate::state::LockHeld>().is_some() {
            Fatal {
                status: EXIT_LOCKED,
                error,
            }
        } else {
            Fatal::usage(error)
        }
    }
}
