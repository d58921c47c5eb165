//! The `webhook_url` notification: POST the JSON report when a run changed or failed
//! something, and stay silent when nothing happened.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};

use crate::report::{Report, Status};

/// How long connecting to the receiver may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one whole request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Pause before the one retry.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// True when the report is worth a notification: a runtime was updated, pulled or failed.
pub fn worth_sending(report: &Report) -> bool {
    report
        .runtimes
        .iter()
        .any(|r| matches!(r.status, Status::Updated | Status::Pulled | Status::Failed))
}

/// Posts the report as JSON to `url` when [`worth_sending`] says so; `Ok(false)` when not.
///
/// A failed attempt (no connection, timeout, a status other than 2xx) is retried once.
/// The error after the second attempt is for the caller to log at warning level; it must
/// not change the run's exit status. Messages name only the URL's scheme and host, since
/// webhook URLs often carry a secret in their path.
pub fn notify(url: &str, report: &Report) -> Result<bool> {
    if !worth_sending(report) {
        tracing::debug!("nothing updated or failed; no webhook notification");
        return Ok(false);
    }
    let body = serde_json::to_vec(report).context("cannot encode the report as JSON")?;
    let shown = redact(url);

    // reqwest's blocking client must not be created or dropped on an async runtime's
    // thread; a thread of its own makes this safe to call from anywhere.
    std::thread::scope(|scope| {
        scope
            .spawn(|| send_with_retry(url, &shown, body))
            .join()
            .map_err(|_| anyhow!("webhook {shown}: the sending thread panicked"))?
    })?;
    Ok(true)
}

/// Posts `body`, and once more after a pause when the first attempt fails.
fn send_with_retry(url: &str, shown: &str, body: Vec<u8>) -> Result<()> {
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("imgwatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot set up the HTTP client")?;

    let attempt = || -> Result<()> {
        let response = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .map_err(|e| anyhow!("POST {shown}: {}", crate::registry::http::describe(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(anyhow!("POST {shown}: {status}"));
        }
        tracing::info!(webhook = %shown, %status, "webhook notified");
        Ok(())
    };

    match attempt() {
        Ok(()) => Ok(()),
        Err(first) => {
            tracing::warn!("{first:#}; retrying in {}s", RETRY_PAUSE.as_secs());
            std::thread::sleep(RETRY_PAUSE);
            attempt().context("webhook notification failed twice")
        }
    }
}

/// `scheme://host[:port]` of a URL, without user, path or query.
pub fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => {
            let host = parsed.host_str().unwrap_or("?");
            match parsed.port() {
                Some(port) => format!("{}://{host}:{port}/…", parsed.scheme()),
                None => format!("{}://{host}/…", parsed.scheme()),
            }
        }
        Err(_) => "<invalid URL>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_everything_but_scheme_and_host() {
        assert_eq!(
            redact("https://user:pw@hooks.example/services/T000/B000/XXXX?x=1"),
            "https://hooks.example/…"
        );
        assert_eq!(
            redact("http://127.0.0.1:8080/hook"),
            "http://127.0.0.1:8080/…"
        );
        assert_eq!(redact("not a url"), "<invalid URL>");
    }
}
