//! Registry client: resolve a tag to its digest with as few requests as the protocol allows.

pub mod auth;
pub mod challenge;
pub mod credentials;
pub mod http;
pub mod manifest;
mod platform;
mod session;

pub use credentials::Credentials;
pub use platform::Platform;
pub use session::{Head, Options, Session, is_plain_http};
