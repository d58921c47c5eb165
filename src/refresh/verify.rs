//! Proving a started container: healthy when it has a healthcheck, otherwise still running,
//! unrestarted, after a settle time.
//!
//! The settle time is `min(health_timeout, 10 s)`. A container that cannot start at all
//! (missing binary, bad configuration, crashing entrypoint) exits or enters a restart loop
//! within its first seconds; ten seconds catches that class while keeping a host with many
//! containers quick to update. A container with a healthcheck proves itself instead, and
//! gets the whole `health_timeout`.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use bollard::models::{ContainerInspectResponse, HealthStatusEnum};

use super::api::EngineApi;

/// The settle time when the container has no healthcheck, unless the timeout is shorter.
pub const SETTLE: Duration = Duration::from_secs(10);
/// How often the container is looked at while waiting.
const POLL: Duration = Duration::from_millis(250);

/// Waits until every container in `ids` is proven; the first failure names its container.
///
/// The containers are waited for together, so a group costs one settle time, not one per
/// container.
pub fn verify(
    api: &dyn EngineApi,
    ids: &[String],
    health_timeout: Duration,
) -> Result<(), (String, String)> {
    let settle = SETTLE.min(health_timeout);
    let started = Instant::now();
    let mut waited = Duration::ZERO;
    let mut pending: Vec<&String> = ids.iter().collect();

    loop {
        let mut still = Vec::new();
        for id in pending {
            let inspect = match api.inspect_container(id) {
                Ok(Some(inspect)) => inspect,
                Ok(None) => return Err((id.clone(), "vanished after it was started".to_string())),
                Err(e) => return Err((id.clone(), format!("{e:#}"))),
            };
            // A new container starts with no restarts: any is a crash.
            match judge(&inspect, 0, waited, settle, health_timeout) {
                Ok(true) => {}
                Ok(false) => still.push(id),
                Err(e) => return Err((id.clone(), format!("{e:#}"))),
            }
        }
        if still.is_empty() {
            tracing::debug!(
                seconds = started.elapsed().as_secs_f64(),
                "containers proven"
            );
            return Ok(());
        }
        pending = still;
        api.sleep(POLL);
        waited += POLL;
    }
}

/// `Ok(true)` proven, `Ok(false)` not yet, `Err` failed.
fn judge(
    inspect: &ContainerInspectResponse,
    restarts: i64,
    waited: Duration,
    settle: Duration,
    health_timeout: Duration,
) -> Result<bool> {
    let state = inspect.state.clone().unwrap_or_default();
    // While the restart policy waits to restart it, the exit code is the one it died
    // with; once restarted the engine has reset it to 0, so it says nothing then.
    if state.restarting == Some(true) {
        bail!(
            "exited with code {} and is being restarted by its restart policy",
            state.exit_code.unwrap_or(0)
        );
    }
    let restarted = inspect.restart_count.unwrap_or(0) - restarts;
    if restarted > 0 {
        bail!("exited and was restarted by its restart policy ({restarted} times)");
    }
    if state.running != Some(true) {
        let mut reason = format!("exited with code {}", state.exit_code.unwrap_or(0));
        if let Some(error) = state.error.filter(|e| !e.is_empty()) {
            reason.push_str(&format!(": {error}"));
        }
        bail!(reason);
    }
    match state.health.as_ref().and_then(|h| h.status) {
        Some(HealthStatusEnum::HEALTHY) => Ok(true),
        Some(HealthStatusEnum::UNHEALTHY) => {
            let output = state
                .health
                .and_then(|h| h.log)
                .and_then(|log| log.last().and_then(|l| l.output.clone()))
                .map(|o| o.trim().to_string())
                .filter(|o| !o.is_empty());
            match output {
                Some(output) => bail!("turned unhealthy: {output}"),
                None => bail!("turned unhealthy"),
            }
        }
        Some(HealthStatusEnum::STARTING) => {
            if waited >= health_timeout {
                bail!(
                    "not healthy after {}",
                    humantime::format_duration(health_timeout)
                );
            }
            Ok(false)
        }
        _ => Ok(waited >= settle),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inspect(state: serde_json::Value, restarts: i64) -> ContainerInspectResponse {
        serde_json::from_value(json!({"Id": "x", "State": state, "RestartCount": restarts}))
            .unwrap()
    }

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn judges_states() {
        let running = json!({"Running": true});
        let healthy = json!({"Running": true, "Health": {"Status": "healthy"}});
        let starting = json!({"Running": true, "Health": {"Status": "starting"}});
        let unhealthy = json!({"Running": true, "Health": {"Status": "unhealthy",
            "Log": [{"ExitCode": 1, "Output": "boom\n"}]}});
        let exited = json!({"Running": false, "ExitCode": 3});
        let restarting = json!({"Running": true, "Restarting": true, "ExitCode": 3});
        let restarted = json!({"Running": true, "ExitCode": 0});
        let t = |state: &serde_json::Value, restarts, waited| {
            judge(
                &inspect(state.clone(), restarts),
                0,
                waited,
                2 * SEC,
                5 * SEC,
            )
            .map_err(|e| e.to_string())
        };
        assert_eq!(t(&running, 0, SEC), Ok(false));
        assert_eq!(t(&running, 0, 2 * SEC), Ok(true));
        assert_eq!(t(&healthy, 0, Duration::ZERO), Ok(true));
        assert_eq!(t(&starting, 0, 4 * SEC), Ok(false));
        assert_eq!(
            t(&starting, 0, 5 * SEC),
            Err("not healthy after 5s".to_string())
        );
        assert_eq!(
            t(&unhealthy, 0, SEC),
            Err("turned unhealthy: boom".to_string())
        );
        assert_eq!(t(&exited, 0, SEC), Err("exited with code 3".to_string()));
        assert_eq!(
            t(&restarting, 0, SEC),
            Err("exited with code 3 and is being restarted by its restart policy".to_string())
        );
        // Restarted already: the engine has reset the exit code, so none is claimed.
        assert_eq!(
            t(&restarted, 2, SEC),
            Err("exited and was restarted by its restart policy (2 times)".to_string())
        );
    }
}
