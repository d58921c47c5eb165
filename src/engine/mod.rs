//! The Docker Engine API facade: one blocking handle over bollard for the rest of imgwatch.
//!
//! imgwatch is a one-shot, blocking program; the engine client is async. `Engine` owns a
//! current-thread tokio runtime and blocks on each call, so callers stay plain functions.
//! One file per Engine API area: `images` (lists, inspects, pull), `containers` (the
//! operations a refresh needs), `host` (where the engine listens), `progress` (pull
//! progress display).

mod containers;
pub mod host;
mod images;
mod progress;

use std::future::Future;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use bollard::Docker;

pub use images::{Pulled, same_repository_digests};

/// How long a plain request may take before it counts as hung.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the first contact may take: a dead socket should fail fast.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// A connected Docker engine. Methods block.
pub struct Engine {
    docker: Docker,
    runtime: tokio::runtime::Runtime,
    host: host::Host,
}

impl Engine {
    /// Connects to the engine named by `$DOCKER_HOST`, the docker context, or the default
    /// socket; negotiates the API version and pings it.
    pub fn connect() -> Result<Engine> {
        let host = host::resolve()?;
        Self::connect_to(host)
    }

    /// Connects to one engine address.
    pub fn connect_to(host: host::Host) -> Result<Engine> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the engine client runtime")?;
        let hint = || hint(&host);

        if std::env::var_os("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty()) {
            bail!(
                "engine at {} ({}): TLS connections to the engine are not supported; \
                 reach it through a unix socket or an ssh tunnel instead",
                host.url,
                host.source
            );
        }
        let docker = Docker::connect_with_host(&host.url)
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("cannot use engine address {} ({})", host.url, host.source))
            .with_context(hint)?
            .with_timeout(REQUEST_TIMEOUT);

        let docker = runtime
            .block_on(async {
                let docker = tokio::time::timeout(PING_TIMEOUT, docker.negotiate_version())
                    .await
                    .map_err(|_| anyhow!("no answer within {}s", PING_TIMEOUT.as_secs()))??;
                tokio::time::timeout(PING_TIMEOUT, docker.ping())
                    .await
                    .map_err(|_| anyhow!("no answer within {}s", PING_TIMEOUT.as_secs()))??;
                Ok::<_, anyhow::Error>(docker)
            })
            .with_context(|| format!("cannot reach the Docker engine at {}", host.url))
            .with_context(hint)?;
        tracing::debug!(
            host = %host.url,
            source = %host.source,
            api = %docker.client_version(),
            "connected to the Docker engine"
        );
        Ok(Engine {
            docker,
            runtime,
            host,
        })
    }

    /// The address this engine was reached at.
    pub fn host(&self) -> &host::Host {
        &self.host
    }

    /// The engine's API version after negotiation, e.g. `1.41`.
    pub fn api_version(&self) -> String {
        self.docker.client_version().to_string()
    }

    /// The engine's platform: `os/arch`, with the variant this machine would use.
    pub fn platform(&self) -> Result<crate::registry::Platform> {
        let version = self
            .block_on(self.docker.version())
            .context("engine version")?;
        let os = version
            .os
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "linux".to_string());
        let architecture = version
            .arch
            .filter(|s| !s.is_empty())
            .context("the engine reported no architecture")?;

        // The engine does not report a variant; the host's is right when the engine runs
        // on this machine, and no variant matches any when it does not.
        let local = crate::registry::Platform::host();
        let variant = (local.architecture == architecture)
            .then_some(local.variant)
            .flatten();
        Ok(crate::registry::Platform {
            os,
            architecture,
            variant,
        })
    }

    /// Runs one engine future to completion on the engine's runtime.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// The bollard client, for calls this facade does not wrap.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }
}

fn hint(host: &host::Host) -> String {
    if host.url.starts_with("unix://") {
        format!(
            "is dockerd running and may this user open {}? (set DOCKER_HOST to use another \
             engine, or run as root or a member of the docker group)",
            host.url.trim_start_matches("unix://")
        )
    } else {
        "is the engine listening there? (DOCKER_HOST and the docker context select the engine)"
            .to_string()
    }
}

/// True when the engine answered 404 (no such container, image or network).
pub fn is_not_found(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// True when the engine answered 409 (conflict: name in use, image in use).
pub fn is_conflict(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            ..
        }
    )
}
