//! The reference tables behind the man page and the example configuration file:
//! configuration keys, environment variables, exit statuses, runtime statuses.
//!
//! Tests check these tables against `config.rs` (every key, every default), so the
//! generated documents cannot drift from the code.

/// One configuration file key.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The key as written in the file.
    pub name: &'static str,
    /// The default as a TOML value, or `None` when the key is unset by default.
    pub default: Option<&'static str>,
    /// A TOML value to show for a key that has no default.
    pub example: Option<&'static str>,
    /// What the key does, in one line.
    pub help: &'static str,
    /// What happens when the key is unset, for keys without a default value.
    pub unset: Option<&'static str>,
}

const fn key(name: &'static str, default: &'static str, help: &'static str) -> Key {
    Key {
        name,
        default: Some(default),
        example: None,
        help,
        unset: None,
    }
}

const fn optional(
    name: &'static str,
    example: &'static str,
    help: &'static str,
    unset: &'static str,
) -> Key {
    Key {
        name,
        default: None,
        example: Some(example),
        help,
        unset: Some(unset),
    }
}

/// Every key of the configuration file, in the order the example file lists them.
pub const CONFIG_KEYS: &[Key] = &[
    key(
        "image",
        r#""ghcr.io/molecule-ai/workspace-template-{runtime}:latest""#,
        "Image reference watched for each runtime; {runtime} is replaced by the runtime's \
         name and must sit in the last path component.",
    ),
    key(
        "runtimes",
        concat!(
            r#"["claude-code", "langgraph", "crewai", "autogen", "deepagents", "hermes", "#,
            r#""gemini-cli", "openclaw"]"#
        ),
        "Runtimes watched on every run.",
    ),
    key(
        "discover",
        "true",
        "Also watch runtimes whose image (matched against image) the engine holds or a \
         container uses.",
    ),
    optional(
        "platform",
        r#""linux/arm64/v8""#,
        "Platform (os/arch[/variant]) whose manifest decides whether a multi-platform \
         image moved; $MOLECULE_IMAGE_PLATFORM overrides it.",
        "the engine's platform",
    ),
    key(
        "insecure_registries",
        "[]",
        "Registries (host or host:port) reached over plain HTTP instead of HTTPS.",
    ),
    optional(
        "state",
        r#""/var/lib/imgwatch/state.json""#,
        "State file; --state and $IMGWATCH_STATE take precedence.",
        "$STATE_DIRECTORY/state.json, else the user state directory",
    ),
    key(
        "timeout",
        r#""2m""#,
        "Deadline for the registry part of a run (all HEAD requests).",
    ),
    key(
        "strategy",
        r#""recreate""#,
        "How moved runtimes' containers are refreshed: recreate (same settings, new image, \
         rolled back if unhealthy) or remove (for an orchestrator to re-provision).",
    ),
    key(
        "container_prefix",
        r#""""#,
        "Only containers whose name starts with this prefix are refreshed.",
    ),
    key(
        "health_timeout",
        r#""1m""#,
        "How long a recreated container has to run (and pass its healthcheck) before it \
         counts as proven.",
    ),
    key(
        "cleanup",
        "false",
        "Remove the previous image once no container uses it any more.",
    ),
    optional(
        "metrics_file",
        r#""/var/lib/prometheus/node-exporter/imgwatch.prom""#,
        "Prometheus text file written after every run, for node_exporter's textfile \
         collector.",
        "no metrics are written",
    ),
    optional(
        "on_update",
        r#""logger -t imgwatch \"$IMGWATCH_RUNTIME now at $IMGWATCH_DIGEST\"""#,
        "Command run with /bin/sh -c after a runtime was updated or pulled.",
        "nothing is run",
    ),
    optional(
        "on_failure",
        r#""logger -t imgwatch -p user.err \"$IMGWATCH_RUNTIME: $IMGWATCH_ERROR\"""#,
        "Command run with /bin/sh -c after a runtime failed.",
        "nothing is run",
    ),
    key(
        "hook_timeout",
        r#""1m""#,
        "How long a hook may run before its process group is killed.",
    ),
    optional(
        "webhook_url",
        r#""https://hooks.example.com/imgwatch""#,
        "URL the JSON report is POSTed to after a run that updated, pulled or failed \
         something.",
        "no notification is sent",
    ),
];

/// An environment variable imgwatch reads.
pub type Variable = (&'static str, &'static str);

/// Every environment variable imgwatch reads.
pub const ENVIRONMENT: &[Variable] = &[
    (
        "IMGWATCH_CONFIG",
        "Configuration file, when --config is not given. It must exist.",
    ),
    ("IMGWATCH_STATE", "State file, when --state is not given."),
    (
        "IMGWATCH_LOG",
        "Log filter in tracing EnvFilter syntax (debug, imgwatch=trace,reqwest=debug); \
         replaces the level chosen by -v and -q.",
    ),
    (
        "CONFIGURATION_DIRECTORY",
        "Set by systemd from ConfigurationDirectory=; config.toml is looked for in its \
         first entry.",
    ),
    (
        "STATE_DIRECTORY",
        "Set by systemd from StateDirectory=; state.json lives in its first entry unless \
         configured otherwise.",
    ),
    (
        "MOLECULE_IMAGE_PLATFORM",
        "Platform to compare (os/arch[/variant]); overrides the platform key. The Molecule \
         platform's own tooling sets it per host.",
    ),
    (
        "GHCR_USER",
        "User name for ghcr.io; used together with GHCR_TOKEN.",
    ),
    (
        "GHCR_TOKEN",
        "Personal access token for ghcr.io (read:packages). Without it, the docker \
         configuration is consulted, then anonymous access is used.",
    ),
    (
        "DOCKER_CONFIG",
        "Directory of the docker CLI's config.json (auths, credsStore, credHelpers); \
         default ~/.docker.",
    ),
    (
        "DOCKER_HOST",
        "Docker Engine API address; default: the docker CLI's current context, else \
         unix:///var/run/docker.sock.",
    ),
    (
        "NO_COLOR",
        "When set and not empty, log lines carry no colour.",
    ),
    (
        "JOURNAL_STREAM",
        "Set by systemd; when it matches stderr, log lines carry journal priority \
         prefixes instead of timestamps or colours.",
    ),
];

/// Every exit status and what it means.
pub const EXIT_STATUSES: &[(i32, &str)] = &[
    (0, "No runtime failed."),
    (
        1,
        "One or more runtimes failed; the others were still handled.",
    ),
    (
        2,
        "Usage, configuration or state file error, found before any work was done.",
    ),
    (
        75,
        "Another run held the lock for longer than --wait (EX_TEMPFAIL); nothing was done.",
    ),
];

/// Every runtime status of the report and what it means.
pub const STATUSES: &[(&str, &str)] = &[
    (
        "seeded",
        "First sight: the digest was recorded, nothing was refreshed.",
    ),
    (
        "unchanged",
        "The registry serves the digest last brought in.",
    ),
    (
        "pending",
        "The image moved; this run only reported it (no --pull/--recreate, or --dry-run).",
    ),
    (
        "pulled",
        "The image moved and the new one was pulled; containers were left as they were.",
    ),
    (
        "updated",
        "The image moved, was pulled, and every container was brought onto it.",
    ),
    (
        "failed",
        "Something failed; the state keeps the previous digest and the next run tries again.",
    ),
    (
        "skipped",
        "Held back: a rollout of this digest failed recently and waits for its retry time.",
    ),
];
