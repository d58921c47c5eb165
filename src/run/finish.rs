//! After a check: hooks, the webhook and the metrics file. None of them changes the
//! run's outcome; each failure is logged as a warning.

use std::time::Instant;

use chrono::Utc;

use super::EXIT_LOCKED;
use crate::hooks::{self, Hooks};
use crate::metrics::{self, RunSummary};
use crate::report::Report;
use crate::settings::CheckSettings;
use crate::state::State;

/// Runs what follows a check that ended with `exit_status`. `outcome` is the report and
/// the state as written, when the run got that far.
pub fn finish(
    settings: &CheckSettings,
    outcome: Option<(&Report, &State)>,
    exit_status: u8,
    started: Instant,
) {
    // A dry run changes nothing, so it tells nobody anything either.
    if settings.dry_run {
        return;
    }
    let config = &settings.config;
    if let Some((report, _)) = outcome {
        let hooks = Hooks {
            on_update: config.on_update.clone(),
            on_failure: config.on_failure.clone(),
            timeout: config.hook_timeout,
        };
        hooks::run(&hooks, report);
        if let Some(url) = &config.webhook_url
            && let Err(error) = crate::webhook::notify(url, report)
        {
            tracing::warn!("{error:#}");
        }
    }

    // A run that found the lock held did nothing; the run holding it writes the metrics.
    let Some(path) = &settings.metrics_file else {
        return;
    };
    if exit_status == EXIT_LOCKED {
        return;
    }
    let summary = RunSummary {
        finished_at: Utc::now(),
        duration: started.elapsed(),
        exit_status: i32::from(exit_status),
    };
    let empty = (Report::default(), State::default());
    let (report, state) = outcome.unwrap_or((&empty.0, &empty.1));
    if let Err(error) = metrics::write(path, &metrics::render(&summary, report, state)) {
        tracing::warn!("{error:#}");
    }
}
