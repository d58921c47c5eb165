//! Pulls that must not pass for a success: an error inside the progress stream, and a tag
//! that moved again between the registry check and the pull.

use serde_json::Value;

use super::{Host, REPO, updated, version};
use crate::support::inspect;
use crate::support::registry::ALL_MANIFEST_TYPES;

/// Deletes a blob from the test registry through the distribution API.
fn delete_blob(host: &Host, digest: &str) {
    let url = format!("{}/v2/{REPO}/blobs/{digest}", host.registry.url());
    let response = reqwest::blocking::Client::new()
        .delete(&url)
        .send()
        .expect("DELETE blob");
    assert_eq!(response.status().as_u16(), 202, "DELETE {url}");
}

fn manifest(host: &Host, digest: &str) -> Value {
    let url = format!("{}/v2/{REPO}/manifests/{digest}", host.registry.url());
    let response = reqwest::blocking::Client::new()
        .get(&url)
        .header("Accept", ALL_MANIFEST_TYPES.join(", "))
        .send()
        .expect("GET manifest");
    response.json().expect("manifest JSON")
}

#[test]
fn an_error_inside_the_pull_stream_fails_the_runtime_and_touches_no_container() {
    // The tag's manifest names a layer the registry no longer has: the engine answers 200
    // and reports the failure inside the progress stream.
    let (host, name, before, digest) = updated(&version("1"), &version("2"));
    let image_before = host.image_id();
    let layers = manifest(&host, &digest)["layers"]
        .as_array()
        .unwrap()
        .clone();
    let last = layers.last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    delete_blob(&host, &last);

    let outcome = host.refresh(&host.job(&digest));
    let error = outcome.error.expect("the pull failed");
    assert!(error.starts_with("pull "), "{error}");
    assert!(outcome.containers.is_empty());
    assert_eq!(inspect(&name)["Id"], before);
    assert_eq!(host.image_id(), image_before);
}

#[test]
fn a_tag_that_moved_again_fails_the_runtime() {
    let (host, name, before, seen) = updated(&version("1"), &version("2"));
    let now = host.publish(&version("3"));

    let outcome = host.refresh(&host.job(&seen));
    let error = outcome.error.expect("the digest check failed");
    assert!(error.contains(&now) && error.contains(&seen), "{error}");
    assert!(error.contains("moved again"), "{error}");
    assert_eq!(inspect(&name)["Id"], before);
}
