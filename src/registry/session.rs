//! A conversation with one registry: one `/v2/` ping, one token for every repository the
//! run needs there, then manifest HEADs (and GETs only where a digest moved).

use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};

use super::Platform;
use super::auth::{self, Scheme};
use super::challenge;
use super::credentials::{self, Credentials};
use super::http;
use super::manifest::{self, MAX_MANIFEST_BYTES};
use crate::reference::{DOCKER_HUB, check_digest};

/// What a manifest HEAD (or, lacking a digest header, a GET) told about a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The tag's digest: an index digest for a multi-platform tag.
    pub digest: String,
    /// The media type the registry served.
    pub media_type: String,
    /// The body, when a GET was needed to learn the digest.
    pub body: Option<Vec<u8>>,
}

impl Head {
    /// True when the tag holds an index (several platforms).
    pub fn is_index(&self) -> bool {
        manifest::is_index(&self.media_type)
    }
}

/// Settings shared by every session of a run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Registries spoken to over plain HTTP besides loopback ones.
    pub insecure_registries: Vec<String>,
    /// When the registry part of the run must be over.
    pub deadline: Instant,
}

/// An authenticated conversation with one registry.
pub struct Session {
    http: Client,
    registry: String,
    base: String,
    plain_http: bool,
    deadline: Instant,
    credentials: Option<Credentials>,
    /// Pull scopes for every repository of the run on this registry.
    scopes: Vec<String>,
    /// The current `Authorization` value; replaced when the registry asks again.
    authorization: Mutex<Option<HeaderValue>>,
}

impl Session {
    /// Opens a session: pings `/v2/` and authenticates for `repositories` at once.
    pub fn open(
        http: Client,
        registry: &str,
        repositories: &[String],
        options: &Options,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Session> {
        let plain_http = is_plain_http(registry, &options.insecure_registries);
        let host = if registry == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            registry
        };
        let base = format!("{}://{host}", if plain_http { "http" } else { "https" });
        let credentials =
            credentials::lookup(registry, env, options.deadline).map(|(credentials, source)| {
                tracing::debug!(registry, "using credentials from {source}");
                credentials
            });
        let session = Session {
            http,
            registry: registry.to_string(),
            base,
            plain_http,
            deadline: options.deadline,
            credentials,
            scopes: repositories.iter().map(|r| auth::pull_scope(r)).collect(),
            authorization: Mutex::new(None),
        };

        // The ping's challenge names the realm; it carries no scope, so build our own.
        let url = format!("{}/v2/", session.base);
        let response = http::send("GET", &url, session.deadline, &|| session.http.get(&url))?;
        match response.status() {
            status if status.is_success() => {}
            StatusCode::UNAUTHORIZED => {
                session.refuse_foreign_challenge("GET", &url, &response)?;
                let value = session.authenticate(&response)?;
                *session
                    .authorization
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(value);
            }
            // Some registries and proxies serve no `/v2/` endpoint (404) or refuse it
            // alone. The docker engine carries on without a challenge then, and so does
            // imgwatch: a manifest request that needs auth brings its own 401.
            status if status.is_client_error() => {
                tracing::debug!("GET {url}: {status}; going on without a challenge");
            }
            _ => return Err(http::status_error("GET", &url, response).into()),
        }
        Ok(session)
    }

    /// The registry host this session talks to.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The credentials used, to hand on to the engine for a pull.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// HEADs a manifest; GETs it once if the registry sends no digest header.
    pub fn head(&self, repository: &str, target: &str) -> Result<Head> {
        let url = format!("{}/v2/{repository}/manifests/{target}", self.base);
        let response = self.request("HEAD", &url, repository, &|| self.http.head(&url))?;
        let media_type = header(&response, CONTENT_TYPE.as_str()).unwrap_or_default();
        manifest::check_served(&media_type).with_context(|| format!("HEAD {url}"))?;
        match header(&response, "docker-content-digest") {
            Some(digest) => {
                check_digest(&digest)
                    .with_context(|| format!("HEAD {url}: Docker-Content-Digest"))?;
                Ok(Head {
                    digest,
                    media_type,
                    body: None,
                })
            }
            None => {
                tracing::debug!("HEAD {url}: no Docker-Content-Digest; hashing the manifest");
                let (media_type, body) = self.get(repository, target)?;
                Ok(Head {
                    digest: manifest::digest_of(&body),
                    media_type,
                    body: Some(body),
                })
            }
        }
    }

    /// GETs a manifest body, checking its size, type and, for a digest target, its digest.
    pub fn get(&self, repository: &str, target: &str) -> Result<(String, Vec<u8>)> {
        let url = format!("{}/v2/{repository}/manifests/{target}", self.base);
        let response = self.request("GET", &url, repository, &|| self.http.get(&url))?;
        let served = header(&response, CONTENT_TYPE.as_str());
        if let Some(served) = &served {
            manifest::check_served(served).with_context(|| format!("GET {url}"))?;
        }
        let body = http::read_capped(response, MAX_MANIFEST_BYTES)
            .with_context(|| format!("GET {url}"))?;
        let media_type = served
            .filter(|t| manifest::check_media_type(t).is_ok())
            .or_else(|| manifest::declared_media_type(&body))
            .unwrap_or_default();
        manifest::check_media_type(&media_type).with_context(|| format!("GET {url}"))?;
        if target.starts_with("sha256:") && manifest::digest_of(&body) != target {
            bail!(
                "GET {url}: the body's digest is {}, not the one asked for",
                manifest::digest_of(&body)
            );
        }
        Ok((media_type, body))
    }

    /// The digest of the manifest serving `platform` under a tag whose HEAD is `head`.
    ///
    /// A single manifest serves every platform it is pulled on, so its own digest is the
    /// answer; for an index, the index is fetched (by digest) and the entry chosen. When
    /// the HEAD named no usable type, the manifest is fetched to learn it.
    pub fn platform_digest(
        &self,
        repository: &str,
        head: &Head,
        platform: &Platform,
    ) -> Result<String> {
        if !head.is_index() && manifest::is_accepted(&head.media_type) {
            return Ok(head.digest.clone());
        }
        let (media_type, body) = match &head.body {
            Some(body) => (head.media_type.clone(), body.clone()),
            None => self.get(repository, &head.digest)?,
        };
        if !manifest::is_index(&media_type) {
            return Ok(head.digest.clone());
        }
        manifest::select_platform(&body, platform)
            .with_context(|| format!("{}/{repository}@{}", self.registry, head.digest))
    }

    /// Sends an authenticated request; on 401 (an expired token, or a scope the ping
    /// could not know) retries with fresh authorization: one a concurrent request
    /// already renewed, or one renewed here, at most once per request.
    fn request(
        &self,
        method: &str,
        url: &str,
        repository: &str,
        build: &dyn Fn() -> RequestBuilder,
    ) -> Result<Response> {
        let mut renewed_here = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let authorization = self.current_authorization();
            let build_authorized = || {
                let req = build().header(ACCEPT, manifest::ACCEPT);
                match &authorization {
                    Some(value) => req.header(AUTHORIZATION, value.clone()),
                    None => req,
                }
            };
            let response = http::send(method, url, self.deadline, &build_authorized)?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            if status == StatusCode::UNAUTHORIZED {
                self.refuse_foreign_challenge(method, url, &response)?;
            }
            if status == StatusCode::UNAUTHORIZED
                && attempt < 3
                && self.renew(&response, authorization.as_ref(), &mut renewed_here)?
            {
                tracing::debug!(
                    repository,
                    "{method} {url}: 401; trying renewed authorization"
                );
                continue;
            }
            let mut error = http::status_error(method, url, response);
            if status == StatusCode::NOT_FOUND && error.detail.is_none() {
                error.detail = Some("no such repository or tag".to_string());
            }
            return Err(error.into());
        }
    }

    /// Makes fresh authorization after a 401 to a request sent with `used`; false when
    /// there is nothing new to try.
    ///
    /// The lock is held while a token is fetched, so requests refused at the same time
    /// (every runtime of the run, when a token expires) wait for one renewal and share it
    /// rather than each fetching their own.
    fn renew(
        &self,
        response: &Response,
        used: Option<&HeaderValue>,
        renewed_here: &mut bool,
    ) -> Result<bool> {
        let mut current = self.authorization.lock().unwrap_or_else(|p| p.into_inner());
        if current.as_ref() != used {
            return Ok(true);
        }
        if *renewed_here {
            return Ok(false);
        }
        *renewed_here = true;
        *current = Some(self.authenticate(response)?);
        Ok(true)
    }

    /// Fails when a 401 came from another host than this registry's, after a redirect.
    /// This registry's credentials are not for that host, and answering its challenge
    /// would send them there (to its realm), so nothing is sent at all.
    fn refuse_foreign_challenge(&self, method: &str, url: &str, response: &Response) -> Result<()> {
        let same_origin = reqwest::Url::parse(&self.base)
            .is_ok_and(|base| base.origin() == response.url().origin());
        if same_origin {
            return Ok(());
        }
        let host = response.url().host_str().unwrap_or_default();
        bail!(
            "{method} {url}: redirected to {host}, which asks for credentials; \
             they are not sent to another host (watch the image under {host} instead)"
        )
    }

    /// Answers the challenge in a 401 response: the `Authorization` value to send.
    fn authenticate(&self, response: &Response) -> Result<HeaderValue> {
        let values: Vec<&str> = response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let scheme = auth::choose(&challenge::parse(values))
            .with_context(|| format!("authenticating to {}", self.registry))?;
        let value = match scheme {
            Scheme::Bearer {
                realm,
                service,
                scope,
            } => {
                // Ask for every repository of the run at once, so concurrent requests
                // share one token; add the challenge's scope if it names another.
                let mut scopes = self.scopes.clone();
                if let Some(scope) = scope.filter(|s| !scopes.contains(s)) {
                    scopes.push(scope);
                }
                auth::fetch_token(
                    &self.http,
                    &realm,
                    service.as_deref(),
                    &scopes,
                    self.credentials.as_ref(),
                    self.plain_http,
                    self.deadline,
                )
                .with_context(|| format!("getting a token for {}", self.registry))?
            }
            Scheme::Basic => {
                let credentials = self.credentials.as_ref().ok_or_else(|| {
                    anyhow!(
                        "{} asks for credentials and none were found \
                         (set $GHCR_USER/$GHCR_TOKEN for ghcr.io, or run docker login)",
                        self.registry
                    )
                })?;
                auth::basic_header(credentials)?
            }
        };
        Ok(value)
    }

    fn current_authorization(&self) -> Option<HeaderValue> {
        self.authorization
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// True when the registry is spoken to over plain HTTP: loopback hosts, as the engine
/// treats them, and those listed in `insecure_registries`.
pub fn is_plain_http(registry: &str, insecure: &[String]) -> bool {
    if insecure.iter().any(|r| r == registry) {
        return true;
    }
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry.rsplit_once(':').map_or(registry, |(host, _)| host),
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)?
        .to_str()
        .ok()
        .map(|v| v.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_listed_registries_are_plain_http() {
        let listed = vec!["registry.lan:5000".to_string()];
        for registry in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(is_plain_http(registry, &[]), "{registry}");
        }
        assert!(is_plain_http("registry.lan:5000", &listed));
        for registry in [
            "ghcr.io",
            "registry.lan",
            "10.0.0.1:5000",
            "localhost.example.com",
        ] {
            assert!(!is_plain_http(registry, &listed), "{registry}");
        }
    }
}
