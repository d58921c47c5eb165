//! Image references: parsing, Docker-style normalisation, and the runtime template.
//!
//! The rules follow the docker CLI's reference grammar: the first path component is a
//! registry host only when it has a `.` or a `:` or is `localhost`; everything else lives
//! on Docker Hub, where one-component names gain `library/`.

use std::fmt;

use anyhow::{Context, Result, anyhow, bail};

/// Docker Hub's canonical name as the engine records it.
pub const DOCKER_HUB: &str = "docker.io";

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host with optional port, e.g. `ghcr.io` or `127.0.0.1:5000`.
    pub registry: String,
    /// Repository path inside the registry, e.g. `molecule-ai/workspace-template-x`.
    pub repository: String,
    /// Tag, when the reference names one.
    pub tag: Option<String>,
    /// Digest, when the reference pins one.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses a reference the way the docker CLI does, defaulting the tag to `latest`
    /// when neither a tag nor a digest is given.
    pub fn parse(text: &str) -> Result<Reference> {
        let mut reference = Self::parse_loose(text)?;
        if reference.tag.is_none() && reference.digest.is_none() {
            reference.tag = Some("latest".to_string());
        }
        Ok(reference)
    }

    /// Parses without defaulting the tag: for matching references the engine reports.
    pub fn parse_loose(text: &str) -> Result<Reference> {
        let original = text;
        if text.is_empty() {
            bail!("empty image reference");
        }
        if text.trim() != text || text.chars().any(char::is_whitespace) {
            bail!("image reference '{original}' contains white space");
        }

        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                check_digest(digest).with_context(|| format!("image reference '{original}'"))?;
                (rest, Some(digest.to_string()))
            }
            None => (text, None),
        };

        // A tag is a ':' after the last '/', so a registry port is not taken for one.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let tag = &rest[last_slash + i + 1..];
                check_tag(tag).with_context(|| format!("image reference '{original}'"))?;
                (&rest[..last_slash + i], Some(tag.to_string()))
            }
            None => (rest, None),
        };

        let (registry, repository) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), path.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let registry = match registry.as_str() {
            // The docker CLI folds only the legacy index name into docker.io; the API
            // host `registry-1.docker.io` stays a registry of its own in references.
            "index.docker.io" => DOCKER_HUB.to_string(),
            _ => registry,
        };
        if registry.chars().any(|c| c.is_ascii_uppercase()) {
            bail!("image reference '{original}': registry host must be lowercase");
        }
        check_registry(&registry).with_context(|| format!("image reference '{original}'"))?;
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        check_repository(&repository).with_context(|| format!("image reference '{original}'"))?;

        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository`, the name the engine's `RepoDigests` entries start with.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// True when both name the same repository on the same registry.
    pub fn same_repository(&self, other: &Reference) -> bool {
        self.registry == other.registry && self.repository == other.repository
    }

    /// The tag or digest to ask the registry for.
    pub fn target(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Accepts only `sha256:` followed by 64 lowercase hex digits.
pub fn check_digest(digest: &str) -> Result<()> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            Ok(())
        }
        _ => bail!("'{digest}' is not a sha256 digest (sha256: and 64 lowercase hex digits)"),
    }
}

fn check_tag(tag: &str) -> Result<()> {
    let valid = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !valid {
        bail!("'{tag}' is not a valid tag");
    }
    Ok(())
}

fn check_repository(repository: &str) -> Result<()> {
    if !repository.split('/').all(is_path_component) {
        bail!(
            "'{repository}' is not a valid repository name \
             (lowercase letters, digits and . _ - between them)"
        );
    }
    Ok(())
}

/// Checks a runtime name: it is substituted into a repository path.
pub fn check_runtime_name(name: &str) -> Result<()> {
    if !is_path_component(name) {
        bail!("'{name}' is not a valid runtime name (lowercase letters, digits, . _ -)");
    }
    Ok(())
}

/// One component of a repository path, as the docker grammar has it: runs of lowercase
/// letters and digits joined by one `.`, one `_`, two `_`, or any number of `-`.
fn is_path_component(text: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let separator_ok = |sep: &str| {
        matches!(sep, "." | "_" | "__") || (!sep.is_empty() && sep.bytes().all(|b| b == b'-'))
    };
    !text.is_empty()
        && text.starts_with(alnum)
        && text.ends_with(alnum)
        && text
            .split(alnum)
            .all(|sep| sep.is_empty() || separator_ok(sep))
        && text
            .chars()
            .all(|c| alnum(c) || matches!(c, '.' | '_' | '-'))
}

/// Checks a registry host: DNS labels (lowercase letters, digits, inner `-`) joined by
/// `.`, or a bracketed IPv6 address, then an optional port. Caught here, a typo is a
/// config error with a line number rather than a connection error on every run.
pub fn check_registry(registry: &str) -> Result<()> {
    let invalid =
        || anyhow!("'{registry}' is not a valid registry host (a DNS name or [IPv6], then :port)");
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.starts_with(|c: char| c.is_ascii_alphanumeric())
            && label.ends_with(|c: char| c.is_ascii_alphanumeric())
            && label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    let (host_ok, port) = match registry.strip_prefix('[') {
        Some(rest) => {
            let (ip, after) = rest.split_once(']').ok_or_else(invalid)?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or_else(invalid)?),
            };
            (ip.parse::<std::net::Ipv6Addr>().is_ok(), port)
        }
        None => match registry.split_once(':') {
            Some((host, port)) => (host.split('.').all(label_ok), Some(port)),
            None => (registry.split('.').all(label_ok), None),
        },
    };
    if !host_ok {
        return Err(invalid());
    }
    if let Some(port) = port
        && !port.parse::<u16>().is_ok_and(|p| p > 0)
    {
        bail!("'{registry}' has an invalid port '{port}' (1 to 65535)");
    }
    Ok(())
}

/// The `image` template: a reference with `{runtime}` in its repository path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    registry: String,
    prefix: String,
    suffix: String,
}

const PLACEHOLDER: &str = "{runtime}";

impl Template {
    /// Parses and checks a template such as `ghcr.io/org/workspace-template-{runtime}:latest`.
    pub fn parse(text: &str) -> Result<Template> {
        if text.matches(PLACEHOLDER).count() != 1 {
            bail!("image template '{text}' must contain {PLACEHOLDER} exactly once");
        }
        let (before, after) = text.split_once(PLACEHOLDER).unwrap_or((text, ""));

        // {runtime} must sit in the last path component of the repository: past the
        // registry host, before the tag.
        let in_last_component = before.contains('/')
            && !after.contains('/')
            && !before.rsplit('/').next().unwrap_or("").contains(':');
        if !in_last_component {
            bail!(
                "image template '{text}': {PLACEHOLDER} must be in the last path component \
                 of the repository"
            );
        }

        let sample = Reference::parse(&text.replace(PLACEHOLDER, "runtime"))
            .with_context(|| format!("image template '{text}'"))?;
        if sample.digest.is_some() {
            bail!("image template '{text}' must name a tag, not a digest");
        }
        let suffix = after.split([':', '@']).next().unwrap_or("");
        let tail = "runtime".len() + suffix.len();
        let prefix = &sample.repository[..sample.repository.len() - tail];
        Ok(Template {
            text: text.to_string(),
            registry: sample.registry.clone(),
            prefix: prefix.to_string(),
            suffix: suffix.to_string(),
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The reference for one runtime.
    pub fn reference(&self, runtime: &str) -> Result<Reference> {
        check_runtime_name(runtime)?;
        Reference::parse(&self.text.replace(PLACEHOLDER, runtime))
    }

    /// The runtime a reference belongs to, if its repository matches the template.
    ///
    /// Matching is on the exact repository: with the default template,
    /// `workspace-template-langgraph` is runtime `langgraph` and nothing else is.
    pub fn runtime_of(&self, reference: &Reference) -> Option<String> {
        if reference.registry != self.registry {
            return None;
        }
        let runtime = reference
            .repository
            .strip_prefix(&self.prefix)?
            .strip_suffix(&self.suffix)?;
        if runtime.contains('/') || check_runtime_name(runtime).is_err() {
            return None;
        }
        Some(runtime.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn normalises_like_the_docker_cli() {
        let cases = [
            (
                "busybox",
                "docker.io",
                "library/busybox",
                Some("latest"),
                None,
            ),
            ("user/app:1", "docker.io", "user/app", Some("1"), None),
            (
                "index.docker.io/library/redis",
                "docker.io",
                "library/redis",
                Some("latest"),
                None,
            ),
            ("localhost/app", "localhost", "app", Some("latest"), None),
            (
                "registry-1.docker.io/x",
                "registry-1.docker.io",
                "x",
                Some("latest"),
                None,
            ),
            (
                "127.0.0.1:5000/a/b:v2",
                "127.0.0.1:5000",
                "a/b",
                Some("v2"),
                None,
            ),
            (
                "ghcr.io/molecule-ai/x:latest",
                "ghcr.io",
                "molecule-ai/x",
                Some("latest"),
                None,
            ),
        ];
        for (text, registry, repository, tag, digest) in cases {
            let r = Reference::parse(text).unwrap();
            assert_eq!(r.registry, registry, "{text}");
            assert_eq!(r.repository, repository, "{text}");
            assert_eq!(r.tag.as_deref(), tag, "{text}");
            assert_eq!(r.digest.as_deref(), digest, "{text}");
        }
    }

    #[test]
    fn keeps_digest_and_tag() {
        let r = Reference::parse(&format!("ghcr.io/a/b:1@{D}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("1"));
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(r.target(), D);
        let r = Reference::parse_loose(&format!("ghcr.io/a/b@{D}")).unwrap();
        assert_eq!(r.tag, None);
    }

    #[test]
    fn rejects_bad_references() {
        for text in [
            "",
            "UPPER/case",
            "a b",
            "ghcr.io/a/b:",
            "ghcr.io/a/b@sha256:12",
            "ghcr.io//b",
            "x/-a",
        ] {
            assert!(
                Reference::parse(text).is_err(),
                "{text:?} should be rejected"
            );
        }
    }

    #[test]
    fn rejects_hosts_and_paths_the_docker_grammar_refuses() {
        for text in [
            "ghcr.io:abc/x",
            "localhost:99999/x",
            "localhost:/x",
            "exa_mple.com/x",
            "bad-.io/x",
            "a..b.io/x",
            ".io/x",
            "[::1/x",
            "[zz]:5000/x",
            "ghcr.io/a..b/c",
            "ghcr.io/a___b/c",
            "ghcr.io/a_-b/c",
            "ghcr.io/a._b/c",
        ] {
            let error = Reference::parse(text).err();
            assert!(error.is_some(), "{text:?} should be rejected");
        }
        for text in [
            "ghcr.io/a__b/c",
            "ghcr.io/a--b/c",
            "my-reg.example:5000/a.b/c_d",
            "[::1]:5000/x",
            "127.0.0.1:5000/x",
            "localhost:65535/x",
        ] {
            assert!(
                Reference::parse(text).is_ok(),
                "{text:?} should be accepted"
            );
        }
    }

    #[test]
    fn rejects_malformed_digests() {
        assert!(check_digest(D).is_ok());
        assert!(check_digest(&D.to_uppercase()).is_err());
        assert!(check_digest("sha512:00").is_err());
        assert!(check_digest(&D[..70]).is_err());
        assert!(check_digest(&format!("{D}0")).is_err());
    }

    #[test]
    fn template_builds_and_matches_runtimes() {
        let t = Template::parse("ghcr.io/molecule-ai/workspace-template-{runtime}:latest").unwrap();
        let r = t.reference("langgraph").unwrap();
        assert_eq!(
            r.to_string(),
            "ghcr.io/molecule-ai/workspace-template-langgraph:latest"
        );
        assert_eq!(t.runtime_of(&r).as_deref(), Some("langgraph"));
        let other = Reference::parse("ghcr.io/molecule-ai/other-langgraph:latest").unwrap();
        assert_eq!(t.runtime_of(&other), None);
        let elsewhere = Reference::parse("docker.io/molecule-ai/workspace-template-x").unwrap();
        assert_eq!(t.runtime_of(&elsewhere), None);
        let pinned =
            Reference::parse_loose(&format!("ghcr.io/molecule-ai/workspace-template-x@{D}"))
                .unwrap();
        assert_eq!(t.runtime_of(&pinned).as_deref(), Some("x"));
    }

    #[test]
    fn template_with_suffix_matches_exactly() {
        let t = Template::parse("localhost:5000/ws/{runtime}-img:stable").unwrap();
        let r = Reference::parse("localhost:5000/ws/langgraph-img:stable").unwrap();
        assert_eq!(t.runtime_of(&r).as_deref(), Some("langgraph"));
        let r = Reference::parse("localhost:5000/ws/langgraph-img-x:stable").unwrap();
        assert_eq!(t.runtime_of(&r), None);
    }

    #[test]
    fn rejects_bad_templates() {
        for text in [
            "ghcr.io/molecule-ai/workspace-template:latest",
            "ghcr.io/{runtime}/{runtime}:latest",
            "ghcr.io/a/b:{runtime}",
            "{runtime}.io/a/b",
            "ghcr.io/{runtime}/b",
        ] {
            assert!(Template::parse(text).is_err(), "{text} should be rejected");
        }
    }

    #[test]
    fn rejects_bad_runtime_names() {
        for name in ["", "Up", "a/b", "-a", "a b"] {
            assert!(check_runtime_name(name).is_err(), "{name:?}");
        }
        assert!(check_runtime_name("claude-code").is_ok());
    }
}
