//! Where the Docker engine listens, found the way the docker CLI finds it.
//!
//! Order: `$DOCKER_HOST`; then the context named by `$DOCKER_CONTEXT` or by
//! `currentContext` in the client config (`$DOCKER_CONFIG/config.json`, default
//! `~/.docker/config.json`); then the default socket. A context's endpoint lives in
//! `contexts/meta/<sha256 of its name>/meta.json` under the same directory.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The engine address when nothing else names one.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// An engine address and where it came from (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// `unix:///path`, `tcp://host:port` or `http://host:port`.
    pub url: String,
    /// `DOCKER_HOST`, `context 'name'` or `default`.
    pub source: String,
}

/// Resolves the engine address from the process environment.
pub fn resolve() -> Result<Host> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    resolve_with(&env, config_dir(&env).as_deref())
}

/// Resolves the engine address given an environment and the client config directory.
pub fn resolve_with(env: &dyn Fn(&str) -> Option<String>, config: Option<&Path>) -> Result<Host> {
    if let Some(url) = env("DOCKER_HOST") {
        return Ok(Host {
            url,
            source: "DOCKER_HOST".to_string(),
        });
    }

    let context = match env("DOCKER_CONTEXT") {
        Some(name) => Some(name),
        None => match config {
            Some(dir) => current_context(dir)?,
            None => None,
        },
    };
    match context.as_deref() {
        None | Some("default") => Ok(Host {
            url: DEFAULT_HOST.to_string(),
            source: "default".to_string(),
        }),
        Some(name) => {
            let Some(dir) = config else {
                bail!(
                    "docker context '{name}' is selected but no client config directory is known"
                );
            };
            let url = context_host(dir, name)?;
            Ok(Host {
                url,
                source: format!("context '{name}'"),
            })
        }
    }
}

fn config_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(dir) = env("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir));
    }
    env("HOME").map(|home| PathBuf::from(home).join(".docker"))
}

#[derive(Deserialize)]
struct ClientConfig {
    #[serde(rename = "currentContext")]
    current_context: Option<String>,
}

fn current_context(dir: &Path) -> Result<Option<String>> {
    let path = dir.join("config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let config: ClientConfig =
        serde_json::from_str(&text).with_context(|| format!("cannot parse {}", path.display()))?;
    Ok(config.current_context.filter(|c| !c.is_empty()))
}

#[derive(Deserialize)]
struct ContextMeta {
    #[serde(rename = "Endpoints")]
    endpoints: std::collections::HashMap<String, Endpoint>,
}

#[derive(Deserialize)]
struct Endpoint {
    #[serde(rename = "Host")]
    host: Option<String>,
}

fn context_host(dir: &Path, name: &str) -> Result<String> {
    let id = hex::encode(Sha256::digest(name.as_bytes()));
    let path = dir.join("contexts").join("meta").join(id).join("meta.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("docker context '{name}': cannot read {}", path.display()))?;
    let meta: ContextMeta = serde_json::from_str(&text)
        .with_context(|| format!("docker context '{name}': cannot parse {}", path.display()))?;
    meta.endpoints
        .get("docker")
        .and_then(|e| e.host.clone())
        .filter(|h| !h.is_empty())
        .with_context(|| format!("docker context '{name}' has no docker endpoint host"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn docker_host_wins() {
        let host = resolve_with(&env(&[("DOCKER_HOST", "tcp://10.0.0.1:2375")]), None).unwrap();
        assert_eq!(host.url, "tcp://10.0.0.1:2375");
        assert_eq!(host.source, "DOCKER_HOST");
    }

    #[test]
    fn falls_back_to_the_default_socket() {
        let dir = tempfile::tempdir().unwrap();
        let host = resolve_with(&env(&[]), Some(dir.path())).unwrap();
        assert_eq!(host.url, DEFAULT_HOST);
    }

    #[test]
    fn follows_the_current_context() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"currentContext":"remote"}"#,
        )
        .unwrap();
        let id = hex::encode(Sha256::digest(b"remote"));
        let meta = dir.path().join("contexts/meta").join(id);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"remote","Endpoints":{"docker":{"Host":"unix:///run/other.sock"}}}"#,
        )
        .unwrap();
        let host = resolve_with(&env(&[]), Some(dir.path())).unwrap();
        assert_eq!(host.url, "unix:///run/other.sock");
        assert_eq!(host.source, "context 'remote'");

        // DOCKER_CONTEXT=default overrides the file.
        let host = resolve_with(&env(&[("DOCKER_CONTEXT", "default")]), Some(dir.path())).unwrap();
        assert_eq!(host.url, DEFAULT_HOST);
    }

    #[test]
    fn a_missing_context_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = resolve_with(&env(&[("DOCKER_CONTEXT", "gone")]), Some(dir.path())).unwrap_err();
        assert!(format!("{err:#}").contains("'gone'"), "{err:#}");
    }
}
