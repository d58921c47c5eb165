//! The registry protocol where a real registry will not misbehave on demand: challenges of
//! every shape, missing and malformed digests, error statuses, slow and oversized answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;

use crate::support::fake::{OCI_MANIFEST, Seen, digest, manifest_head};
use crate::support::{Answer, FakeRegistry, Sandbox, run};

const TOKEN: &str = "tok-9f2c";

/// A registry that wants a Bearer token from its own `/token` endpoint, answered by
/// `token_body`; manifests HEAD to `digest('a')` once authorized.
fn bearer_registry(challenge: fn(&str) -> String, token_body: serde_json::Value) -> FakeRegistry {
    let port_cell = Arc::new(std::sync::OnceLock::<String>::new());
    let cell = port_cell.clone();
    let fake = FakeRegistry::start(move |seen: &Seen| {
        let base = cell.get().cloned().unwrap_or_default();
        let authorized = seen.header("Authorization") == Some(&format!("Bearer {TOKEN}"));
        match (seen.method.as_str(), seen.path()) {
            ("GET", "/token") => Answer::json(200, token_body.clone()),
            (_, path) if path.starts_with("/v2/") && !authorized => {
                Answer::status(401).header("WWW-Authenticate", &challenge(&base))
            }
            ("GET", "/v2/") => Answer::status(200),
            ("HEAD", _) => manifest_head(&digest('a'), OCI_MANIFEST),
            _ => Answer::status(404),
        }
    });
    port_cell.set(fake.url()).unwrap();
    fake
}

/// Runs `imgwatch digest` for `team/app:latest` on the fake.
pub fn digest_of(fake: &FakeRegistry, sandbox: &Sandbox) -> crate::support::Ran {
    run(sandbox
        .cmd()
        .args(["digest", &format!("{}/team/app:latest", fake.addr())]))
}

#[test]
fn fetches_a_bearer_token_with_service_and_pull_scope() {
    let fake = bearer_registry(
        |base| format!(r#"Bearer realm="{base}/token",service="fake-registry""#),
        json!({"token": TOKEN}),
    );
    let sandbox = Sandbox::new();
    let ran = digest_of(&fake, &sandbox);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.stdout.trim(), digest('a'));
    let token = fake
        .seen()
        .into_iter()
        .find(|s| s.path() == "/token")
        .expect("a token request");
    assert!(token.url.contains("service=fake-registry"), "{}", token.url);
    assert!(
        token.url.contains("scope=repository%3Ateam%2Fapp%3Apull"),
        "{}",
        token.url
    );
    assert_eq!(token.header("Authorization"), None, "anonymous by default");
}

#[test]
fn accepts_access_token_and_odd_challenge_shapes() {
    let shapes: [fn(&str) -> String; 3] = [
        |base| {
            format!(
                r#"BEARER realm="{base}/token",service="s",scope="repository:team/app:pull,push""#
            )
        },
        |base| format!(r#"Basic realm="fake", Bearer realm="{base}/token", service="s""#),
        |base| format!(r#"bearer  service = s , realm = "{base}/token""#),
    ];
    for shape in shapes {
        let fake = bearer_registry(shape, json!({"access_token": TOKEN, "expires_in": 300}));
        let ran = digest_of(&fake, &Sandbox::new());
        assert_eq!(ran.code, 0, "{}: {}", shape(&fake.url()), ran.stderr);
        assert_eq!(ran.stdout.trim(), digest('a'));
    }
}

#[test]
fn sends_docker_config_credentials_to_the_realm_and_never_prints_them() {
    let fake = bearer_registry(
        |base| format!(r#"Bearer realm="{base}/token",service="s""#),
        json!({"token": TOKEN}),
    );
    let sandbox = Sandbox::new();
    let auth = base64::engine::general_purpose::STANDARD.encode("robot:s3cret-pass");
    sandbox.docker_config(json!({"auths": {fake.addr(): {"auth": auth}}}));
    let ran = run(sandbox
        .cmd()
        .args(["-vv", "digest", &format!("{}/team/app", fake.addr())]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let token = fake
        .seen()
        .into_iter()
        .find(|s| s.path() == "/token")
        .unwrap();
    assert_eq!(
        token.header("Authorization"),
        Some(format!("Basic {auth}").as_str())
    );
    for text in [&ran.stdout, &ran.stderr] {
        assert!(
            !text.contains("s3cret-pass") && !text.contains(&auth),
            "leaked: {text}"
        );
        assert!(!text.contains(TOKEN), "token leaked: {text}");
    }
}

#[test]
fn answers_basic_challenges_with_credentials_or_says_how_to_add_them() {
    let auth = base64::engine::general_purpose::STANDARD.encode("robot:pw");
    let expected = format!("Basic {auth}");
    let fake = FakeRegistry::start(move |seen: &Seen| {
        if seen.header("Authorization") != Some(expected.as_str()) {
            return Answer::status(401).header("WWW-Authenticate", r#"Basic realm="fake""#);
        }
        match seen.method.as_str() {
            "HEAD" => manifest_head(&digest('b'), OCI_MANIFEST),
            _ => Answer::status(200),
        }
    });
    let anonymous = digest_of(&fake, &Sandbox::new());
    assert_eq!(anonymous.code, 1);
    assert!(
        anonymous.stderr.contains("docker login"),
        "{}",
        anonymous.stderr
    );

    let sandbox = Sandbox::new();
    sandbox.docker_config(json!({"auths": {fake.addr(): {"auth": auth}}}));
    let ran = digest_of(&fake, &sandbox);
    assert_eq!(
        (ran.code, ran.stdout.trim()),
        (0, digest('b').as_str()),
        "{}",
        ran.stderr
    );
}

#[test]
fn hashes_the_manifest_when_the_digest_header_is_missing() {
    let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#;
    let fake = FakeRegistry::start(move |seen: &Seen| match seen.method.as_str() {
        "HEAD" => Answer::status(200).header("Content-Type", OCI_MANIFEST),
        "GET" if seen.path() == "/v2/" => Answer::status(200),
        _ => Answer::status(200)
            .header("Content-Type", OCI_MANIFEST)
            .body(&body[..]),
    });
    let ran = digest_of(&fake, &Sandbox::new());
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let expected = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body))
    );
    assert_eq!(ran.stdout.trim(), expected);
    assert_eq!(
        fake.count("GET", "/v2/team/app/manifests/"),
        1,
        "exactly one GET"
    );
}

#[test]
fn rejects_a_malformed_digest() {
    for bad in [
        "sha256:abc",
        "md5:0123",
        &digest('a').to_uppercase(),
        "sha256:../../x",
    ] {
        let bad = bad.to_string();
        let fake = FakeRegistry::start(move |seen: &Seen| match seen.method.as_str() {
            "HEAD" => manifest_head(&bad, OCI_MANIFEST),
            _ => Answer::status(200),
        });
        let ran = digest_of(&fake, &Sandbox::new());
        assert_eq!(ran.code, 1, "{}", ran.stdout);
        assert!(ran.stderr.contains("not a sha256 digest"), "{}", ran.stderr);
        assert!(ran.stdout.is_empty());
    }
}

#[test]
fn error_statuses_name_the_request() {
    for (status, words) in [
        (403, "403 Forbidden"),
        (404, "404 Not Found"),
        (500, "500 Internal Server Error"),
        (401, "401 Unauthorized"),
    ] {
        let fake = FakeRegistry::start(move |seen: &Seen| match seen.method.as_str() {
            "HEAD" if status == 401 => {
                Answer::status(401).header("WWW-Authenticate", r#"Basic realm="x""#)
            }
            "HEAD" => Answer::json(
                status,
                json!({"errors": [{"code": "DENIED", "message": "no"}]}),
            ),
            _ => Answer::status(200),
        });
        let ran = digest_of(&fake, &Sandbox::new());
        assert_eq!(ran.code, 1);
        let stderr = &ran.stderr;
        if status == 401 {
            assert!(stderr.contains("asks for credentials"), "{stderr}");
            continue;
        }
        assert!(
            stderr.contains(&format!("HEAD {}/v2/team/app/manifests/latest", fake.url())),
            "{stderr}"
        );
        // A HEAD answer has no body, so the registry's own message cannot be shown.
        assert!(stderr.contains(words), "{stderr}");
    }
}

fn rate_limited(limit: usize, retry_after: &'static str) -> FakeRegistry {
    let heads = Arc::new(AtomicUsize::new(0));
    FakeRegistry::start(move |seen: &Seen| match seen.method.as_str() {
        "HEAD" if heads.fetch_add(1, Ordering::SeqCst) < limit => {
            Answer::status(429).header("Retry-After", retry_after)
        }
        "HEAD" => manifest_head(&digest('c'), OCI_MANIFEST),
        _ => Answer::status(200),
    })
}

#[test]
fn honours_retry_after_once() {
    let fake = rate_limited(1, "1");
    let started = Instant::now();
    let ran = digest_of(&fake, &Sandbox::new());
    assert_eq!(
        (ran.code, ran.stdout.trim()),
        (0, digest('c').as_str()),
        "{}",
        ran.stderr
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited as asked"
    );
    assert_eq!(fake.count("HEAD", "/v2/"), 2);

    let fake = rate_limited(5, "0");
    let ran = digest_of(&fake, &Sandbox::new());
    assert_eq!(ran.code, 1);
    assert!(
        ran.stderr.contains("429 Too Many Requests"),
        "{}",
        ran.stderr
    );
    assert_eq!(fake.count("HEAD", "/v2/"), 2, "retried only once");
}

#[test]
fn gives_up_at_once_when_retry_after_passes_the_deadline() {
    let fake = rate_limited(1, "3600");
    let sandbox = Sandbox::new();
    sandbox.config("timeout = \"20s\"\n");
    let started = Instant::now();
    let ran = digest_of(&fake, &sandbox);
    assert_eq!(ran.code, 1);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        ran.stderr
            .contains("retry in 3600s, past this run's deadline"),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_hanging_registry_fails_within_the_deadline() {
    let fake = FakeRegistry::start(|seen: &Seen| match seen.method.as_str() {
        "HEAD" => manifest_head(&digest('d'), OCI_MANIFEST).delay(Duration::from_secs(30)),
        _ => Answer::status(200),
    });
    let sandbox = Sandbox::new();
    sandbox.config("timeout = \"2s\"\n");
    let started = Instant::now();
    let ran = digest_of(&fake, &sandbox);
    assert_eq!(ran.code, 1);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
    assert!(ran.stderr.contains("timed out"), "{}", ran.stderr);
}

#[test]
fn refuses_an_oversized_manifest() {
    let fake = FakeRegistry::start(|seen: &Seen| match (seen.method.as_str(), seen.path()) {
        ("GET", "/v2/") => Answer::status(200),
        ("HEAD", _) => Answer::status(200).header("Content-Type", OCI_MANIFEST),
        _ => Answer::status(200)
            .header("Content-Type", OCI_MANIFEST)
            .body(vec![b' '; 5 << 20]),
    });
    let ran = digest_of(&fake, &Sandbox::new());
    assert_eq!(ran.code, 1);
    assert!(
        ran.stderr.contains("larger than the 4194304-byte limit"),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_failing_token_endpoint_is_reported() {
    let answers = [
        (
            500,
            json!({"errors": [{"code": "UNAVAILABLE"}]}),
            "500 Internal Server Error",
        ),
        (
            200,
            json!({"expires_in": 60}),
            "neither token nor access_token",
        ),
        (200, json!("x"), "not the expected JSON"),
    ];
    for (status, body, words) in answers {
        let cell = Arc::new(std::sync::OnceLock::<String>::new());
        let base = cell.clone();
        let fake = FakeRegistry::start(move |seen: &Seen| match seen.path() {
            "/token" => Answer::json(status, body.clone()),
            _ => {
                let challenge = format!(r#"Bearer realm="{}/token""#, base.get().unwrap());
                Answer::status(401).header("WWW-Authenticate", &challenge)
            }
        });
        cell.set(fake.url()).unwrap();
        let ran = digest_of(&fake, &Sandbox::new());
        assert_eq!(ran.code, 1, "{status}");
        assert!(
            ran.stderr
                .contains(&format!("getting a token for {}", fake.addr())),
            "{}",
            ran.stderr
        );
        assert!(ran.stderr.contains(words), "{}", ran.stderr);
    }
}

#[test]
fn a_no_change_run_costs_one_ping_one_token_and_one_head_per_runtime() {
    let fake = bearer_registry(
        |base| format!(r#"Bearer realm="{base}/token",service="s""#),
        json!({"token": TOKEN}),
    );
    let sandbox = Sandbox::new();
    sandbox.config(&format!(
        "image = \"{}/ws/template-{{runtime}}:latest\"\nruntimes = [\"a\", \"b\", \"c\"]\n",
        fake.addr()
    ));
    let first = run(sandbox.cmd().args(["check", "--json"]));
    assert_eq!(first.code, 0, "{}", first.stderr);
    let seen_before = fake.seen().len();
    let second = run(sandbox.cmd().args(["check", "--json"]));
    assert_eq!(second.code, 0, "{}", second.stderr);
    for name in ["a", "b", "c"] {
        assert_eq!(second.runtime(name)["status"], "unchanged");
    }

    let second_run: Vec<Seen> = fake.seen().into_iter().skip(seen_before).collect();
    let count = |method: &str, path: &str| {
        second_run
            .iter()
            .filter(|s| s.method == method && s.path().starts_with(path))
            .count()
    };
    assert_eq!(
        count("GET", "/v2/"),
        1,
        "one ping and no manifest GET: {second_run:#?}"
    );
    assert_eq!(count("GET", "/token"), 1);
    assert_eq!(count("HEAD", "/v2/"), 3);
    assert_eq!(second_run.len(), 5, "nothing else: {second_run:#?}");
    let token = second_run.iter().find(|s| s.path() == "/token").unwrap();
    assert_eq!(
        token.url.matches("scope=").count(),
        3,
        "one token for all: {}",
        token.url
    );
}

#[test]
fn an_unreachable_registry_is_one_log_line_and_a_failure_per_runtime() {
    let sandbox = Sandbox::new();
    sandbox
        .config("image = \"127.0.0.1:1/ws/{runtime}:latest\"\nruntimes = [\"a\", \"b\", \"c\"]\n");
    let ran = run(sandbox.cmd().args(["check", "--json"]));
    assert_eq!(ran.code, 1);
    for name in ["a", "b", "c"] {
        let line = ran.runtime(name);
        assert_eq!(line["status"], "failed");
        assert!(
            line["error"].as_str().unwrap().contains("cannot connect"),
            "{line}"
        );
    }
    let logged = ran
        .stderr
        .lines()
        .filter(|l| l.contains("cannot connect"))
        .collect::<Vec<_>>();
    assert_eq!(logged.len(), 1, "{}", ran.stderr);
    assert!(logged[0].contains("runtimes=a,b,c"), "{}", logged[0]);
    assert!(!logged[0].contains("client error"), "{}", logged[0]);
}

/// A registry that wants Basic credentials and redirects every manifest request to `to`.
fn redirecting_to(to: String) -> (FakeRegistry, Sandbox, String) {
    let auth = base64::engine::general_purpose::STANDARD.encode("robot:a-only");
    let expected = format!("Basic {auth}");
    let from = FakeRegistry::start(move |seen: &Seen| {
        if seen.header("Authorization") != Some(expected.as_str()) {
            return Answer::status(401).header("WWW-Authenticate", r#"Basic realm="a""#);
        }
        match seen.path() {
            "/v2/" => Answer::status(200),
            path => Answer::status(307).header("Location", &format!("{to}{path}")),
        }
    });
    let sandbox = Sandbox::new();
    sandbox.docker_config(json!({"auths": {from.addr(): {"auth": auth.clone()}}}));
    (from, sandbox, auth)
}

#[test]
fn credentials_do_not_follow_a_redirect_to_another_host() {
    let to = FakeRegistry::start(|seen: &Seen| match seen.method.as_str() {
        "HEAD" => manifest_head(&digest('e'), OCI_MANIFEST),
        _ => Answer::status(404),
    });
    let (from, sandbox, _) = redirecting_to(to.url());
    let ran = digest_of(&from, &sandbox);
    assert_eq!(
        (ran.code, ran.stdout.trim()),
        (0, digest('e').as_str()),
        "{}",
        ran.stderr
    );
    let at_target = to.seen();
    assert_eq!(at_target.len(), 1, "{at_target:#?}");
    assert_eq!(
        at_target[0].header("Authorization"),
        None,
        "no credentials to another host"
    );
}

#[test]
fn a_redirect_to_a_host_that_wants_credentials_fails_without_sending_any() {
    let to = FakeRegistry::start(|_: &Seen| {
        Answer::status(401).header("WWW-Authenticate", r#"Basic realm="b""#)
    });
    let (from, sandbox, _) = redirecting_to(to.url().replace("127.0.0.1", "localhost"));
    let ran = digest_of(&from, &sandbox);
    assert_eq!(ran.code, 1);
    assert!(
        ran.stderr
            .contains("redirected to localhost, which asks for credentials"),
        "{}",
        ran.stderr
    );
    assert!(
        to.seen()
            .iter()
            .all(|s| s.header("Authorization").is_none())
    );
}

#[test]
fn honours_retry_after_as_an_http_date_on_503() {
    let answered = Arc::new(AtomicUsize::new(0));
    let fake = FakeRegistry::start(move |seen: &Seen| match seen.method.as_str() {
        "HEAD" if answered.fetch_add(1, Ordering::SeqCst) == 0 => {
            let when = std::time::SystemTime::now() + Duration::from_secs(2);
            Answer::status(503).header("Retry-After", &httpdate::fmt_http_date(when))
        }
        "HEAD" => manifest_head(&digest('f'), OCI_MANIFEST),
        _ => Answer::status(200),
    });
    let started = Instant::now();
    let ran = digest_of(&fake, &Sandbox::new());
    assert_eq!(
        (ran.code, ran.stdout.trim()),
        (0, digest('f').as_str()),
        "{}",
        ran.stderr
    );
    // An HTTP date has whole seconds, so the wait is one to two seconds.
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(fake.count("HEAD", "/v2/"), 2);
}
