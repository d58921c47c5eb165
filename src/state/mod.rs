//! The state file: its model, atomic writes, and the lock that keeps runs apart.

mod model;

pub use model::{Entry, Held, STATE_VERSION, State};
