//! Registry client: resolve a tag to its digest with as few requests as the protocol allows.

mod platform;

pub use platform::Platform;
