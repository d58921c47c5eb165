//! Command-line grammar: the raw flags exactly as clap parses them.
//!
//! Nothing here reads a file or the environment beyond what clap does itself;
//! `settings` turns these raw values into checked settings.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// Top-level command line.
#[derive(Debug, Parser)]
#[command(
    name = "imgwatch",
    version,
    about = "Watch workspace-template images and refresh the containers built from them",
    long_about = "imgwatch checks the registry digest of each workspace-template runtime image \
                  against the digest it saw last, and for every runtime whose image moved \
                  it can pull the new image and recreate that runtime's containers. It is \
                  meant to run from a systemd timer, by hand, or as a CI smoke step.",
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Configuration file (default: $IMGWATCH_CONFIG, $CONFIGURATION_DIRECTORY/config.toml,
    /// /etc/imgwatch/config.toml, then the user config directory)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// More log output on stderr (-v debug, -vv trace)
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only warnings and errors on stderr
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Find which runtime images moved; optionally pull them and recreate their containers
    Check(CheckArgs),
    /// Show what the state file holds for each runtime
    Status(StatusArgs),
    /// Print the registry digest of one image reference
    Digest(DigestArgs),
    /// Drop state entries so the next run seeds them again
    Forget(ForgetArgs),
    /// Print shell completions
    Completions {
        /// The shell to print completions for
        shell: clap_complete::Shell,
    },
}

/// Flags of `imgwatch check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Pull the image of every runtime whose digest moved
    #[arg(long, conflicts_with = "recreate")]
    pub pull: bool,

    /// Pull moved images and recreate the containers of their runtimes
    #[arg(long)]
    pub recreate: bool,

    /// Report what would happen; change neither the state nor the engine
    #[arg(long)]
    pub dry_run: bool,

    /// Only check this runtime (repeatable)
    #[arg(long = "runtime", value_name = "NAME")]
    pub runtimes: Vec<String>,

    /// Print the report as one JSON object
    #[arg(long)]
    pub json: bool,

    /// State file (default: $IMGWATCH_STATE, the `state` key, $STATE_DIRECTORY/state.json,
    /// then the user state directory)
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// How long to wait for another run's lock before giving up with exit status 75
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub wait: std::time::Duration,

    /// Retry a digest whose rollout failed now, without waiting for its backoff
    #[arg(long)]
    pub force: bool,

    /// How moved runtimes' containers are refreshed (overrides the `strategy` key)
    #[arg(long, value_enum, value_name = "STRATEGY")]
    pub strategy: Option<crate::config::Strategy>,

    /// Remove the previous image once no container uses it (the `cleanup` key)
    #[arg(long)]
    pub cleanup: bool,

    /// Write Prometheus metrics to this file after the run (the `metrics_file` key)
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
}

/// Flags of `imgwatch status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the state as JSON
    #[arg(long)]
    pub json: bool,

    /// State file (see `check --state`)
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
}

/// Flags of `imgwatch digest`.
#[derive(Debug, Args)]
pub struct DigestArgs {
    /// Image reference, e.g. ghcr.io/molecule-ai/workspace-template-langgraph:latest
    #[arg(value_name = "REF")]
    pub reference: String,

    /// Print the digest of this platform's manifest instead of the tag's own digest
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
}

/// Flags of `imgwatch forget`.
#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// Runtimes whose entries to drop
    #[arg(
        value_name = "RUNTIME",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub runtimes: Vec<String>,

    /// Drop every entry
    #[arg(long)]
    pub all: bool,

    /// State file (see `check --state`)
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// How long to wait for a running check's lock
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub wait: std::time::Duration,
}

/// What `check` does with a moved runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Report only
    Report,
    /// Pull the new image
    Pull,
    /// Pull and recreate the containers
    Recreate,
}

impl CheckArgs {
    /// The mode the flags ask for.
    pub fn mode(&self) -> Mode {
        if self.recreate {
            Mode::Recreate
        } else if self.pull {
            Mode::Pull
        } else {
            Mode::Report
        }
    }
}

/// Parses a human duration such as `90s`, `10m` or `1h 30m`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| format!("'{text}': {e} (try 30s, 10m, 1h)"))
}

/// The clap command, for man pages and completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
