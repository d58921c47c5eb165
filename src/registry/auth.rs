//! Turning a registry's challenge into an `Authorization` header: Bearer tokens from the
//! challenge's realm, or Basic where the registry asks for it.
//!
//! Credentials go only to the registry itself and to the realm its challenge names, and
//! never to a plain-HTTP realm of a registry spoken to over HTTPS.

use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use reqwest::blocking::Client;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::Deserialize;

use super::challenge::Challenge;
use super::credentials::Credentials;
use super::http::{self, MAX_SMALL_BODY};

/// What the registry asked for, reduced to what imgwatch answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// Fetch a token from `realm`.
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
    /// Send the credentials with every request.
    Basic,
}

/// Picks the scheme to answer from a list of challenges: Bearer before Basic.
pub fn choose(challenges: &[Challenge]) -> Result<Scheme> {
    if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
        let realm = bearer
            .param("realm")
            .filter(|r| !r.is_empty())
            .ok_or_else(|| anyhow!("the registry's Bearer challenge has no realm"))?;
        return Ok(Scheme::Bearer {
            realm: realm.to_string(),
            service: bearer.param("service").map(str::to_string),
            scope: bearer.param("scope").map(str::to_string),
        });
    }
    if challenges.iter().any(|c| c.scheme == "basic") {
        return Ok(Scheme::Basic);
    }
    let offered: Vec<&str> = challenges.iter().map(|c| c.scheme.as_str()).collect();
    if offered.is_empty() {
        bail!("the registry answered 401 without a usable WWW-Authenticate challenge");
    }
    bail!(
        "the registry offers only unsupported auth schemes: {}",
        offered.join(", ")
    )
}

/// The pull scope for a repository.
pub fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

/// The `Authorization` header value for Basic credentials.
pub fn basic_header(credentials: &Credentials) -> Result<HeaderValue> {
    let Credentials::Basic { username, password } = credentials else {
        bail!("the registry asks for Basic auth, but the only credential is an identity token");
    };
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    sensitive(&format!("Basic {encoded}"))
}

/// A header value marked sensitive, so it never shows in debug output.
pub fn sensitive(text: &str) -> Result<HeaderValue> {
    let mut value =
        HeaderValue::from_str(text).context("credential is not a valid header value")?;
    value.set_sensitive(true);
    Ok(value)
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

/// Fetches a Bearer token for `scopes` from the realm; one request, however many scopes.
pub fn fetch_token(
    client: &Client,
    realm: &str,
    service: Option<&str>,
    scopes: &[String],
    credentials: Option<&Credentials>,
    registry_is_plain_http: bool,
    deadline: Instant,
) -> Result<HeaderValue> {
    let url = reqwest::Url::parse(realm).with_context(|| format!("token realm '{realm}'"))?;
    match url.scheme() {
        "https" => {}
        "http" if registry_is_plain_http || credentials.is_none() => {}
        _ => bail!(
            "token realm '{realm}' is not HTTPS; refusing to send credentials there \
             (list the registry in 'insecure_registries' if this is intended)"
        ),
    }

    let response = match credentials {
        // An identity token from `docker login` is an OAuth2 refresh token: POST a form.
        Some(Credentials::IdentityToken(token)) => {
            let mut form = vec![
                ("grant_type", "refresh_token".to_string()),
                ("refresh_token", token.clone()),
                ("client_id", "imgwatch".to_string()),
                ("scope", scopes.join(" ")),
            ];
            if let Some(service) = service {
                form.push(("service", service.to_string()));
            }
            let build = || client.post(url.clone()).form(&form);
            http::send("POST", realm, deadline, &build)?
        }
        _ => {
            let mut url = url.clone();
            {
                let mut query = url.query_pairs_mut();
                if let Some(service) = service {
                    query.append_pair("service", service);
                }
                for scope in scopes {
                    query.append_pair("scope", scope);
                }
            }
            let basic = credentials.map(basic_header).transpose()?;
            let build = || {
                let req = client.get(url.clone());
                match &basic {
                    Some(value) => req.header(AUTHORIZATION, value.clone()),
                    None => req,
                }
            };
            http::send("GET", realm, deadline, &build)?
        }
    };
    let shown = realm;
    if !response.status().is_success() {
        let method = if matches!(credentials, Some(Credentials::IdentityToken(_))) {
            "POST"
        } else {
            "GET"
        };
        return Err(http::status_error(method, shown, response).into());
    }

    let body = http::read_capped(response, MAX_SMALL_BODY)?;
    let answer: TokenAnswer = serde_json::from_slice(&body)
        .map_err(|e| anyhow!("GET {shown}: token answer is not the expected JSON: {e}"))?;
    let token = answer
        .token
        .filter(|t| !t.is_empty())
        .or(answer.access_token.filter(|t| !t.is_empty()))
        .ok_or_else(|| anyhow!("GET {shown}: token answer has neither token nor access_token"))?;
    sensitive(&format!("Bearer {token}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::challenge;

    #[test]
    fn prefers_bearer_and_needs_a_realm() {
        let c =
            challenge::parse([r#"Basic realm="r", Bearer realm="https://t/token",service="s""#]);
        assert_eq!(
            choose(&c).unwrap(),
            Scheme::Bearer {
                realm: "https://t/token".into(),
                service: Some("s".into()),
                scope: None
            }
        );
        let c = challenge::parse(["Bearer service=\"s\""]);
        assert!(choose(&c).unwrap_err().to_string().contains("no realm"));
        let c = challenge::parse(["BASIC realm=\"r\""]);
        assert_eq!(choose(&c).unwrap(), Scheme::Basic);
        let c = challenge::parse(["Negotiate"]);
        assert!(choose(&c).unwrap_err().to_string().contains("negotiate"));
        assert!(choose(&[]).is_err());
    }

    #[test]
    fn basic_header_is_sensitive() {
        let creds = Credentials::Basic {
            username: "u".into(),
            password: "p".into(),
        };
        let value = basic_header(&creds).unwrap();
        assert!(value.is_sensitive());
        assert_eq!(value.to_str().unwrap(), "Basic dTpw");
    }
}
