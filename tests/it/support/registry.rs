//! A real registry (CNCF distribution) per test, and helpers that push images to it.
//!
//! Pushes speak the distribution API directly over HTTP, so a test controls every byte of
//! every manifest and knows the exact digest the registry will report.

use std::fs::{self, OpenOptions};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use tempfile::TempDir;

use super::layer::{self, sha256};
use super::unique;

/// Where Debian's `docker-registry` package installs the distribution server.
const BINARY: &str = "/usr/bin/docker-registry";

/// How long a fresh registry may take to answer `GET /v2/` (it usually needs under 0.1 s).
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How often `start` picks a new port when another process took the one it chose.
const PORT_ATTEMPTS: usize = 8;

/// The response header whose value proves the answer came from this registry process.
const IDENTITY_HEADER: &str = "X-Imgwatch-Test-Registry";

/// The user agent of the harness's own requests, so tests can tell them apart in `requests`.
pub const HARNESS_AGENT: &str = "imgwatch-test-harness";

/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker manifest list (v2 schema 2 "fat manifest") media type.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image manifest v2 schema 2 media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// The four manifest media types, in the order a client should accept them.
pub const ALL_MANIFEST_TYPES: [&str; 4] = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];

/// A manifest stored in the registry: what an index entry or a comparison needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The manifest digest, `sha256:<hex>`.
    pub digest: String,
    /// The manifest size in bytes.
    pub size: usize,
    /// The manifest media type.
    pub media_type: String,
}

/// One line of the registry's access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The HTTP method, such as `HEAD`.
    pub method: String,
    /// The request path with its query, such as `/v2/app/manifests/latest`.
    pub path: String,
    /// The response status.
    pub status: u16,
    /// The client's `User-Agent`.
    pub user_agent: String,
}

/// A running `docker-registry` on a loopback port with its storage in a temporary directory.
///
/// The process is killed and the storage removed when the value drops.
pub struct TestRegistry {
    child: Option<Child>,
    port: u16,
    identity: String,
    dir: TempDir,
    http: Client,
}

impl TestRegistry {
    /// Starts a registry with deletes enabled and waits until it answers `GET /v2/`.
    pub fn start() -> TestRegistry {
        assert!(
            Path::new(BINARY).exists(),
            "docker-registry not installed ({BINARY} is missing): run scripts/test, which \
             installs it"
        );
        let dir = tempfile::Builder::new()
            .prefix("imgwatch-registry-")
            .tempdir()
            .expect("temp dir");
        let http = Client::builder()
            .no_proxy()
            .user_agent(HARNESS_AGENT)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        let mut registry = TestRegistry {
            child: None,
            port: 0,
            identity: unique("registry"),
            dir,
            http,
        };

        // Between choosing a free port and the registry binding it another process may take
        // it; the registry then exits with "address already in use" and we choose again.
        for _ in 0..PORT_ATTEMPTS {
            registry.port = free_port();
            if registry.launch() {
                return registry;
            }
        }
        panic!(
            "registry found no free port in {PORT_ATTEMPTS} attempts:\n{}",
            registry.log_tail()
        );
    }

    /// `127.0.0.1:PORT`, the host part of image references in this registry.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`, the base URL of the registry API.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The full image reference `127.0.0.1:PORT/<repo>:<tag>`.
    pub fn reference(&self, repo: &str, tag: &str) -> String {
        format!("{}/{repo}:{tag}", self.addr())
    }

    /// Kills the registry, keeping its storage, so a test can see it unreachable.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the registry again on the same port with the same storage.
    pub fn restart(&mut self) {
        self.stop();
        assert!(
            self.launch(),
            "registry could not bind {} again:\n{}",
            self.addr(),
            self.log_tail()
        );
    }

    /// The last 40 lines of the registry's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Every request the registry has answered so far, oldest first.
    ///
    /// The registry writes a line after it sends the response, so a request made a moment
    /// ago by another process may still be missing; retry briefly when counting.
    pub fn requests(&self) -> Vec<Request> {
        let log = fs::read_to_string(self.log_path()).unwrap_or_default();
        log.lines().filter_map(parse_access_line).collect()
    }

    /// Uploads a blob (monolithic POST then PUT) and returns its digest.
    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let start = format!("{}/v2/{repo}/blobs/uploads/", self.url());
        let response = self.http.post(&start).send().expect("POST blob upload");
        assert_eq!(
            response.status(),
            StatusCode::ACCEPTED,
            "POST {start}: {response:?}"
        );
        let location = header(&response, "Location");

        // The upload URL carries the upload state in its query; the digest joins it.
        let mut put = if location.starts_with("http") {
            location
        } else {
            self.url() + &location
        };
        put.push(if put.contains('?') { '&' } else { '?' });
        put.push_str(&format!("digest={digest}"));
        let response = self
            .http
            .put(&put)
            .header("Content-Type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .expect("PUT blob");
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "PUT {put}: {response:?}"
        );
        assert_eq!(
            header(&response, "Docker-Content-Digest"),
            digest,
            "PUT {put}"
        );
        digest
    }

    /// Stores a manifest under a tag or digest and returns the digest the registry reports.
    pub fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> String {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.url());
        let response = self
            .http
            .put(&url)
            .header("Content-Type", media_type)
            .body(body.to_vec())
            .send()
            .expect("PUT manifest");
        let status = response.status();
        let digest = header(&response, "Docker-Content-Digest");
        assert_eq!(
            status,
            StatusCode::CREATED,
            "PUT {url}: {}",
            response.text().unwrap_or_default()
        );
        assert_eq!(
            digest,
            sha256(body),
            "PUT {url}: the registry reports another digest"
        );
        digest
    }

    /// Pushes a tiny OCI image for `platform` (`os/arch[/variant]`), distinct per `seed`.
    ///
    /// The image has one layer holding the file `/seed`, so the engine can pull it and create
    /// containers from it (they cannot start: there is no program). An empty `tag` stores the
    /// manifest by digest only, as index children usually are.
    pub fn push_image(&self, repo: &str, tag: &str, platform: &str, seed: &str) -> Pushed {
        self.push_single(repo, tag, platform, seed, &OCI_TYPES)
    }

    /// Like `push_image`, with Docker v2 schema 2 media types.
    pub fn push_docker_image(&self, repo: &str, tag: &str, platform: &str, seed: &str) -> Pushed {
        self.push_single(repo, tag, platform, seed, &DOCKER_TYPES)
    }

    /// Pushes an index (`OCI_INDEX`) or manifest list (`DOCKER_LIST`) of pushed manifests.
    ///
    /// Each entry pairs a platform `os/arch[/variant]` with a manifest already in `repo`.
    pub fn push_index(
        &self,
        repo: &str,
        tag: &str,
        entries: &[(&str, &Pushed)],
        media_type: &str,
    ) -> Pushed {
        assert!(
            media_type == OCI_INDEX || media_type == DOCKER_LIST,
            "not an index type: {media_type}"
        );
        let manifests: Vec<Value> = entries
            .iter()
            .map(|(platform, pushed)| {
                json!({
                    "mediaType": pushed.media_type,
                    "digest": pushed.digest,
                    "size": pushed.size,
                    "platform": platform_json(platform),
                })
            })
            .collect();
        let body = json!({ "schemaVersion": 2, "mediaType": media_type, "manifests": manifests });
        self.push_json_manifest(repo, tag, media_type, &body)
    }

    /// The digest the registry reports for `repo:tag` when every manifest type is accepted.
    pub fn head_digest(&self, repo: &str, tag: &str) -> String {
        let url = format!("{}/v2/{repo}/manifests/{tag}", self.url());
        let response = self
            .http
            .head(&url)
            .header("Accept", ALL_MANIFEST_TYPES.join(", "))
            .send()
            .expect("HEAD manifest");
        assert_eq!(response.status(), StatusCode::OK, "HEAD {url}");
        header(&response, "Docker-Content-Digest")
    }

    /// Deletes a manifest by digest, which also removes every tag pointing at it.
    pub fn delete_manifest(&self, repo: &str, digest: &str) {
        let url = format!("{}/v2/{repo}/manifests/{digest}", self.url());
        let response = self.http.delete(&url).send().expect("DELETE manifest");
        assert_eq!(response.status(), StatusCode::ACCEPTED, "DELETE {url}");
    }

    /// Writes the config, spawns the server and waits for it; false on a port collision.
    fn launch(&mut self) -> bool {
        let config = self.dir.path().join("config.yml");
        fs::write(&config, self.config()).expect("write registry config");
        // Appending keeps the requests from before a restart in `requests`.
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path());
        let log = log.expect("open registry log");
        let child = Command::new(BINARY)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {BINARY}: {e}"));
        self.child = Some(child);
        self.wait_ready()
    }

    /// Polls `GET /v2/` until this process answers, it exits, or the timeout passes.
    fn wait_ready(&mut self) -> bool {
        let probe = Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(500))
            .build()
            .expect("http client");
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            let child = self.child.as_mut().expect("launch sets the child");
            if let Some(status) = child.try_wait().expect("poll registry process") {
                self.child = None;
                let tail = self.log_tail();
                if tail.contains("address already in use") {
                    return false;
                }
                panic!("registry exited with {status} before answering:\n{tail}");
            }

            // Another server may hold the port for a moment; only our identity counts.
            if let Ok(response) = probe.get(format!("{}/v2/", self.url())).send() {
                let ours = response
                    .headers()
                    .get(IDENTITY_HEADER)
                    .is_some_and(|value| value.as_bytes() == self.identity.as_bytes());
                if ours && response.status() == StatusCode::OK {
                    return true;
                }
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        panic!(
            "registry did not answer GET /v2/ within {READY_TIMEOUT:?}:\n{}",
            self.log_tail()
        );
    }

    /// The registry configuration: loopback only, filesystem storage, deletes, quiet logs.
    fn config(&self) -> String {
        let root = self.dir.path().join("data");
        format!(
            r#"version: 0.1
log:
  level: warn
  formatter: text
storage:
  filesystem:
    rootdirectory: {root:?}
  delete:
    enabled: true
http:
  addr: {addr}
  secret: {identity}
  headers:
    {IDENTITY_HEADER}: [{identity}]
"#,
            addr = self.addr(),
            identity = self.identity,
        )
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    fn push_single(
        &self,
        repo: &str,
        tag: &str,
        platform: &str,
        seed: &str,
        types: &Types,
    ) -> Pushed {
        let layer = layer::single_file("seed", format!("{seed} {platform}\n").as_bytes());
        let mut config = platform_json(platform);
        // A command lets the engine create containers from the image; they cannot start.
        let labels = json!({ "org.imgwatch.test.seed": seed });
        config["config"] = json!({ "Cmd": ["/seed"], "Labels": labels });
        config["rootfs"] = json!({ "type": "layers", "diff_ids": [layer.diff_id] });
        let config = serde_json::to_vec(&config).expect("serialize config");

        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": types.manifest,
            "config": {
                "mediaType": types.config,
                "digest": self.push_blob(repo, &config),
                "size": config.len(),
            },
            "layers": [{
                "mediaType": types.layer,
                "digest": self.push_blob(repo, &layer.compressed),
                "size": layer.compressed.len(),
            }],
        });
        self.push_json_manifest(repo, tag, types.manifest, &manifest)
    }

    fn push_json_manifest(
        &self,
        repo: &str,
        tag: &str,
        media_type: &str,
        manifest: &Value,
    ) -> Pushed {
        let body = serde_json::to_vec_pretty(manifest).expect("serialize manifest");
        let reference = if tag.is_empty() {
            sha256(&body)
        } else {
            tag.to_string()
        };
        let digest = self.push_manifest(repo, &reference, media_type, &body);
        Pushed {
            digest,
            size: body.len(),
            media_type: media_type.to_string(),
        }
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The media types of one image manifest format.
struct Types {
    manifest: &'static str,
    config: &'static str,
    layer: &'static str,
}

const OCI_TYPES: Types = Types {
    manifest: OCI_MANIFEST,
    config: "application/vnd.oci.image.config.v1+json",
    layer: "application/vnd.oci.image.layer.v1.tar+gzip",
};

const DOCKER_TYPES: Types = Types {
    manifest: DOCKER_MANIFEST,
    config: "application/vnd.docker.container.image.v1+json",
    layer: "application/vnd.docker.image.rootfs.diff.tar.gzip",
};

/// `{"os", "architecture", "variant"?}` from `os/arch[/variant]`.
fn platform_json(platform: &str) -> Value {
    let parts: Vec<&str> = platform.split('/').collect();
    let (os, architecture, variant) = match parts[..] {
        [os, arch] => (os, arch, None),
        [os, arch, variant] => (os, arch, Some(variant)),
        _ => panic!("platform must be os/arch[/variant], got {platform:?}"),
    };
    let mut value = json!({ "os": os, "architecture": architecture });
    if let Some(variant) = variant {
        value["variant"] = json!(variant);
    }
    value
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("bound address").port()
}

fn header(response: &reqwest::blocking::Response, name: &str) -> String {
    let value = response.headers().get(name);
    let value = value.unwrap_or_else(|| panic!("{} has no {name} header", response.url()));
    value.to_str().expect("ASCII header").to_string()
}

/// Parses `127.0.0.1 - - [date] "HEAD /v2/x HTTP/1.1" 200 0 "" "agent"`.
fn parse_access_line(line: &str) -> Option<Request> {
    let (_, rest) = line.split_once("] \"")?;
    let (request, rest) = rest.split_once('"')?;
    let mut request = request.split(' ');
    let method = request.next()?.to_string();
    let path = request.next()?.to_string();
    let status = rest.split_whitespace().next()?.parse().ok()?;
    let user_agent = rest
        .trim_end()
        .strip_suffix('"')?
        .rsplit_once('"')?
        .1
        .to_string();
    Some(Request {
        method,
        path,
        status,
        user_agent,
    })
}
