//! What a runtime's registry answer means, given the state: pure transitions, no I/O.
//!
//! The rule that matters most: the state digest is the digest the runtime's containers
//! were last brought onto. It advances only on first sight (seeding), on a change that
//! touches other platforms only, and after a refresh that fully succeeded. Everything
//! else leaves it where it was, so a change is never lost between runs.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::state::{Entry, Held};

/// First retry delay after a failed rollout; doubled per attempt.
pub const BACKOFF_START: Duration = Duration::from_secs(5 * 60);
/// Longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(6 * 60 * 60);

/// What the registry says about a runtime now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// The tag's digest.
    pub digest: String,
    /// The digest for the configured platform; `None` when it was not needed (the tag
    /// digest matched the state) or could not be worked out.
    pub platform_digest: Option<String>,
}

/// What the engine's local image for the tag says, used only on first sight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Local {
    /// Unknown: no engine, or the engine has no image for the tag.
    Unknown,
    /// The repo digests recorded for the tag's repository (empty for a local build).
    Digests(Vec<String>),
}

/// The verdict for one runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// First sight and nothing to refresh: record the digest.
    Seed,
    /// Nothing moved for this host. `advance` is set when only other platforms changed.
    Unchanged { advance: bool },
    /// The digest moved for this platform; `previous` is what the containers run.
    Moved { previous: Option<String> },
    /// Moved, but a rollout of this digest failed and its retry time has not come.
    HeldBack {
        retry_at: DateTime<Utc>,
        attempts: u32,
    },
}

/// Decides what a registry answer means for a runtime.
pub fn decide(
    entry: Option<&Entry>,
    remote: &Remote,
    platform: &str,
    local: &Local,
    force: bool,
    now: DateTime<Utc>,
) -> Verdict {
    let Some(entry) = entry else {
        // On first sight, an engine image of the tag from another digest means the
        // containers run an older image: a change to act on, not a baseline.
        return match local {
            Local::Digests(digests)
                if !digests.is_empty()
                    && !digests.contains(&remote.digest)
                    && remote
                        .platform_digest
                        .as_ref()
                        .is_none_or(|d| !digests.contains(d)) =>
            {
                Verdict::Moved {
                    previous: Some(digests[0].clone()),
                }
            }
            _ => Verdict::Seed,
        };
    };

    if entry.digest == remote.digest {
        return Verdict::Unchanged { advance: false };
    }
    let same_platform = entry.platform.as_deref() == Some(platform);
    if same_platform
        && entry.platform_digest.is_some()
        && entry.platform_digest == remote.platform_digest
    {
        return Verdict::Unchanged { advance: true };
    }
    if let Some(held) = &entry.held
        && held.digest == remote.digest
        && now < held.retry_at
        && !force
    {
        return Verdict::HeldBack {
            retry_at: held.retry_at,
            attempts: held.attempts,
        };
    }
    Verdict::Moved {
        previous: Some(entry.digest.clone()),
    }
}

/// A fresh entry for a runtime seen for the first time (or first seen moved, with the
/// digest its local image has as the baseline).
pub fn new_entry(
    image: &str,
    digest: &str,
    platform: &str,
    platform_digest: Option<&str>,
    now: DateTime<Utc>,
) -> Entry {
    Entry {
        image: image.to_string(),
        digest: digest.to_string(),
        platform: platform_digest.map(|_| platform.to_string()),
        platform_digest: platform_digest.map(str::to_string),
        first_seen: now,
        last_checked: now,
        last_updated: None,
        last_error: None,
        consecutive_failures: 0,
        held: None,
    }
}

/// Moves an entry onto a digest (after a refresh, or a change on other platforms only).
pub fn advance(
    entry: &mut Entry,
    remote: &Remote,
    platform: &str,
    refreshed: bool,
    now: DateTime<Utc>,
) {
    if entry.digest != remote.digest {
        entry.first_seen = now;
    }
    entry.digest = remote.digest.clone();
    entry.platform = remote
        .platform_digest
        .as_ref()
        .map(|_| platform.to_string());
    entry.platform_digest = remote.platform_digest.clone();
    if refreshed {
        entry.last_updated = Some(now);
        entry.held = None;
    }
}

/// Records a run that went well for the runtime.
pub fn succeeded(entry: &mut Entry, now: DateTime<Utc>) {
    entry.last_checked = now;
    entry.last_error = None;
    entry.consecutive_failures = 0;
}

/// Records a failure. A failed rollout (`rollout` = the digest tried) is held back with a
/// doubling backoff; a failure to reach the registry is simply retried next run.
pub fn failed(entry: &mut Entry, error: &str, rollout: Option<&str>, now: DateTime<Utc>) {
    entry.last_checked = now;
    entry.last_error = Some(error.to_string());
    entry.consecutive_failures = entry.consecutive_failures.saturating_add(1);
    let Some(digest) = rollout else { return };
    let attempts = match &entry.held {
        Some(held) if held.digest == digest => held.attempts.saturating_add(1),
        _ => 1,
    };
    let delay = backoff(attempts);
    entry.held = Some(Held {
        digest: digest.to_string(),
        attempts,
        last_attempt: now,
        retry_at: now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(6)),
    });
}

/// The wait before retrying after `attempts` failed rollouts: 5 min, 10, 20, ... 6 h.
pub fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    BACKOFF_START
        .saturating_mul(1 << doublings)
        .min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const P: &str = "linux/amd64";

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
    }

    fn entry(digest: char, platform_digest: char) -> Entry {
        new_entry("img", &d(digest), P, Some(&d(platform_digest)), now())
    }

    /// The verdict for an entry (if any) and a remote answer, with no local image.
    fn verdict(entry: Option<&Entry>, remote: &Remote, platform: &str) -> Verdict {
        decide(entry, remote, platform, &Local::Unknown, false, now())
    }

    fn remote(digest: char, platform_digest: Option<char>) -> Remote {
        Remote {
            digest: d(digest),
            platform_digest: platform_digest.map(d),
        }
    }

    #[test]
    fn seeds_on_first_sight() {
        let v = decide(
            None,
            &remote('a', Some('b')),
            P,
            &Local::Unknown,
            false,
            now(),
        );
        assert_eq!(v, Verdict::Seed);
        let local_build = Local::Digests(vec![]);
        assert_eq!(
            decide(None, &remote('a', None), P, &local_build, false, now()),
            Verdict::Seed
        );
        let same = Local::Digests(vec![d('a')]);
        assert_eq!(
            decide(None, &remote('a', None), P, &same, false, now()),
            Verdict::Seed
        );
    }

    #[test]
    fn first_sight_with_an_older_local_image_is_a_change() {
        let local = Local::Digests(vec![d('0')]);
        let v = decide(None, &remote('a', Some('b')), P, &local, false, now());
        assert_eq!(
            v,
            Verdict::Moved {
                previous: Some(d('0'))
            }
        );
    }

    #[test]
    fn same_digest_is_unchanged() {
        let e = entry('a', 'b');
        let v = verdict(Some(&e), &remote('a', None), P);
        assert_eq!(v, Verdict::Unchanged { advance: false });
    }

    #[test]
    fn other_platforms_only_advance_without_a_refresh() {
        let e = entry('a', 'b');
        let v = verdict(Some(&e), &remote('c', Some('b')), P);
        assert_eq!(v, Verdict::Unchanged { advance: true });
        // The same child on another platform setting is not proof of anything.
        let v = verdict(Some(&e), &remote('c', Some('b')), "linux/arm64");
        assert_eq!(
            v,
            Verdict::Moved {
                previous: Some(d('a'))
            }
        );
    }

    #[test]
    fn moved_platform_digest_is_a_change() {
        let e = entry('a', 'b');
        let v = verdict(Some(&e), &remote('c', Some('d')), P);
        assert_eq!(
            v,
            Verdict::Moved {
                previous: Some(d('a'))
            }
        );
    }

    #[test]
    fn held_back_until_retry_time_unless_forced_or_newer() {
        let mut e = entry('a', 'b');
        failed(&mut e, "unhealthy", Some(&d('c')), now());
        let r = remote('c', Some('d'));
        let v = decide(Some(&e), &r, P, &Local::Unknown, false, now());
        assert!(matches!(v, Verdict::HeldBack { attempts: 1, .. }), "{v:?}");
        assert!(matches!(
            decide(Some(&e), &r, P, &Local::Unknown, true, now()),
            Verdict::Moved { .. }
        ));
        let later = now() + chrono::Duration::minutes(5);
        assert!(matches!(
            decide(Some(&e), &r, P, &Local::Unknown, false, later),
            Verdict::Moved { .. }
        ));
        let newer = remote('e', Some('f'));
        assert!(matches!(
            decide(Some(&e), &newer, P, &Local::Unknown, false, now()),
            Verdict::Moved { .. }
        ));
    }

    #[test]
    fn backoff_doubles_to_six_hours() {
        let minutes: Vec<u64> = (1..=9).map(|a| backoff(a).as_secs() / 60).collect();
        assert_eq!(minutes, [5, 10, 20, 40, 80, 160, 320, 360, 360]);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    #[test]
    fn failures_count_and_hold_only_rollouts() {
        let mut e = entry('a', 'b');
        failed(&mut e, "HEAD ...: 500", None, now());
        assert_eq!((e.consecutive_failures, e.held.is_none()), (1, true));
        failed(&mut e, "pull failed", Some(&d('c')), now());
        failed(&mut e, "pull failed", Some(&d('c')), now());
        let held = e.held.clone().unwrap();
        assert_eq!((e.consecutive_failures, held.attempts), (3, 2));
        assert_eq!(held.retry_at, now() + chrono::Duration::minutes(10));
        succeeded(&mut e, now());
        assert_eq!((e.consecutive_failures, e.last_error.clone()), (0, None));
    }

    #[test]
    fn advancing_resets_first_seen_and_hold() {
        let mut e = entry('a', 'b');
        failed(&mut e, "x", Some(&d('c')), now());
        let later = now() + chrono::Duration::hours(1);
        advance(&mut e, &remote('c', Some('d')), P, true, later);
        assert_eq!(
            (e.digest.clone(), e.first_seen, e.last_updated),
            (d('c'), later, Some(later))
        );
        assert!(e.held.is_none());
    }
}
