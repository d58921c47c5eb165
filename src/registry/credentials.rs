//! Registry credentials and where they come from: the GHCR pair in the environment, then
//! the docker client's config (`auths`, `credsStore`, `credHelpers`).

use std::fmt;

/// A secret the registry (or its token realm) accepts. Never printed: `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// User name and password or personal access token.
    Basic { username: String, password: String },
    /// An identity (refresh) token from `docker login` against an OAuth registry.
    IdentityToken(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => {
                write!(f, "Basic {{ username: {username:?}, password: <redacted> }}")
            }
            Credentials::IdentityToken(_) => write!(f, "IdentityToken(<redacted>)"),
        }
    }
}
