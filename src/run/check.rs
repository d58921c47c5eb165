//! `imgwatch check`: lock, load the state, resolve every runtime, refresh the moved ones,
//! write the state, and say what happened.

use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::Fatal;
use super::decide::{self, Local, Remote, Verdict};
use super::resolve::{self, Target};
use crate::cli::Mode;
use crate::engine::Engine;
use crate::reference::Reference;
use crate::refresh;
use crate::registry::{Options, Platform};
use crate::report::{Report, RuntimeReport, Status};
use crate::settings::{CheckSettings, Env};
use crate::state::{self, State};

/// Runs a check and returns its report and the state it wrote; the caller prints the
/// report and picks the exit status.
pub fn check(settings: &CheckSettings, env: Env) -> Result<Checked, Fatal> {
    let started = Instant::now();

    // A dry run writes nothing, so it neither needs nor takes the lock.
    let _lock = if settings.dry_run {
        None
    } else {
        Some(state::acquire(&settings.state_path, settings.wait).map_err(Fatal::from_lock)?)
    };
    let mut state = state::load(&settings.state_path).map_err(Fatal::usage)?;

    let engine = connect_engine(settings);
    if let Some(engine) = &engine
        && settings.mode != Mode::Report
        && !settings.dry_run
    {
        // Containers a killed run left aside are put right before anything else; a run
        // that only reports or only pretends leaves the engine alone.
        match refresh::recover(engine) {
            Ok(recovered) if !recovered.is_empty() => {
                tracing::warn!(
                    "finished {} container(s) an interrupted run left",
                    recovered.len()
                );
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!("cannot check for an interrupted run's leftovers: {error:#}")
            }
        }
    }
    let platform = match (&settings.platform, &engine) {
        (Some(platform), _) => platform.clone(),
        (None, Some(engine)) => engine.platform().unwrap_or_else(|error| {
            tracing::warn!("cannot read the engine's platform, using the host's: {error:#}");
            Platform::host()
        }),
        (None, None) => Platform::host(),
    };

    // Holds are judged against the run's start, so a hold that ends while the run goes
    // on cannot meet a runtime resolved as held.
    let run_started = Utc::now();
    let targets = targets(settings, &state, engine.as_ref(), run_started).map_err(Fatal::usage)?;
    let options = Options {
        insecure_registries: settings.config.insecure_registries.clone(),
        deadline: Instant::now() + settings.config.timeout,
    };
    let resolution = resolve::resolve_all(&targets, &platform, &options, env);
    log_resolution_errors(&targets, &resolution.remotes);

    let run = Run {
        settings,
        engine: engine.as_ref(),
        platform: &platform,
        started: run_started,
    };
    let mut report = Report::default();
    for (target, remote) in targets.iter().zip(resolution.remotes) {
        let credentials = resolution
            .credentials
            .get(&target.reference.registry)
            .cloned()
            .flatten();
        let line = handle(&run, &mut state, target, remote, credentials.as_ref());

        // Checkpoint after a runtime whose containers changed, so a run killed later
        // does not refresh it again.
        let changed = matches!(line.status, Status::Updated) || !line.containers.is_empty();
        if changed
            && !settings.dry_run
            && let Err(error) = state::save(&settings.state_path, &state)
        {
            tracing::warn!("{error:#}");
        }
        report.runtimes.push(line);
    }

    // A state that cannot be written fails the run, but only after its report is out:
    // containers may already have been recreated, and the operator must see that.
    let unsaved = match settings.dry_run {
        true => None,
        false => state::save(&settings.state_path, &state).err(),
    };
    if let Some(error) = &unsaved {
        tracing::error!("{error:#}; the next run will see this run's changes again");
    }
    tracing::info!(
        "checked {} runtime(s): {} moved, {} updated, {} failed in {:.1}s",
        report.runtimes.len(),
        report
            .runtimes
            .iter()
            .filter(|r| matches!(r.status, Status::Pending | Status::Pulled | Status::Updated))
            .count(),
        report.count(Status::Updated),
        report.count(Status::Failed),
        started.elapsed().as_secs_f64()
    );
    Ok(Checked {
        report,
        state,
        unsaved,
    })
}

/// What a check produced.
pub struct Checked {
    pub report: Report,
    /// The state as written (or as it would have been).
    pub state: State,
    /// Why the state could not be written, if it could not: the run then exits 1.
    pub unsaved: Option<anyhow::Error>,
}

impl Checked {
    /// The exit status the run ends with.
    pub fn exit_status(&self) -> u8 {
        if self.report.any_failed() || self.unsaved.is_some() {
            super::EXIT_FAILED
        } else {
            super::EXIT_OK
        }
    }
}

/// Logs each distinct registry error once, naming the runtimes it hit: a registry that
/// cannot be reached is one line in the journal, not one per runtime.
fn log_resolution_errors(targets: &[Target], remotes: &[Result<Remote>]) {
    let mut errors: Vec<(String, Vec<&str>)> = Vec::new();
    for (target, remote) in targets.iter().zip(remotes) {
        let Err(error) = remote else { continue };
        let text = format!("{error:#}");
        match errors.iter_mut().find(|(t, _)| *t == text) {
            Some((_, runtimes)) => runtimes.push(&target.runtime),
            None => errors.push((text, vec![&target.runtime])),
        }
    }
    for (text, runtimes) in errors {
        tracing::warn!(runtimes = runtimes.join(","), "{text}");
    }
}

/// Connects to the engine when the run can use it. Report-only runs carry on without it.
fn connect_engine(settings: &CheckSettings) -> Option<Engine> {
    match Engine::connect() {
        Ok(engine) => Some(engine),
        Err(error) if settings.mode == Mode::Report => {
            tracing::warn!(
                "docker engine unreachable; checking configured runtimes only, \
                 without discovery or local image checks: {error:#}"
            );
            None
        }
        Err(error) => {
            tracing::error!(
                "docker engine unreachable; moved runtimes cannot be refreshed: {error:#}"
            );
            None
        }
    }
}

/// The runtimes to check: configured, discovered on the engine, or those named on the
/// command line; each with the digest the state holds.
fn targets(
    settings: &CheckSettings,
    state: &State,
    engine: Option<&Engine>,
    run_started: DateTime<Utc>,
) -> Result<Vec<Target>> {
    let config = &settings.config;
    let mut names: BTreeSet<String> = BTreeSet::new();
    if settings.only.is_empty() {
        names.extend(config.runtimes.iter().cloned());
        if config.discover
            && let Some(engine) = engine
        {
            names.extend(discover(engine, config));
        }
    } else {
        names.extend(settings.only.iter().cloned());
    }
    names
        .into_iter()
        .map(|runtime| {
            let reference = config.reference(&runtime)?;
            let entry = state.runtimes.get(&runtime);
            let known = entry.map(|e| e.digest.clone());
            let held = entry
                .and_then(|e| e.held.as_ref())
                .filter(|h| !settings.force && run_started < h.retry_at)
                .map(|h| h.digest.clone());
            Ok(Target {
                runtime,
                reference,
                known,
                held,
            })
        })
        .collect()
}

/// Runtimes whose image (matching the template) the engine has or a container uses.
fn discover(engine: &Engine, config: &crate::config::Config) -> Vec<String> {
    let references = match engine.image_references() {
        Ok(references) => references,
        Err(error) => {
            tracing::warn!("cannot list the engine's images for discovery: {error:#}");
            return Vec::new();
        }
    };
    let mut found: BTreeSet<String> = BTreeSet::new();
    for text in references {
        let Ok(reference) = Reference::parse_loose(&text) else {
            continue;
        };
        if let Some(runtime) = config.template.runtime_of(&reference)
            && !config.runtimes.contains(&runtime)
            && found.insert(runtime.clone())
        {
            tracing::info!(runtime, "discovered from local image {text}");
        }
    }
    found.into_iter().collect()
}

/// What every runtime of one run shares.
#[derive(Clone, Copy)]
struct Run<'a> {
    settings: &'a CheckSettings,
    engine: Option<&'a Engine>,
    platform: &'a Platform,
    /// When the run started: holds are judged against it.
    started: DateTime<Utc>,
}

/// Decides, refreshes if asked, updates the state entry, and reports one runtime.
fn handle(
    run: &Run,
    state: &mut State,
    target: &Target,
    remote: Result<Remote>,
    credentials: Option<&crate::registry::Credentials>,
) -> RuntimeReport {
    let Run {
        settings,
        engine,
        platform,
        started: run_started,
    } = *run;
    let now = Utc::now();
    let platform_text = platform.to_string();
    let image = target.reference.to_string();
    let mut line = RuntimeReport {
        runtime: target.runtime.clone(),
        image: image.clone(),
        status: Status::Failed,
        previous: target.known.clone(),
        digest: None,
        containers: Vec::new(),
        error: None,
    };

    let remote = match remote {
        Ok(remote) => remote,
        Err(error) => {
            let text = format!("{error:#}");
            if let Some(entry) = state.runtimes.get_mut(&target.runtime) {
                decide::failed(entry, &text, None, now);
            }
            line.error = Some(text);
            return line;
        }
    };
    line.digest = Some(remote.digest.clone());
    if let Some(entry) = state.runtimes.get_mut(&target.runtime) {
        // The `image` key may have changed since the entry was written.
        entry.image = image.clone();
    }

    let local = match (state.runtimes.contains_key(&target.runtime), engine) {
        (false, Some(engine)) => match engine.local_repo_digests(&target.reference) {
            Ok(Some(digests)) => Local::Digests(digests),
            Ok(None) => Local::Unknown,
            Err(error) => {
                tracing::warn!(
                    runtime = target.runtime,
                    "cannot read the local image: {error:#}"
                );
                Local::Unknown
            }
        },
        _ => Local::Unknown,
    };
    let entry = state.runtimes.get(&target.runtime);
    let verdict = decide::decide(
        entry,
        &remote,
        &platform_text,
        &local,
        settings.force,
        run_started,
    );
    tracing::debug!(runtime = target.runtime, ?verdict, "decided");

    match verdict {
        Verdict::Seed => {
            line.status = Status::Seeded;
            if !settings.dry_run {
                let entry = decide::new_entry(
                    &image,
                    &remote.digest,
                    &platform_text,
                    remote.platform_digest.as_deref(),
                    now,
                );
                state.runtimes.insert(target.runtime.clone(), entry);
            }
        }
        Verdict::Unchanged { advance } => {
            line.status = Status::Unchanged;
            if let Some(entry) = state.runtimes.get_mut(&target.runtime) {
                if advance {
                    tracing::info!(
                        runtime = target.runtime,
                        "tag moved for other platforms only; nothing to refresh on {platform}"
                    );
                    decide::advance(entry, &remote, &platform_text, false, now);
                }
                decide::succeeded(entry, now);
            }
        }
        Verdict::HeldBack { retry_at, attempts } => {
            line.status = Status::Skipped;
            line.error = Some(format!(
                "rollout of this digest failed {attempts} time(s); next try after {} \
                 (or run check --recreate --force)",
                retry_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
            if let Some(entry) = state.runtimes.get_mut(&target.runtime) {
                entry.last_checked = now;
            }
        }
        Verdict::Moved { previous } => {
            line.previous = previous.clone();
            if entry.is_none()
                && let Some(previous) = &previous
                && !settings.dry_run
            {
                // First seen already moved: the local image's digest is the baseline.
                let baseline = decide::new_entry(&image, previous, &platform_text, None, now);
                state.runtimes.insert(target.runtime.clone(), baseline);
            }
            refresh_moved(run, state, target, &remote, credentials, &mut line);
        }
    }
    line
}

/// Handles a runtime whose digest moved: report it, or pull and recreate.
fn refresh_moved(
    run: &Run,
    state: &mut State,
    target: &Target,
    remote: &Remote,
    credentials: Option<&crate::registry::Credentials>,
    line: &mut RuntimeReport,
) {
    let Run {
        settings,
        engine,
        platform,
        ..
    } = *run;
    let now = Utc::now();
    let platform_text = platform.to_string();
    if settings.mode == Mode::Report {
        line.status = Status::Pending;
        if let Some(entry) = state.runtimes.get_mut(&target.runtime) {
            decide::succeeded(entry, now);
        }
        return;
    }
    let Some(engine) = engine else {
        line.status = Status::Failed;
        line.error = Some("docker engine unreachable; cannot pull or recreate".to_string());
        if let Some(entry) = state.runtimes.get_mut(&target.runtime) {
            decide::failed(entry, line.error.as_deref().unwrap_or_default(), None, now);
        }
        return;
    };

    let job = refresh::Job {
        runtime: &target.runtime,
        reference: &target.reference,
        digest: &remote.digest,
        platform,
        credentials,
        recreate: settings.mode == Mode::Recreate,
        strategy: settings.strategy,
        container_prefix: &settings.config.container_prefix,
        health_timeout: settings.config.health_timeout,
        cleanup: settings.cleanup,
        dry_run: settings.dry_run,
    };
    let outcome = refresh::refresh(engine, &job);
    line.containers = outcome.containers;
    if settings.dry_run {
        line.status = Status::Pending;
        line.error = outcome.error;
        return;
    }

    let now = Utc::now();
    match outcome.error {
        None => {
            line.status = if settings.mode == Mode::Recreate {
                Status::Updated
            } else {
                Status::Pulled
            };
            let entry = state
                .runtimes
                .entry(target.runtime.clone())
                .or_insert_with(|| {
                    decide::new_entry(&line.image, &remote.digest, &platform_text, None, now)
                });
            // A pull alone leaves the containers on the old image: the change stays
            // pending, so the next --recreate run still acts on it.
            if settings.mode == Mode::Recreate {
                decide::advance(entry, remote, &platform_text, true, now);
            }
            decide::succeeded(entry, now);
        }
        Some(error) => {
            tracing::warn!(runtime = target.runtime, "refresh failed: {error}");
            line.status = Status::Failed;
            if let Some(entry) = state.runtimes.get_mut(&target.runtime) {
                decide::failed(entry, &error, Some(&remote.digest), now);
            }
            line.error = Some(error);
        }
    }
}
