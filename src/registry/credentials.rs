//! Registry credentials and where they come from: the GHCR pair in the environment, then
//! the docker client's config (`auths`, `credsStore`, `credHelpers`).

use std::fmt;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Longest a credential helper may take, and never more than half the run's time left.
/// A helper waiting for a keyring to be unlocked would otherwise hold the run, and with
/// it the lock every later run waits for, without end.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(30);

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
                write!(
                    f,
                    "Basic {{ username: {username:?}, password: <redacted> }}"
                )
            }
            Credentials::IdentityToken(_) => write!(f, "IdentityToken(<redacted>)"),
        }
    }
}

/// Where a credential was found, for the log line that says which source was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `$GHCR_USER` and `$GHCR_TOKEN`.
    GhcrEnv,
    /// The docker client's `config.json` or a credential helper it names.
    DockerConfig,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::GhcrEnv => "$GHCR_USER/$GHCR_TOKEN",
            Source::DockerConfig => "the docker client config",
        })
    }
}

/// Finds credentials for a registry host: the GHCR pair first (for `ghcr.io` only), then
/// the docker client config. `None` means anonymous access.
///
/// A broken docker config or a failing or silent credential helper is logged and treated
/// as no credentials: public images still resolve, and a private one fails with the
/// registry's own 401, which says more than a helper's error.
pub fn lookup(
    registry: &str,
    env: &dyn Fn(&str) -> Option<String>,
    deadline: Instant,
) -> Option<(Credentials, Source)> {
    if registry == "ghcr.io" {
        let user = env("GHCR_USER").filter(|v| !v.is_empty());
        let token = env("GHCR_TOKEN").filter(|v| !v.is_empty());
        match (user, token) {
            (Some(username), Some(password)) => {
                return Some((Credentials::Basic { username, password }, Source::GhcrEnv));
            }
            (Some(_), None) | (None, Some(_)) => {
                tracing::warn!("only one of GHCR_USER and GHCR_TOKEN is set; ignoring both");
            }
            (None, None) => {}
        }
    }

    // The docker CLI files Docker Hub credentials under its v1 index address.
    let server = if registry == crate::reference::DOCKER_HUB {
        "https://index.docker.io/v1/"
    } else {
        registry
    };
    use docker_credential::{CredentialRetrievalError as E, DockerCredential};
    let budget = (deadline.saturating_duration_since(Instant::now()) / 2).min(HELPER_TIMEOUT);
    let Some(answer) = docker_config_credential(server, budget) else {
        let helper = helper_name(server, env).unwrap_or_else(|| "credential helper".into());
        tracing::warn!(
            registry,
            "{helper} gave no answer within {}s; trying anonymously",
            budget.as_secs()
        );
        return None;
    };
    match answer {
        Ok(DockerCredential::UsernamePassword(username, password)) => Some((
            Credentials::Basic { username, password },
            Source::DockerConfig,
        )),
        Ok(DockerCredential::IdentityToken(token)) => {
            Some((Credentials::IdentityToken(token), Source::DockerConfig))
        }
        Err(E::NoCredentialConfigured | E::ConfigNotFound) => None,
        Err(E::ConfigReadError) => {
            // Missing and unreadable look the same from here; only say so when it exists.
            if let Some(path) = docker_config_path(env).filter(|p| p.exists()) {
                tracing::warn!(path = %path.display(), "cannot read the docker client config");
            }
            None
        }
        // A credential store asked for a host it holds nothing for: the usual case for a
        // public registry on a desktop login, not worth a warning every run.
        Err(E::HelperFailure { helper, stdout, .. })
            if stdout.contains("credentials not found") =>
        {
            tracing::debug!(registry, helper, "credential helper holds nothing for it");
            None
        }
        Err(E::HelperFailure { helper, .. }) => {
            // The helper's output is not logged: it may echo what it was given.
            tracing::warn!(
                registry,
                helper,
                "credential helper failed; trying anonymously"
            );
            None
        }
        Err(error) => {
            tracing::warn!(registry, %error, "cannot get credentials; trying anonymously");
            None
        }
    }
}

/// Asks the docker client config (and any helper it names), giving up after `budget`.
///
/// The lookup runs on a thread of its own because the helper cannot be given a timeout.
/// When it is given up on, the helper process is left to finish on its own; it holds
/// nothing of the run's (file descriptors are not inherited), and under systemd it ends
/// with the unit.
fn docker_config_credential(
    server: &str,
    budget: Duration,
) -> Option<Result<docker_credential::DockerCredential, docker_credential::CredentialRetrievalError>>
{
    let (sender, receiver) = mpsc::channel();
    let server = server.to_string();
    std::thread::spawn(move || {
        let _ = sender.send(docker_credential::get_credential(&server));
    });
    receiver.recv_timeout(budget).ok()
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, as the docker client has it.
fn docker_config_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let dir = env("DOCKER_CONFIG").or_else(|| env("HOME").map(|h| format!("{h}/.docker")))?;
    Some(PathBuf::from(dir).join("config.json"))
}

/// The helper program the docker client config names for `server`, for messages.
fn helper_name(server: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let bytes = std::fs::read(docker_config_path(env)?).ok()?;
    let config: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let name = config["credHelpers"][server]
        .as_str()
        .or_else(|| config["credsStore"].as_str())?;
    Some(format!("docker-credential-{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let basic = Credentials::Basic {
            username: "bot".into(),
            password: "hunter2".into(),
        };
        let token = Credentials::IdentityToken("tok-secret".into());
        let text = format!("{basic:?} {token:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("tok-secret"),
            "{text}"
        );
        assert!(text.contains("bot"));
    }

    #[test]
    fn ghcr_pair_wins_for_ghcr_only() {
        let env = |k: &str| match k {
            "GHCR_USER" => Some("bot".to_string()),
            "GHCR_TOKEN" => Some("pat".to_string()),
            "DOCKER_CONFIG" => Some("/nonexistent-imgwatch".to_string()),
            _ => None,
        };
        let (creds, source) = lookup("ghcr.io", &env, Instant::now()).unwrap();
        assert_eq!(source, Source::GhcrEnv);
        assert_eq!(
            creds,
            Credentials::Basic {
                username: "bot".into(),
                password: "pat".into()
            }
        );
    }
}
