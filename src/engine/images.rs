//! Images: what the engine holds locally, pulling a tag, removing an image.

use anyhow::{Context, Result, anyhow, bail};
use bollard::auth::DockerCredentials;
use bollard::models::ImageInspect;
use bollard::query_parameters::{
    CreateImageOptions, ListContainersOptions, ListImagesOptions, RemoveImageOptions,
};
use futures_util::StreamExt;

use super::progress::Progress;
use super::{Engine, is_conflict, is_not_found};
use crate::reference::Reference;
use crate::registry::{Credentials, Platform};

/// What a successful pull left in the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The local image ID the tag now points to.
    pub id: String,
    /// The `sha256:` digests of the image's `RepoDigests` entries for this repository.
    pub digests: Vec<String>,
}

impl Engine {
    /// Every image name the host knows: `RepoTags` and `RepoDigests` of all images and the
    /// configured image (`Config.Image`) of every container, running or not.
    pub fn image_references(&self) -> Result<Vec<String>> {
        let images = self
            .block_on(self.docker.list_images(Some(ListImagesOptions {
                all: false,
                ..Default::default()
            })))
            .context("list images")?;
        let mut names: Vec<String> = images
            .into_iter()
            .flat_map(|image| image.repo_tags.into_iter().chain(image.repo_digests))
            .filter(|name| !name.starts_with("<none>"))
            .collect();

        // The summary's `Image` is replaced by an ID once the tag moved on, so the
        // configured name needs an inspect per container.
        let containers = self
            .block_on(self.docker.list_containers(Some(ListContainersOptions {
                all: true,
                ..Default::default()
            })))
            .context("list containers")?;
        for summary in containers {
            let Some(id) = summary.id else { continue };
            match self.block_on(self.docker.inspect_container(&id, None)) {
                Ok(inspect) => names.extend(inspect.config.and_then(|c| c.image)),
                // Removed between the list and the inspect: nothing to report.
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    return Err(anyhow!(e)).with_context(|| format!("inspect container {id}"));
                }
            }
        }

        names.sort();
        names.dedup();
        Ok(names)
    }

    /// The digests the local image of `reference` was pulled under, for its repository.
    ///
    /// `None` when no local image answers to the reference; `Some` with the `sha256:...`
    /// part of each `RepoDigests` entry of the same repository (empty for an image that
    /// was built or loaded rather than pulled).
    pub fn local_repo_digests(&self, reference: &Reference) -> Result<Option<Vec<String>>> {
        Ok(self.inspect_image(&reference.to_string())?.map(|image| {
            same_repository_digests(reference, &image.repo_digests.unwrap_or_default())
        }))
    }

    /// Inspects an image by name or ID; `None` when the engine has no such image.
    pub fn inspect_image(&self, name: &str) -> Result<Option<ImageInspect>> {
        match self.block_on(self.docker.inspect_image(name)) {
            Ok(image) => Ok(Some(image)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(anyhow!(e)).with_context(|| format!("inspect image '{name}'")),
        }
    }

    /// Pulls `reference` for `platform`, reading the whole progress stream, and returns
    /// the image it left. An error anywhere in the stream fails the pull.
    pub fn pull(
        &self,
        reference: &Reference,
        platform: &Platform,
        credentials: Option<&Credentials>,
    ) -> Result<Pulled> {
        let options = CreateImageOptions {
            from_image: Some(reference.name()),
            tag: Some(reference.target().to_string()),
            platform: platform.to_string(),
            ..Default::default()
        };
        let auth = credentials.map(|c| docker_credentials(c, &reference.registry));
        tracing::debug!(
            image = %reference,
            %platform,
            authenticated = auth.is_some(),
            "pulling"
        );

        let mut progress = Progress::start(&reference.to_string());
        let failure = self.block_on(async {
            let mut stream = self.docker.create_image(Some(options), None, auth);
            let mut failure: Option<String> = None;
            while let Some(item) = stream.next().await {
                match item {
                    Ok(info) => progress.update(&info),
                    // Keep reading: the engine may say more, and the stream must be drained
                    // for the connection to close cleanly.
                    Err(bollard::errors::Error::DockerStreamError { error }) => {
                        failure.get_or_insert(error);
                    }
                    Err(e) => {
                        failure.get_or_insert(e.to_string());
                        break;
                    }
                }
            }
            failure
        });
        progress.finish(failure.is_none());
        if let Some(error) = failure {
            bail!("pull {reference}: {}", error.trim());
        }

        let image = self
            .inspect_image(&reference.to_string())?
            .with_context(|| {
                format!("pull {reference}: the engine holds no image for it after the pull")
            })?;
        Ok(Pulled {
            id: image.id.unwrap_or_default(),
            digests: same_repository_digests(reference, &image.repo_digests.unwrap_or_default()),
        })
    }

    /// Removes an image by ID unless something still uses or names it; true when removed.
    pub fn remove_image(&self, id: &str) -> Result<bool> {
        let options = RemoveImageOptions {
            force: false,
            noprune: false,
            ..Default::default()
        };
        match self.block_on(self.docker.remove_image(id, Some(options), None)) {
            Ok(_) => Ok(true),
            Err(e) if is_conflict(&e) || is_not_found(&e) => {
                tracing::debug!(image = id, error = %e, "image kept");
                Ok(false)
            }
            Err(e) => Err(anyhow!(e)).with_context(|| format!("remove image {id}")),
        }
    }
}

/// The `sha256:...` digests among `RepoDigests` entries that name `reference`'s repository.
pub fn same_repository_digests(reference: &Reference, repo_digests: &[String]) -> Vec<String> {
    repo_digests
        .iter()
        .filter_map(|entry| Reference::parse_loose(entry).ok())
        .filter(|entry| entry.same_repository(reference))
        .filter_map(|entry| entry.digest)
        .collect()
}

/// The engine's form of the credentials, for the `X-Registry-Auth` header.
fn docker_credentials(credentials: &Credentials, registry: &str) -> DockerCredentials {
    let serveraddress = Some(registry.to_string());
    match credentials {
        Credentials::Basic { username, password } => DockerCredentials {
            username: Some(username.clone()),
            password: Some(password.clone()),
            serveraddress,
            ..Default::default()
        },
        Credentials::IdentityToken(token) => DockerCredentials {
            identitytoken: Some(token.clone()),
            serveraddress,
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn keeps_only_digests_of_the_same_repository() {
        let reference = Reference::parse("ghcr.io/org/workspace-template-x:latest").unwrap();
        let entries = vec![
            format!("ghcr.io/org/workspace-template-x@{A}"),
            format!("ghcr.io/org/workspace-template-x-y@{B}"),
            format!("docker.io/org/workspace-template-x@{B}"),
            "not a reference".to_string(),
        ];
        assert_eq!(same_repository_digests(&reference, &entries), [A]);
    }

    #[test]
    fn hands_the_engine_each_kind_of_credential() {
        let basic = Credentials::Basic {
            username: "u".into(),
            password: "p".into(),
        };
        let mapped = docker_credentials(&basic, "ghcr.io");
        assert_eq!(mapped.username.as_deref(), Some("u"));
        assert_eq!(mapped.password.as_deref(), Some("p"));
        assert_eq!(mapped.serveraddress.as_deref(), Some("ghcr.io"));
        let token = docker_credentials(&Credentials::IdentityToken("t".into()), "reg.test");
        assert_eq!(
            (token.identitytoken.as_deref(), token.username),
            (Some("t"), None)
        );
    }

    #[test]
    fn matches_docker_hub_short_names() {
        let reference = Reference::parse("busybox").unwrap();
        let entries = vec![format!("busybox@{A}"), format!("library/busybox@{B}")];
        assert_eq!(same_repository_digests(&reference, &entries), [A, B]);
    }
}
