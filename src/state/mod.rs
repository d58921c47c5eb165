//! The state file: its model, atomic writes, and the lock that keeps runs apart.

mod lock;
mod model;
mod store;

pub use lock::{Lock, LockHeld, acquire, lock_path};
pub use model::{Entry, Held, STATE_VERSION, State};
pub use store::{StateError, load, parse, save};
