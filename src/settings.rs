//! Raw flags, the configuration file and the environment, resolved into checked settings
//! before any network or engine call. Every precedence rule lives here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::cli::{CheckArgs, Mode};
use crate::config::{self, Config, Strategy};
use crate::reference::check_runtime_name;
use crate::registry::Platform;

/// Reads one environment variable; a function so tests can supply their own.
pub type Env<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// The process environment, with empty values treated as unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Everything `check` needs, checked.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    pub config: Config,
    pub state_path: PathBuf,
    pub mode: Mode,
    pub dry_run: bool,
    /// `--runtime` filters; empty means every configured and discovered runtime.
    pub only: Vec<String>,
    pub json: bool,
    pub wait: Duration,
    pub force: bool,
    /// The platform asked for, if any; otherwise the engine's, else the host's.
    pub platform: Option<Platform>,
    pub strategy: Strategy,
    pub cleanup: bool,
    pub metrics_file: Option<PathBuf>,
}

impl CheckSettings {
    /// Resolves `check`'s flags against the configuration and the environment.
    pub fn resolve(args: &CheckArgs, config_flag: Option<&Path>, env: Env) -> Result<Self> {
        let config = config::load(config_flag, env)?;
        for name in &args.runtimes {
            check_runtime_name(name).context("--runtime")?;
        }
        if args.force && args.mode() == Mode::Report {
            bail!("--force retries a held-back rollout, so it needs --pull or --recreate");
        }
        Ok(CheckSettings {
            state_path: state_path(args.state.as_deref(), &config, env)?,
            platform: platform(&config, env)?,
            mode: args.mode(),
            dry_run: args.dry_run,
            only: args.runtimes.clone(),
            json: args.json,
            wait: args.wait,
            force: args.force,
            strategy: args.strategy.unwrap_or(config.strategy),
            cleanup: args.cleanup || config.cleanup,
            metrics_file: args
                .metrics_file
                .clone()
                .or_else(|| config.metrics_file.clone()),
            config,
        })
    }
}

/// The platform from `$MOLECULE_IMAGE_PLATFORM` or the `platform` key; the variable wins,
/// as the platform's own tooling sets it per host.
pub fn platform(config: &Config, env: Env) -> Result<Option<Platform>> {
    match env("MOLECULE_IMAGE_PLATFORM") {
        Some(text) => Ok(Some(text.parse().context("$MOLECULE_IMAGE_PLATFORM")?)),
        None => Ok(config.platform.clone()),
    }
}

/// The state file: `--state`, `$IMGWATCH_STATE`, the `state` key, `$STATE_DIRECTORY`
/// (systemd), then the user state directory.
pub fn state_path(flag: Option<&Path>, config: &Config, env: Env) -> Result<PathBuf> {
    if let Some(path) = flag {
        return checked_state_path(path).context("--state");
    }
    if let Some(path) = env("IMGWATCH_STATE") {
        return checked_state_path(Path::new(&path)).context("$IMGWATCH_STATE");
    }
    if let Some(path) = &config.state {
        return checked_state_path(path).context("key 'state'");
    }
    if let Some(dir) = env("STATE_DIRECTORY") {
        // systemd may list several directories separated by ':'; ours is the first.
        let first = dir.split(':').next().unwrap_or_default();
        return Ok(Path::new(first).join("state.json"));
    }
    let dirs = directories::ProjectDirs::from("", "", "imgwatch");
    match dirs.as_ref().and_then(|d| d.state_dir()) {
        Some(dir) => Ok(dir.join("state.json")),
        None => bail!("no state file location: pass --state or set $IMGWATCH_STATE"),
    }
}

/// A state path the user gave, refused when it cannot name a file: the lock file would
/// land beside a directory, or in the working directory for an empty path.
fn checked_state_path(path: &Path) -> Result<PathBuf> {
    if path.as_os_str().is_empty() {
        bail!("the state file path is empty");
    }
    if path.is_dir() || path.as_os_str().as_encoded_bytes().ends_with(b"/") {
        bail!(
            "state file {} is a directory; name a file in it, such as {}",
            path.display(),
            path.join("state.json").display()
        );
    }
    Ok(path.to_path_buf())
}

/// Resolves the state path for `status` and `forget`.
pub fn state_only(flag: Option<&Path>, config_flag: Option<&Path>, env: Env) -> Result<PathBuf> {
    let config = config::load(config_flag, env)?;
    state_path(flag, &config, env)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn state_path_precedence() {
        let config = Config {
            state: Some("/cfg/state.json".into()),
            ..Config::default()
        };
        let env = env_of(&[
            ("IMGWATCH_STATE", "/env/s.json"),
            ("STATE_DIRECTORY", "/sd"),
        ]);
        let flag = Path::new("/flag.json");
        assert_eq!(state_path(Some(flag), &config, &env).unwrap(), flag);
        assert_eq!(
            state_path(None, &config, &env).unwrap(),
            Path::new("/env/s.json")
        );
        let env = env_of(&[("STATE_DIRECTORY", "/var/lib/imgwatch:/other")]);
        assert_eq!(
            state_path(None, &config, &env).unwrap(),
            Path::new("/cfg/state.json")
        );
        assert_eq!(
            state_path(None, &Config::default(), &env).unwrap(),
            Path::new("/var/lib/imgwatch/state.json")
        );
    }

    #[test]
    fn platform_variable_overrides_the_file() {
        let config = Config {
            platform: Some("linux/arm64".parse().unwrap()),
            ..Config::default()
        };
        let env = env_of(&[("MOLECULE_IMAGE_PLATFORM", "linux/amd64")]);
        assert_eq!(
            platform(&config, &env).unwrap().unwrap().to_string(),
            "linux/amd64"
        );
        assert_eq!(
            platform(&config, &env_of(&[]))
                .unwrap()
                .unwrap()
                .to_string(),
            "linux/arm64"
        );
        let bad = env_of(&[("MOLECULE_IMAGE_PLATFORM", "amd64")]);
        let error = format!("{:#}", platform(&config, &bad).unwrap_err());
        assert!(error.contains("MOLECULE_IMAGE_PLATFORM"), "{error}");
    }
}
