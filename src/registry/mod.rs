//! Registry client: resolve a tag to its digest with as few requests as the protocol allows.

pub mod credentials;
mod platform;

pub use platform::Platform;
pub use credentials::Credentials;
