//! Shared helpers for the integration tests: a real registry, the real engine, test images.

// Every topic module uses a different part of the harness, so some helpers are unused in
// any one build of a subset; that is expected, not dead code.
#![allow(dead_code, unused_imports)]

pub mod engine;
pub mod fake;
pub mod image;
pub mod layer;
pub mod registry;
pub mod sandbox;

pub use engine::{Scope, docker, inspect, require_engine, try_docker};
pub use fake::{Answer, FakeRegistry};
pub use image::TestImage;
pub use registry::{Pushed, TestRegistry};
pub use sandbox::{Ran, Sandbox, run};

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// A name part unique to this test process and call, such as `it3f9a2c01-0007`.
///
/// The process part is random, so names from concurrent test processes (nextest runs one
/// process per test) and from earlier runs never collide. The counter has a fixed width so
/// that no name contains another (the engine's name filters match substrings).
pub fn unique(prefix: &str) -> String {
    static PROCESS: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let process = PROCESS.get_or_init(|| {
        // The standard library seeds RandomState from the OS; that is random enough here.
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        format!("{:08x}", hasher.finish() as u32)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{process}-{n:04}")
}
