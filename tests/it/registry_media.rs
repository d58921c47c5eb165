//! What a manifest HEAD may say about its media type, and what imgwatch makes of it.

use serde_json::json;

use crate::registry_fake::digest_of;
use crate::support::fake::{OCI_MANIFEST, Seen, digest, manifest_head};
use crate::support::{Answer, FakeRegistry, Sandbox, run};

#[test]
fn refuses_a_schema_1_answer_to_head() {
    for media_type in [
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.docker.distribution.manifest.v1+json",
    ] {
        let fake = FakeRegistry::start(move |seen: &Seen| match seen.method.as_str() {
            "HEAD" => manifest_head(&digest('a'), media_type),
            _ => Answer::status(200),
        });
        let ran = digest_of(&fake, &Sandbox::new());
        assert_eq!(ran.code, 1, "{media_type}: {}", ran.stdout);
        assert!(ran.stderr.contains(media_type), "{}", ran.stderr);
        assert!(ran.stderr.contains("schema 1"), "{}", ran.stderr);
    }
}

#[test]
fn learns_an_index_from_its_body_when_head_names_no_type() {
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": digest('b'), "size": 1,
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": OCI_MANIFEST, "digest": digest('c'), "size": 1,
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        ]
    })
    .to_string();
    let index_digest = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(index.as_bytes()))
    );
    let head_digest = index_digest.clone();
    let fake = FakeRegistry::start(
        move |seen: &Seen| match (seen.method.as_str(), seen.path()) {
            // Some registries answer HEAD without a Content-Type.
            ("HEAD", _) => Answer::status(200).header("Docker-Content-Digest", &head_digest),
            ("GET", "/v2/") => Answer::status(200),
            ("GET", _) => Answer::status(200)
                .header("Content-Type", "application/vnd.oci.image.index.v1+json")
                .body(index.clone()),
            _ => Answer::status(404),
        },
    );
    let reference = format!("{}/team/app:latest", fake.addr());
    let ran = run(Sandbox::new()
        .cmd()
        .args(["digest", &reference, "--platform", "linux/arm64"]));
    assert_eq!(
        (ran.code, ran.stdout.trim()),
        (0, digest('c').as_str()),
        "{}",
        ran.stderr
    );
    let gets = fake.count("GET", &format!("/v2/team/app/manifests/{index_digest}"));
    assert_eq!(gets, 1, "the index is fetched by digest once");
}
