//! A private directory per test with its own config, state and docker client config, and
//! the real `imgwatch` binary run inside it.

use std::fs;
use std::path::PathBuf;

use assert_cmd::Command;
use tempfile::TempDir;

/// One test's files and environment.
pub struct Sandbox {
    pub dir: TempDir,
    /// Whether commands may reach the real engine (otherwise DOCKER_HOST points nowhere).
    engine: bool,
}

impl Sandbox {
    /// A sandbox whose commands cannot reach any engine.
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("imgwatch-test-")
            .tempdir()
            .expect("temp dir");
        Sandbox { dir, engine: false }
    }

    /// A sandbox whose commands use the machine's engine.
    pub fn with_engine() -> Sandbox {
        Sandbox {
            engine: true,
            ..Sandbox::new()
        }
    }

    /// A path inside the sandbox.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The state file commands use.
    pub fn state_path(&self) -> PathBuf {
        self.path("state/state.json")
    }

    /// Writes the config file commands use.
    pub fn config(&self, text: &str) -> PathBuf {
        let path = self.path("config.toml");
        fs::write(&path, text).expect("write config");
        path
    }

    /// Writes `$DOCKER_CONFIG/config.json`.
    pub fn docker_config(&self, value: serde_json::Value) {
        let dir = self.path("docker");
        fs::create_dir_all(&dir).expect("docker config dir");
        fs::write(dir.join("config.json"), value.to_string()).expect("write docker config");
    }

    /// The state file parsed, or `Null` when there is none.
    pub fn state(&self) -> serde_json::Value {
        match fs::read(self.state_path()) {
            Ok(bytes) => serde_json::from_slice(&bytes).expect("state is JSON"),
            Err(_) => serde_json::Value::Null,
        }
    }

    /// The `imgwatch` binary with a clean environment pointing into the sandbox.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::from_std(self.process());
        cmd.timeout(std::time::Duration::from_secs(120));
        cmd
    }

    /// The same as [`Sandbox::cmd`], as a plain process to spawn and kill.
    pub fn process(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("imgwatch"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.path("xdg-config"))
            .env("XDG_STATE_HOME", self.path("xdg-state"))
            .env("DOCKER_CONFIG", self.path("docker"))
            .env("IMGWATCH_STATE", self.state_path())
            .env("IMGWATCH_LOG", "imgwatch=debug");
        if self.path("config.toml").exists() {
            cmd.env("IMGWATCH_CONFIG", self.path("config.toml"));
        }
        if !self.engine {
            cmd.env(
                "DOCKER_HOST",
                format!("unix://{}", self.path("no-engine.sock").display()),
            );
        } else if let Ok(host) = std::env::var("DOCKER_HOST") {
            cmd.env("DOCKER_HOST", host);
        }
        cmd
    }
}

/// A command's outcome, decoded.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// The stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The JSON report's entry for one runtime.
    pub fn runtime(&self, name: &str) -> serde_json::Value {
        let report = self.json();
        report["runtimes"]
            .as_array()
            .and_then(|list| list.iter().find(|r| r["runtime"] == name).cloned())
            .unwrap_or_else(|| panic!("no runtime {name} in {report}"))
    }
}

/// Runs a command and decodes what it did.
pub fn run(cmd: &mut Command) -> Ran {
    let output = cmd.output().expect("run imgwatch");
    Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
