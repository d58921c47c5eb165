//! How a run authenticates when the registry asks late or again: a `/v2/` ping that says
//! nothing useful, tokens refused mid-run, and credential helpers.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::json;

use crate::support::fake::{OCI_MANIFEST, Seen, digest, manifest_head};
use crate::support::{Answer, FakeRegistry, Sandbox, run};

/// A registry that issues numbered tokens (`tok-1`, `tok-2`, ...) and answers a manifest
/// HEAD only with a token `accepts` allows. An unauthenticated `GET /v2/` gets `ping`
/// (with the Bearer challenge when it is 401).
fn token_registry(ping: u16, accepts: fn(u32) -> bool) -> FakeRegistry {
    let issued = Arc::new(AtomicU32::new(0));
    let cell = Arc::new(OnceLock::<String>::new());
    let base = cell.clone();
    let fake = FakeRegistry::start(move |seen: &Seen| {
        let realm = base.get().cloned().unwrap_or_default();
        let challenge = format!(r#"Bearer realm="{realm}/token",service="fake""#);
        let token = seen
            .header("Authorization")
            .and_then(|v| v.strip_prefix("Bearer tok-"))
            .and_then(|n| n.parse::<u32>().ok());
        match (seen.method.as_str(), seen.path()) {
            ("GET", "/token") => {
                let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
                Answer::json(200, json!({"token": format!("tok-{n}"), "expires_in": 60}))
            }
            ("GET", "/v2/") if ping == 401 && token.is_none() => {
                Answer::status(401).header("WWW-Authenticate", &challenge)
            }
            ("GET", "/v2/") if ping == 401 => Answer::status(200),
            ("GET", "/v2/") => Answer::status(ping),
            ("HEAD", _) if token.is_some_and(accepts) => manifest_head(&digest('a'), OCI_MANIFEST),
            // Held a moment, so every runtime's HEAD is refused before any of them renews.
            ("HEAD", path) => {
                let repository = path
                    .trim_start_matches("/v2/")
                    .split("/manifests/")
                    .next()
                    .unwrap_or_default();
                let scoped = format!(r#"{challenge},scope="repository:{repository}:pull""#);
                Answer::status(401)
                    .header("WWW-Authenticate", &scoped)
                    .delay(Duration::from_millis(300))
            }
            _ => Answer::status(404),
        }
    });
    cell.set(fake.url()).unwrap();
    fake
}

/// A sandbox watching runtimes `a`, `b` and `c` on the fake.
fn watching_three(fake: &FakeRegistry) -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.config(&format!(
        "image = \"{}/ws/template-{{runtime}}:latest\"\nruntimes = [\"a\", \"b\", \"c\"]\n",
        fake.addr()
    ));
    sandbox
}

fn assert_all_seeded(ran: &crate::support::Ran) {
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    for name in ["a", "b", "c"] {
        assert_eq!(ran.runtime(name)["status"], "seeded", "{}", ran.stderr);
    }
}

#[test]
fn a_ping_answered_404_still_lets_manifests_authenticate() {
    let fake = token_registry(404, |_| true);
    let ran = run(Sandbox::new()
        .cmd()
        .args(["digest", &format!("{}/team/app:latest", fake.addr())]));
    assert_eq!(
        (ran.code, ran.stdout.trim()),
        (0, digest('a').as_str()),
        "{}",
        ran.stderr
    );
    assert_eq!(fake.count("GET", "/token"), 1);
}

#[test]
fn runtimes_refused_at_once_share_one_token() {
    // The ping needs no auth; every HEAD does (scope-specific auth).
    let fake = token_registry(200, |_| true);
    let ran = run(watching_three(&fake).cmd().args(["check", "--json"]));
    assert_all_seeded(&ran);
    assert_eq!(fake.count("GET", "/token"), 1, "{:#?}", fake.seen());
}

#[test]
fn an_expired_token_is_renewed_once_for_all_runtimes() {
    // The ping's token (tok-1) has expired by the time the HEADs use it.
    let fake = token_registry(401, |n| n >= 2);
    let ran = run(watching_three(&fake).cmd().args(["check", "--json"]));
    assert_all_seeded(&ran);
    assert_eq!(fake.count("GET", "/token"), 2, "{:#?}", fake.seen());
}

/// Puts an executable `docker-credential-<name>` with this shell body in the sandbox.
fn helper(sandbox: &Sandbox, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let dir = sandbox.path("bin");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("docker-credential-{name}"));
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// A helper that answers `username`/`secret` and keeps the address it was asked for in
/// the returned file; returns the `PATH` to run with as well.
fn recording_helper(
    sandbox: &Sandbox,
    name: &str,
    username: &str,
    secret: &str,
) -> (String, std::path::PathBuf) {
    let asked = sandbox.path("asked");
    let answer = json!({"Username": username, "Secret": secret});
    let body = format!("cat > {}\necho '{answer}'", asked.display());
    (helper(sandbox, name, &body), asked)
}

/// A registry that wants nothing but serves `digest('a')` for every manifest.
fn anonymous_registry() -> FakeRegistry {
    FakeRegistry::start(|seen: &Seen| match seen.method.as_str() {
        "HEAD" => manifest_head(&digest('a'), OCI_MANIFEST),
        _ => Answer::status(200),
    })
}

#[test]
fn a_credential_helper_for_a_host_and_port_is_asked_for_that_address() {
    let expected = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "robot:from-helper"
        )
    );
    let fake = FakeRegistry::start(move |seen: &Seen| {
        if seen.header("Authorization") != Some(expected.as_str()) {
            return Answer::status(401).header("WWW-Authenticate", r#"Basic realm="x""#);
        }
        match seen.method.as_str() {
            "HEAD" => manifest_head(&digest('b'), OCI_MANIFEST),
            _ => Answer::status(200),
        }
    });
    let sandbox = Sandbox::new();
    let (path, asked) = recording_helper(&sandbox, "fake", "robot", "from-helper");
    sandbox.docker_config(json!({"credHelpers": {fake.addr(): "fake"}}));
    let reference = format!("{}/team/app:latest", fake.addr());
    let ran = run(sandbox.cmd().env("PATH", path).args(["digest", &reference]));
    assert_eq!(
        (ran.code, ran.stdout.trim()),
        (0, digest('b').as_str()),
        "{}",
        ran.stderr
    );
    assert_eq!(std::fs::read_to_string(asked).unwrap(), fake.addr());
    assert!(!ran.stderr.contains("from-helper"), "{}", ran.stderr);
}

#[test]
fn a_hanging_credential_helper_does_not_hold_up_the_run() {
    let fake = anonymous_registry();
    let sandbox = Sandbox::new();
    let path = helper(&sandbox, "stuck", "sleep 30");
    sandbox.docker_config(json!({"credHelpers": {fake.addr(): "stuck"}}));
    sandbox.config("timeout = \"4s\"\n");
    let started = std::time::Instant::now();
    let reference = format!("{}/team/app:latest", fake.addr());
    let ran = run(sandbox.cmd().env("PATH", path).args(["digest", &reference]));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        (ran.code, ran.stdout.trim()),
        (0, digest('a').as_str()),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("docker-credential-stuck"),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_credential_store_without_an_entry_is_not_a_warning() {
    let fake = anonymous_registry();
    let sandbox = Sandbox::new();
    // What the docker-credential-helpers print when they hold nothing for the address.
    let path = helper(
        &sandbox,
        "store",
        "cat >/dev/null\necho 'credentials not found in native keychain'\nexit 1",
    );
    sandbox.docker_config(json!({"credsStore": "store"}));
    let reference = format!("{}/team/app:latest", fake.addr());
    let ran = run(sandbox.cmd().env("PATH", path).args(["digest", &reference]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(!ran.stderr.contains("warning"), "{}", ran.stderr);
}

#[test]
fn a_ping_redirected_to_another_host_gets_none_of_this_registry_s_credentials() {
    let cell = Arc::new(OnceLock::<String>::new());
    let base = cell.clone();
    let to = FakeRegistry::start(move |seen: &Seen| match seen.path() {
        "/token" => Answer::json(200, json!({"token": "other-host-token"})),
        _ => {
            let realm = base.get().cloned().unwrap_or_default();
            let challenge = format!(r#"Bearer realm="{realm}/token",service="other""#);
            Answer::status(401).header("WWW-Authenticate", &challenge)
        }
    });
    cell.set(to.url()).unwrap();
    let target = to.url();
    let from = FakeRegistry::start(move |seen: &Seen| {
        Answer::status(307).header("Location", &format!("{target}{}", seen.path()))
    });
    let sandbox = Sandbox::new();
    let auth = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "robot:mine");
    sandbox.docker_config(json!({"auths": {from.addr(): {"auth": auth}}}));
    let ran = run(sandbox
        .cmd()
        .args(["digest", &format!("{}/team/app:latest", from.addr())]));
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    assert!(
        to.seen()
            .iter()
            .all(|s| s.header("Authorization").is_none()),
        "credentials went to the other host: {:#?}",
        to.seen()
    );
    assert!(
        ran.stderr.contains("which asks for credentials"),
        "{}",
        ran.stderr
    );
}

#[test]
fn docker_hub_credentials_are_asked_for_under_the_docker_cli_s_key() {
    let sandbox = Sandbox::new();
    let (path, asked) = recording_helper(&sandbox, "hub", "u", "s");
    sandbox.docker_config(json!({"credHelpers": {"https://index.docker.io/v1/": "hub"}}));
    // A dead loopback proxy keeps the run off the network; the lookup comes first.
    let ran = run(sandbox
        .cmd()
        .env("PATH", path)
        .env("HTTPS_PROXY", "http://127.0.0.1:1")
        .args(["digest", "busybox"]));
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    assert!(
        ran.stderr.contains("https://registry-1.docker.io/v2/"),
        "{}",
        ran.stderr
    );
    assert_eq!(
        std::fs::read_to_string(asked).unwrap(),
        "https://index.docker.io/v1/"
    );
}
