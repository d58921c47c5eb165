//! One HTTP exchange with a registry: deadlines, `Retry-After`, capped bodies, and errors
//! that say which request failed.

use std::io::Read;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Result, anyhow, bail};
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Longest a single request may take, deadline permitting.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest error or token body read.
pub const MAX_SMALL_BODY: usize = 1 << 20;

/// A registry answered with a status the caller did not expect.
#[derive(Debug, thiserror::Error)]
#[error("{method} {url}: {status}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
pub struct StatusError {
    pub method: String,
    pub url: String,
    pub status: StatusCode,
    /// The registry's own explanation, from its JSON `errors` body, when it sent one.
    pub detail: Option<String>,
}

/// Builds the shared blocking client.
pub fn client() -> Result<Client> {
    Client::builder()
        .user_agent(concat!("imgwatch/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| anyhow!("cannot set up the HTTP client: {e}"))
}

/// Sends a request, honouring one `Retry-After` on 429 and 503 when it fits the deadline.
///
/// `build` is called again for the retry, so a request body or fresh header can be made
/// each time. Statuses other than 429 and 503 are returned to the caller as they are.
pub fn send(
    method: &str,
    url: &str,
    deadline: Instant,
    build: &dyn Fn() -> RequestBuilder,
) -> Result<Response> {
    let mut retried = false;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            bail!("{method} {url}: the run's deadline passed (config key 'timeout')");
        }
        let started = Instant::now();
        let response = build()
            .timeout(remaining.min(REQUEST_TIMEOUT))
            .send()
            .map_err(|e| anyhow!("{method} {url}: {}", describe(&e)))?;
        let status = response.status();
        tracing::debug!(
            "{method} {url} -> {} in {} ms",
            status.as_u16(),
            started.elapsed().as_millis()
        );
        if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::SERVICE_UNAVAILABLE {
            return Ok(response);
        }

        let wait = retry_after(response.headers(), SystemTime::now());
        let remaining = deadline.saturating_duration_since(Instant::now());
        match wait {
            Some(wait) if !retried && wait < remaining => {
                tracing::info!(
                    "{method} {url}: {status}; retrying in {}s as asked",
                    wait.as_secs()
                );
                std::thread::sleep(wait);
                retried = true;
            }
            Some(wait) if !retried => {
                bail!(
                    "{method} {url}: {status}; the registry asks to retry in {}s, \
                     past this run's deadline",
                    wait.as_secs()
                )
            }
            _ => return Err(status_error(method, url, response).into()),
        }
    }
}

/// Turns an unexpected response into a [`StatusError`], reading the registry's message.
pub fn status_error(method: &str, url: &str, response: Response) -> StatusError {
    let status = response.status();
    let detail = read_capped(response, 64 << 10)
        .ok()
        .and_then(|body| registry_message(&body));
    StatusError {
        method: method.to_string(),
        url: url.to_string(),
        status,
        detail,
    }
}

/// Reads a body, failing when it is larger than `cap` bytes.
pub fn read_capped(response: Response, cap: usize) -> Result<Vec<u8>> {
    let url = response.url().to_string();
    if let Some(length) = response.content_length()
        && length > cap as u64
    {
        bail!("{url}: response of {length} bytes is larger than the {cap}-byte limit");
    }
    let mut body = Vec::new();
    response
        .take(cap as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| anyhow!("{url}: reading the response: {e}"))?;
    if body.len() > cap {
        bail!("{url}: response is larger than the {cap}-byte limit");
    }
    Ok(body)
}

/// The wait a `Retry-After` header asks for: delta-seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The first message of a distribution-spec error body: `{"errors":[{"code","message"}]}`.
fn registry_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let first = value.get("errors")?.get(0)?;
    let code = first.get("code").and_then(|c| c.as_str()).unwrap_or("");
    let message = first.get("message").and_then(|m| m.as_str()).unwrap_or("");
    let text = match (code.is_empty(), message.is_empty()) {
        (false, false) => format!("{code}: {message}"),
        (false, true) => code.to_string(),
        (true, false) => message.to_string(),
        (true, true) => return None,
    };
    // The text ends up in a one-line report and in the journal; control characters (a
    // newline, a terminal escape sequence) from a registry have no place in either.
    let cleaned = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200);
    Some(cleaned.collect())
}

/// A transport error in a few words, without reqwest's repetition of the URL.
pub fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // hyper's "client error (Connect)" layer repeats what the words above say.
        if !cause_text.starts_with("client error (") {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn reads_retry_after_in_both_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(30)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&earlier).unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, now), None);
    }

    #[test]
    fn reads_registry_error_bodies() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#;
        assert_eq!(
            registry_message(body).as_deref(),
            Some("MANIFEST_UNKNOWN: manifest unknown")
        );
        assert_eq!(registry_message(b"<html>"), None);
    }

    #[test]
    fn registry_messages_cannot_break_lines_or_colour_the_terminal() {
        let body = br#"{"errors":[{"code":"DENIED","message":"no
second line [31mred"}]}"#;
        let text = registry_message(body).unwrap();
        assert!(!text.chars().any(char::is_control), "{text:?}");
        assert_eq!(text, "DENIED: no second line  [31mred");
    }
}
