//! The registry half of a run: every runtime's tag resolved concurrently, with one session
//! (one ping, one token) per registry.

use std::collections::BTreeMap;
use std::thread;

use anyhow::{Result, anyhow};

use super::decide::Remote;
use crate::reference::Reference;
use crate::registry::{Credentials, Options, Platform, Session, http};
use crate::settings::Env;

/// One runtime to resolve.
#[derive(Debug, Clone)]
pub struct Target {
    pub runtime: String,
    pub reference: Reference,
    /// The digest the state holds; when the tag still has it, nothing more is fetched.
    pub known: Option<String>,
    /// A digest whose failed rollout is held back for this run: when the tag has it, the
    /// verdict needs no platform manifest either.
    pub held: Option<String>,
}

/// What resolution found, per target in order, and the credentials used per registry.
pub struct Resolution {
    pub remotes: Vec<Result<Remote>>,
    pub credentials: BTreeMap<String, Option<Credentials>>,
}

/// Resolves every target: registries in parallel, and each registry's tags in parallel.
pub fn resolve_all(
    targets: &[Target],
    platform: &Platform,
    options: &Options,
    env: Env,
) -> Resolution {
    let mut by_registry: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, target) in targets.iter().enumerate() {
        by_registry
            .entry(target.reference.registry.as_str())
            .or_default()
            .push(i);
    }
    let client = match http::client() {
        Ok(client) => client,
        Err(error) => {
            let remotes = targets.iter().map(|_| Err(anyhow!("{error:#}"))).collect();
            return Resolution {
                remotes,
                credentials: BTreeMap::new(),
            };
        }
    };

    let mut remotes: Vec<Option<Result<Remote>>> = targets.iter().map(|_| None).collect();
    let mut credentials = BTreeMap::new();
    thread::scope(|scope| {
        let groups: Vec<_> = by_registry
            .into_iter()
            .map(|(registry, indices)| {
                let client = client.clone();
                let handle = scope.spawn(move || {
                    resolve_registry(client, registry, &indices, targets, platform, options, env)
                });
                (registry, handle)
            })
            .collect();
        for (registry, handle) in groups {
            let (creds, results) = handle.join().unwrap_or_else(|_| (None, vec![]));
            credentials.insert(registry.to_string(), creds);
            for (i, result) in results {
                remotes[i] = Some(result);
            }
        }
    });
    let remotes = remotes
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(anyhow!("resolution stopped unexpectedly"))))
        .collect();
    Resolution {
        remotes,
        credentials,
    }
}

type RegistryResults = (Option<Credentials>, Vec<(usize, Result<Remote>)>);

fn resolve_registry(
    client: reqwest::blocking::Client,
    registry: &str,
    indices: &[usize],
    targets: &[Target],
    platform: &Platform,
    options: &Options,
    env: Env,
) -> RegistryResults {
    let mut repositories: Vec<String> = indices
        .iter()
        .map(|&i| targets[i].reference.repository.clone())
        .collect();
    repositories.sort();
    repositories.dedup();
    let session = match Session::open(client, registry, &repositories, options, env) {
        Ok(session) => session,
        Err(error) => {
            // Every runtime on this registry fails with the same, full reason.
            let text = format!("{error:#}");
            return (
                None,
                indices
                    .iter()
                    .map(|&i| (i, Err(anyhow!("{text}"))))
                    .collect(),
            );
        }
    };
    let results = thread::scope(|scope| {
        let handles: Vec<_> = indices
            .iter()
            .map(|&i| {
                let session = &session;
                (
                    i,
                    scope.spawn(move || resolve_one(session, &targets[i], platform)),
                )
            })
            .collect();
        handles
            .into_iter()
            .map(|(i, h)| {
                (
                    i,
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow!("resolution panicked"))),
                )
            })
            .collect()
    });
    (session.credentials().cloned(), results)
}

fn resolve_one(session: &Session, target: &Target, platform: &Platform) -> Result<Remote> {
    let reference = &target.reference;
    let head = session.head(&reference.repository, reference.target())?;
    let settled = [&target.known, &target.held]
        .into_iter()
        .any(|d| d.as_deref() == Some(head.digest.as_str()));
    if settled {
        return Ok(Remote {
            digest: head.digest,
            platform_digest: None,
        });
    }
    let platform_digest = session.platform_digest(&reference.repository, &head, platform)?;
    Ok(Remote {
        digest: head.digest,
        platform_digest: Some(platform_digest),
    })
}
