//! The TOML configuration file: where it is found, what keys it has, their defaults.
//!
//! Every key has a default so no file is needed. Unknown keys and bad values are errors
//! that name the file and the line, because a typo silently ignored on a host that
//! restarts containers is worse than a run that refuses to start.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::reference::{Reference, Template, check_registry, check_runtime_name};

/// Default image template.
pub const DEFAULT_IMAGE: &str = "ghcr.io/molecule-ai/workspace-template-{runtime}:latest";

/// Runtimes watched when the file names none.
pub const DEFAULT_RUNTIMES: [&str; 8] = [
    "claude-code",
    "langgraph",
    "crewai",
    "autogen",
    "deepagents",
    "hermes",
    "gemini-cli",
    "openclaw",
];

/// How a moved runtime's containers are brought onto the new image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Replace each container with one made from the new image, same settings.
    Recreate,
    /// Stop and remove the containers so an orchestrator re-provisions them.
    Remove,
}

/// The configuration file's keys, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub image: Option<Spanned<String>>,
    pub runtimes: Option<Spanned<Vec<String>>>,
    pub discover: Option<bool>,
    pub platform: Option<Spanned<String>>,
    pub insecure_registries: Option<Spanned<Vec<String>>>,
    pub state: Option<PathBuf>,
    #[serde(default, deserialize_with = "duration")]
    pub timeout: Option<Duration>,
    pub strategy: Option<Strategy>,
    pub container_prefix: Option<String>,
    #[serde(default, deserialize_with = "duration")]
    pub health_timeout: Option<Duration>,
    pub cleanup: Option<bool>,
    pub metrics_file: Option<PathBuf>,
    pub on_update: Option<String>,
    pub on_failure: Option<String>,
    #[serde(default, deserialize_with = "duration")]
    pub hook_timeout: Option<Duration>,
    pub webhook_url: Option<Spanned<String>>,
}

/// Checked configuration with every default applied.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from, if a file was read.
    pub source: Option<PathBuf>,
    pub template: Template,
    pub runtimes: Vec<String>,
    pub discover: bool,
    pub platform: Option<crate::registry::Platform>,
    pub insecure_registries: Vec<String>,
    pub state: Option<PathBuf>,
    /// Deadline for the registry part of a run.
    pub timeout: Duration,
    pub strategy: Strategy,
    pub container_prefix: String,
    pub health_timeout: Duration,
    pub cleanup: bool,
    pub metrics_file: Option<PathBuf>,
    pub on_update: Option<String>,
    pub on_failure: Option<String>,
    pub hook_timeout: Duration,
    pub webhook_url: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            source: None,
            template: Template::parse(DEFAULT_IMAGE).expect("the default template is valid"),
            runtimes: DEFAULT_RUNTIMES.iter().map(|s| s.to_string()).collect(),
            discover: true,
            platform: None,
            insecure_registries: Vec::new(),
            state: None,
            timeout: Duration::from_secs(120),
            strategy: Strategy::Recreate,
            container_prefix: String::new(),
            health_timeout: Duration::from_secs(60),
            cleanup: false,
            metrics_file: None,
            on_update: None,
            on_failure: None,
            hook_timeout: Duration::from_secs(60),
            webhook_url: None,
        }
    }
}

impl Config {
    /// Reads and checks one file. Errors name the file and, where known, the line.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Self::parse(&text, path)
    }

    /// Parses the text of a file; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let file: FileConfig = toml::from_str(text)
            .map_err(|e| anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
        let at = |span: std::ops::Range<usize>| {
            format!("{}: line {}", path.display(), line_of(text, span.start))
        };

        let mut config = Config {
            source: Some(path.to_path_buf()),
            ..Config::default()
        };
        if let Some(image) = file.image {
            config.template = Template::parse(image.get_ref())
                .with_context(|| format!("{}: key 'image'", at(image.span())))?;
        }
        if let Some(runtimes) = file.runtimes {
            for name in runtimes.get_ref() {
                check_runtime_name(name)
                    .with_context(|| format!("{}: key 'runtimes'", at(runtimes.span())))?;
            }
            config.runtimes = runtimes.into_inner();
        }
        if let Some(platform) = file.platform {
            let parsed = platform
                .get_ref()
                .parse()
                .with_context(|| format!("{}: key 'platform'", at(platform.span())))?;
            config.platform = Some(parsed);
        }
        if let Some(url) = file.webhook_url {
            let ok = url.get_ref().starts_with("http://") || url.get_ref().starts_with("https://");
            if !ok {
                return Err(anyhow!(
                    "{}: key 'webhook_url': '{}' is not an http:// or https:// URL",
                    at(url.span()),
                    url.get_ref()
                ));
            }
            config.webhook_url = Some(url.into_inner());
        }
        if let Some(registries) = file.insecure_registries {
            // An entry that is not exactly how references name the registry would never
            // match, and the registry would silently be reached over HTTPS.
            for entry in registries.get_ref() {
                check_registry(entry)
                    .map_err(|_| {
                        anyhow!(
                            "'{entry}' is not a registry host (write host or host:port, \
                             as image references name it)"
                        )
                    })
                    .with_context(|| {
                        format!("{}: key 'insecure_registries'", at(registries.span()))
                    })?;
            }
            config.insecure_registries = registries.into_inner();
        }
        config.discover = file.discover.unwrap_or(config.discover);
        config.state = file.state;
        config.timeout = file.timeout.unwrap_or(config.timeout);
        config.strategy = file.strategy.unwrap_or(config.strategy);
        config.container_prefix = file.container_prefix.unwrap_or_default();
        config.health_timeout = file.health_timeout.unwrap_or(config.health_timeout);
        config.cleanup = file.cleanup.unwrap_or(config.cleanup);
        config.metrics_file = file.metrics_file;
        config.on_update = file.on_update;
        config.on_failure = file.on_failure;
        config.hook_timeout = file.hook_timeout.unwrap_or(config.hook_timeout);
        Ok(config)
    }

    /// The reference one runtime is watched under.
    pub fn reference(&self, runtime: &str) -> Result<Reference> {
        self.template.reference(runtime)
    }
}

/// Where the configuration file is looked for, in order, given the environment.
///
/// `explicit` is `--config`. A path from `--config` or `$IMGWATCH_CONFIG` must exist;
/// the others are used only when present.
pub fn locate(explicit: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Locate {
    if let Some(path) = explicit {
        return Locate::Required(path.to_path_buf());
    }
    if let Some(path) = env("IMGWATCH_CONFIG").filter(|p| !p.is_empty()) {
        return Locate::Required(PathBuf::from(path));
    }
    let mut candidates = Vec::new();
    if let Some(dir) = env("CONFIGURATION_DIRECTORY").filter(|p| !p.is_empty()) {
        // systemd may list several directories separated by ':'; ours is the first.
        let first = dir.split(':').next().unwrap_or_default().to_string();
        candidates.push(PathBuf::from(first).join("config.toml"));
    }
    candidates.push(PathBuf::from("/etc/imgwatch/config.toml"));
    if let Some(dirs) = directories::ProjectDirs::from("", "", "imgwatch") {
        candidates.push(dirs.config_dir().join("config.toml"));
    }
    Locate::Optional(candidates)
}

/// The outcome of [`locate`].
#[derive(Debug, PartialEq, Eq)]
pub enum Locate {
    /// This file must be read.
    Required(PathBuf),
    /// The first of these that exists is read; none is fine.
    Optional(Vec<PathBuf>),
}

/// Finds and loads the configuration, or the defaults when no file exists.
pub fn load(explicit: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Result<Config> {
    match locate(explicit, env) {
        Locate::Required(path) => Config::load(&path),
        Locate::Optional(candidates) => {
            for path in &candidates {
                // A file that may exist but cannot be checked (a directory this user may
                // not search) is an error: running on defaults would silently use another
                // state file and other runtimes than the service does.
                let exists = path
                    .try_exists()
                    .with_context(|| format!("cannot check for config file {}", path.display()))?;
                if exists {
                    return Config::load(path);
                }
            }
            Ok(Config::default())
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn duration<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(de)?;
    crate::cli::parse_duration(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(text, Path::new("/etc/imgwatch/config.toml"))
    }

    #[test]
    fn empty_file_gives_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config.template.as_str(), DEFAULT_IMAGE);
        assert_eq!(config.runtimes.len(), 8);
        assert!(config.discover);
        assert_eq!(config.strategy, Strategy::Recreate);
        assert_eq!(config.health_timeout, Duration::from_secs(60));
    }

    #[test]
    fn reads_every_key() {
        let config = parse(
            r#"
            image = "localhost:5000/ws/{runtime}:stable"
            runtimes = ["a", "b"]
            discover = false
            platform = "linux/arm64/v8"
            insecure_registries = ["registry.lan:5000"]
            state = "/tmp/s.json"
            timeout = "30s"
            strategy = "remove"
            container_prefix = "ws-"
            health_timeout = "2m"
            cleanup = true
            metrics_file = "/var/lib/node_exporter/imgwatch.prom"
            on_update = "logger updated"
            on_failure = "logger failed"
            hook_timeout = "10s"
            webhook_url = "https://hooks.example/imgwatch"
            "#,
        )
        .unwrap();
        assert_eq!(config.runtimes, ["a", "b"]);
        assert!(!config.discover);
        assert_eq!(config.platform.unwrap().to_string(), "linux/arm64/v8");
        assert_eq!(config.timeout, Duration::from_secs(30));
        assert_eq!(config.strategy, Strategy::Remove);
        assert_eq!(config.health_timeout, Duration::from_secs(120));
        assert_eq!(config.container_prefix, "ws-");
        assert!(config.cleanup);
    }

    #[test]
    fn errors_name_file_line_and_problem() {
        let cases = [
            ("discover = true\nbogus = 1\n", "line 2", "bogus"),
            ("\nimage = \"ghcr.io/a/b:latest\"\n", "line 2", "{runtime}"),
            ("timeout = \"soon\"\n", "line 1", "soon"),
            ("runtimes = [\"Bad Name\"]\n", "line 1", "Bad Name"),
            ("platform = \"linux\"\n", "line 1", "platform"),
            ("strategy = \"replace\"\n", "line 1", "replace"),
            ("webhook_url = \"ftp://x\"\n", "line 1", "webhook_url"),
            ("image = 5\n", "line 1", "image"),
            (
                "\ninsecure_registries = [\"reg.lan\", \"http://reg.lan:5000\"]\n",
                "line 2",
                "'http://reg.lan:5000' is not a registry host",
            ),
            (
                "insecure_registries = [\"10.0.0.0/8\"]\n",
                "line 1",
                "host or host:port",
            ),
        ];
        for (text, line, needle) in cases {
            let message = format!("{:#}", parse(text).unwrap_err());
            assert!(message.contains("/etc/imgwatch/config.toml"), "{message}");
            assert!(message.contains(line), "{text:?}: {message}");
            assert!(message.contains(needle), "{text:?}: {message}");
        }
    }

    #[test]
    fn a_candidate_that_cannot_be_checked_is_an_error_not_a_default() {
        // As root nothing is unreadable; a path through a file fails the same check.
        let file = tempfile::NamedTempFile::new().unwrap();
        let dir = file.path().display().to_string();
        let env = move |k: &str| (k == "CONFIGURATION_DIRECTORY").then(|| dir.clone());
        let error = format!("{:#}", load(None, &env).unwrap_err());
        let candidate = file.path().join("config.toml").display().to_string();
        assert!(error.contains(&candidate), "{error}");
    }

    #[test]
    fn locates_in_documented_order() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let explicit = Path::new("/x.toml");
        assert_eq!(
            locate(Some(explicit), &env(&[("IMGWATCH_CONFIG", "/y.toml")])),
            Locate::Required(explicit.into())
        );
        assert_eq!(
            locate(None, &env(&[("IMGWATCH_CONFIG", "/y.toml")])),
            Locate::Required("/y.toml".into())
        );
        let Locate::Optional(list) = locate(None, &env(&[("CONFIGURATION_DIRECTORY", "/c")]))
        else {
            panic!("expected optional candidates");
        };
        assert_eq!(list[0], Path::new("/c/config.toml"));
        assert_eq!(list[1], Path::new("/etc/imgwatch/config.toml"));
    }
}
