//! Manifest media types, digests of bodies, and choosing a platform from an index.

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::Platform;
use crate::reference::check_digest;

/// OCI image index (multi-platform).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest (one platform).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker manifest list (multi-platform).
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image manifest, schema 2 (one platform).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The `Accept` value for manifest requests: all four types in one header.
///
/// The distribution server answers with what the tag really holds only when its type is
/// accepted: it 404s an unaccepted OCI type and rewrites an unaccepted Docker list to
/// its amd64 child. One comma-joined value also survives proxies that keep only the
/// last of repeated headers.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
                          application/vnd.oci.image.manifest.v1+json, \
                          application/vnd.docker.distribution.manifest.list.v2+json, \
                          application/vnd.docker.distribution.manifest.v2+json";

/// Largest manifest accepted; the distribution server's own limit is 4 MiB.
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// True for the multi-platform types.
pub fn is_index(media_type: &str) -> bool {
    let base = media_type.split(';').next().unwrap_or("").trim();
    base == OCI_INDEX || base == DOCKER_LIST
}

/// The sha256 digest of a body, in `sha256:<hex>` form.
pub fn digest_of(body: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(body)))
}

/// The media type a body declares for itself, if any.
pub fn declared_media_type(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Head {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        manifests: Option<serde::de::IgnoredAny>,
    }
    let head: Head = serde_json::from_slice(body).ok()?;
    match (head.media_type, head.manifests) {
        (Some(t), _) => Some(t),
        // An OCI index may leave out mediaType; a `manifests` array gives it away.
        (None, Some(_)) => Some(OCI_INDEX.to_string()),
        (None, None) => None,
    }
}

#[derive(Debug, Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
struct Descriptor {
    digest: String,
    #[serde(default)]
    platform: Option<DescriptorPlatform>,
}

#[derive(Debug, Deserialize)]
struct DescriptorPlatform {
    os: String,
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

/// The digest of the index entry serving `platform`.
///
/// Attestation entries (`unknown/unknown`) never match. Where several entries match, the
/// first wins, as in the engine.
pub fn select_platform(index: &[u8], platform: &Platform) -> Result<String> {
    let index: Index = serde_json::from_slice(index).context("index is not valid JSON")?;
    let entry = index
        .manifests
        .iter()
        .find(|m| {
            m.platform
                .as_ref()
                .is_some_and(|p| platform.matches(&p.os, &p.architecture, p.variant.as_deref()))
        })
        .ok_or_else(|| {
            let offered: Vec<String> = index
                .manifests
                .iter()
                .filter_map(|m| m.platform.as_ref())
                .map(|p| match &p.variant {
                    Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
                    None => format!("{}/{}", p.os, p.architecture),
                })
                .collect();
            anyhow!(
                "no manifest for {platform} in the index (it has: {})",
                offered.join(", ")
            )
        })?;
    check_digest(&entry.digest).context("index entry")?;
    Ok(entry.digest.clone())
}

/// Checks that a body is a manifest of an accepted type.
pub fn check_media_type(media_type: &str) -> Result<()> {
    if !is_accepted(media_type) {
        bail!("unexpected manifest media type '{media_type}'");
    }
    Ok(())
}

/// True for the four types imgwatch asks for.
pub fn is_accepted(media_type: &str) -> bool {
    let base = media_type.split(';').next().unwrap_or("").trim();
    [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].contains(&base)
}

/// Checks the `Content-Type` a registry served with a manifest. `Ok(true)` for an accepted
/// type; `Ok(false)` when it says nothing (missing, `application/json`, ...) and the body
/// has to tell; an error for a manifest type that was not asked for.
///
/// A schema 1 answer means the registry ignored `Accept` (or holds a legacy image); the
/// distribution server converts and signs such answers on the fly, so their digest can
/// change on every request and would look like a new image every run.
pub fn check_served(media_type: &str) -> Result<bool> {
    let base = media_type.split(';').next().unwrap_or("").trim();
    if is_accepted(base) {
        return Ok(true);
    }
    if base.starts_with("application/vnd.docker.distribution.manifest.v1") {
        bail!(
            "the registry served a schema 1 manifest ('{media_type}'), which is not watched: \
             its digest can change on every request (push the image as schema 2 or OCI)"
        );
    }
    if base.starts_with("application/vnd.") {
        bail!("unexpected manifest media type '{media_type}'");
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn index() -> String {
        serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"digest": d('a'), "platform": {"os": "linux", "architecture": "amd64"}},
                {"digest": d('b'), "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
                {"digest": d('c'), "platform": {"os": "unknown", "architecture": "unknown"}},
            ]
        })
        .to_string()
    }

    #[test]
    fn picks_the_platform_entry() {
        let amd64: Platform = "linux/amd64".parse().unwrap();
        assert_eq!(select_platform(index().as_bytes(), &amd64).unwrap(), d('a'));
        let arm64: Platform = "linux/arm64".parse().unwrap();
        assert_eq!(select_platform(index().as_bytes(), &arm64).unwrap(), d('b'));
    }

    #[test]
    fn says_which_platforms_exist_when_none_matches() {
        let s390x: Platform = "linux/s390x".parse().unwrap();
        let error = select_platform(index().as_bytes(), &s390x)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("linux/s390x") && error.contains("linux/arm64/v8"),
            "{error}"
        );
    }

    #[test]
    fn refuses_a_malformed_entry_digest() {
        let index = serde_json::json!({"manifests": [
            {"digest": "sha256:../../etc", "platform": {"os": "linux", "architecture": "amd64"}},
        ]})
        .to_string();
        let amd64: Platform = "linux/amd64".parse().unwrap();
        let error = format!(
            "{:#}",
            select_platform(index.as_bytes(), &amd64).unwrap_err()
        );
        assert!(error.contains("not a sha256 digest"), "{error}");
    }

    #[test]
    fn recognises_types() {
        assert!(is_index(OCI_INDEX) && is_index(DOCKER_LIST));
        assert!(!is_index(OCI_MANIFEST) && !is_index(DOCKER_MANIFEST));
        assert_eq!(
            declared_media_type(br#"{"manifests": []}"#).as_deref(),
            Some(OCI_INDEX)
        );
        assert!(check_media_type("text/html").is_err());
        assert!(check_media_type(&format!("{DOCKER_MANIFEST}; charset=utf-8")).is_ok());
        assert!(check_served(OCI_INDEX).unwrap());
        for generic in ["", "application/json", "application/octet-stream"] {
            assert!(!check_served(generic).unwrap(), "{generic:?}");
        }
        for refused in [
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            "application/vnd.oci.artifact.manifest.v1+json",
        ] {
            assert!(check_served(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn hashes_exact_bytes() {
        assert_eq!(
            digest_of(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
