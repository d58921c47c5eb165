//! Platforms (`os/arch[/variant]`) and how an index entry is matched against one.

use std::fmt;
use std::str::FromStr;

use anyhow::{Result, bail};

/// A target platform such as `linux/amd64` or `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform of the machine imgwatch runs on, in Go's (and so Docker's) names.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        let variant = match architecture {
            "arm64" => Some("v8".to_string()),
            "arm" => Some("v7".to_string()),
            _ => None,
        };
        Platform {
            os: "linux".to_string(),
            architecture: architecture.to_string(),
            variant,
        }
    }

    /// True when an index entry with these fields serves this platform.
    ///
    /// A missing variant on either side matches, and `arm64` treats no variant as `v8`,
    /// as the engine does when it picks a manifest from an index.
    pub fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        if self.os != os || self.architecture != architecture {
            return false;
        }
        let normal = |v: Option<&str>| match (architecture, v) {
            ("arm64", None) => Some("v8".to_string()),
            (_, v) => v.map(str::to_string),
        };
        match (normal(self.variant.as_deref()), normal(variant)) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }
}

impl FromStr for Platform {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Platform> {
        let parts: Vec<&str> = text.split('/').collect();
        let valid = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(|p| valid(p)) {
            bail!("'{text}' is not a platform (os/arch or os/arch/variant, e.g. linux/amd64)");
        }
        Ok(Platform {
            os: parts[0].to_string(),
            architecture: parts[1].to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for text in ["linux/amd64", "linux/arm64/v8", "windows/amd64"] {
            assert_eq!(text.parse::<Platform>().unwrap().to_string(), text);
        }
        for text in ["linux", "linux/", "/amd64", "Linux/amd64", "a/b/c/d"] {
            assert!(text.parse::<Platform>().is_err(), "{text}");
        }
    }

    #[test]
    fn matches_index_entries() {
        let amd64: Platform = "linux/amd64".parse().unwrap();
        assert!(amd64.matches("linux", "amd64", None));
        assert!(!amd64.matches("linux", "arm64", None));
        let arm64: Platform = "linux/arm64".parse().unwrap();
        assert!(arm64.matches("linux", "arm64", Some("v8")));
        let arm64v8: Platform = "linux/arm64/v8".parse().unwrap();
        assert!(arm64v8.matches("linux", "arm64", None));
        let armv7: Platform = "linux/arm/v7".parse().unwrap();
        assert!(!armv7.matches("linux", "arm", Some("v6")));
    }
}
