//! Runnable test images: busybox-based images built by the engine and pushed to a registry.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::OnceLock;

use super::engine::{docker, require_engine, try_docker};
use super::layer::sha256;
use super::registry::TestRegistry;

/// The static busybox from Debian's `busybox-static`: the whole userland of test images.
const BUSYBOX: &str = "/usr/bin/busybox";

/// The label naming the `TestImage` an image was built from.
pub const IMAGE_LABEL: &str = "org.imgwatch.test.image";

/// The base image's Dockerfile. Its default command stays up until stopped.
///
/// A shell that is PID 1 ignores SIGTERM unless it installs a handler, and `docker stop`
/// would then wait its full grace period; the trap makes the container exit 0 at once.
const BASE_DOCKERFILE: &str = r#"FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
CMD ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]
"#;

/// A runnable image on busybox, described piece by piece, then built.
///
/// Without `cmd` the container sleeps until stopped and exits 0 on SIGTERM at once. The
/// builder runs one container per Dockerfile step, so pieces are folded into few steps:
/// all files in one `COPY`, all variables in one `ENV`, labels as `docker build --label`.
#[derive(Debug, Clone)]
pub struct TestImage {
    name: String,
    files: Vec<(String, Vec<u8>, u32)>,
    env: Vec<(String, String)>,
    labels: Vec<(String, String)>,
    instructions: Vec<String>,
}

impl TestImage {
    /// A new image description; `name` becomes the `org.imgwatch.test.image` label.
    pub fn new(name: &str) -> TestImage {
        TestImage {
            name: name.to_string(),
            files: Vec::new(),
            env: Vec::new(),
            labels: vec![(IMAGE_LABEL.to_string(), name.to_string())],
            instructions: Vec::new(),
        }
    }

    /// Sets an environment variable in the image (`ENV`); `$` is not expanded.
    pub fn env(mut self, key: &str, value: &str) -> TestImage {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Sets a label on the image.
    pub fn label(mut self, key: &str, value: &str) -> TestImage {
        self.labels.push((key.to_string(), value.to_string()));
        self
    }

    /// Sets the default command (`CMD`, exec form).
    pub fn cmd(self, args: &[&str]) -> TestImage {
        self.instruction(format!("CMD {}", json(args)))
    }

    /// Sets the entrypoint (`ENTRYPOINT`, exec form).
    pub fn entrypoint(self, args: &[&str]) -> TestImage {
        self.instruction(format!("ENTRYPOINT {}", json(args)))
    }

    /// Sets the working directory (`WORKDIR`).
    pub fn workdir(self, path: &str) -> TestImage {
        self.instruction(format!("WORKDIR {path}"))
    }

    /// Sets the user (`USER`).
    pub fn user(self, user: &str) -> TestImage {
        self.instruction(format!("USER {user}"))
    }

    /// Declares an anonymous volume (`VOLUME`).
    pub fn volume(self, path: &str) -> TestImage {
        self.instruction(format!("VOLUME {}", json(&[path])))
    }

    /// Adds a shell healthcheck probed every second (`HEALTHCHECK`).
    pub fn healthcheck(self, shell: &str) -> TestImage {
        let probe = json(&["/bin/sh", "-c", shell]);
        self.instruction(format!(
            "HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD {probe}"
        ))
    }

    /// Bakes a file into the image, such as `/version` holding the version string.
    pub fn file(self, path: &str, contents: impl AsRef<[u8]>) -> TestImage {
        self.with_file(path, contents.as_ref(), 0o644)
    }

    /// Bakes an executable file into the image, such as a `/bin/` shell script.
    pub fn script(self, path: &str, contents: impl AsRef<[u8]>) -> TestImage {
        self.with_file(path, contents.as_ref(), 0o755)
    }

    /// Adds any other Dockerfile instruction, such as `STOPSIGNAL SIGINT`.
    pub fn instruction(mut self, line: String) -> TestImage {
        self.instructions.push(line);
        self
    }

    fn with_file(mut self, path: &str, contents: &[u8], mode: u32) -> TestImage {
        let path = path.trim_start_matches('/');
        assert!(
            !path.is_empty() && !path.contains(".."),
            "bad image file path {path:?}"
        );
        self.files.push((path.to_string(), contents.to_vec(), mode));
        self
    }

    /// Builds the image into the engine under `reference` and returns its image ID.
    pub fn build(&self, reference: &str) -> String {
        let context = tempfile::Builder::new()
            .prefix("imgwatch-build-")
            .tempdir()
            .expect("temp dir");
        let mut dockerfile = format!("FROM {}\n", base_image());

        // The files sit under root/ in the context, so one COPY places them all.
        for (path, contents, mode) in &self.files {
            let target = context.path().join("root").join(path);
            fs::create_dir_all(target.parent().expect("files sit under root/"))
                .expect("create build dir");
            fs::write(&target, contents).expect("write build file");
            fs::set_permissions(&target, fs::Permissions::from_mode(*mode)).expect("chmod");
        }
        if !self.files.is_empty() {
            dockerfile.push_str("COPY root/ /\n");
        }
        if !self.env.is_empty() {
            let pairs: Vec<String> = self
                .env
                .iter()
                .map(|(k, v)| format!("{}={}", quote(k), quote(v)))
                .collect();
            dockerfile.push_str(&format!("ENV {}\n", pairs.join(" ")));
        }
        for line in &self.instructions {
            dockerfile.push_str(line);
            dockerfile.push('\n');
        }
        fs::write(context.path().join("Dockerfile"), dockerfile).expect("write Dockerfile");

        // No cache: tests run in parallel and remove their images when they end, so a
        // cached step shared with another test can vanish in the middle of this build.
        let mut flags = vec!["--no-cache".to_string()];
        flags.extend(self.labels.iter().map(|(k, v)| format!("--label={k}={v}")));
        build(context.path(), reference, &flags)
    }

    /// Builds the image, pushes it as `repo:tag` and returns the digest the registry reports.
    ///
    /// The engine's tags are left as they were: a reference that pointed at another image
    /// still does, one that did not exist still does not. Tests pull what a host would run.
    pub fn build_and_push(&self, registry: &TestRegistry, repo: &str, tag: &str) -> String {
        let reference = registry.reference(repo, tag);
        let before = try_docker(&["image", "inspect", "--format", "{{.Id}}", &reference]).ok();
        let built = self.build(&reference);
        let pushed = docker(&["push", &reference]);

        // Put the tag back where it was, then drop the image that only this push needed.
        match &before {
            Some(id) if *id == built => {}
            Some(id) => {
                docker(&["tag", id, &reference]);
                docker(&["rmi", &built]);
            }
            None => {
                docker(&["rmi", &reference]);
            }
        }

        let digest = registry.head_digest(repo, tag);
        assert!(
            pushed.contains(&format!("digest: {digest} ")),
            "docker push of {} ({reference}) reported another digest than the registry's \
             {digest}:\n{pushed}",
            self.name,
        );
        digest
    }
}

/// The busybox base image, built once per busybox binary and kept as a build cache.
///
/// Its tag hashes the binary's size and modification time (hashing 2 MB in a debug build
/// costs more) and the Dockerfile, so a new busybox or recipe gets a new image, and
/// concurrent test processes agree on the name.
fn base_image() -> &'static str {
    static BASE: OnceLock<String> = OnceLock::new();
    BASE.get_or_init(|| {
        require_engine();
        let meta = fs::metadata(BUSYBOX).unwrap_or_else(|e| {
            panic!("{BUSYBOX}: {e}; busybox-static is missing: run scripts/test, which installs it")
        });
        let modified = meta.modified().expect("file times are supported");
        let key = format!("{} {modified:?}\n{BASE_DOCKERFILE}", meta.len());
        let tag = format!(
            "imgwatch-test-base:{}",
            &sha256(key.as_bytes())["sha256:".len()..][..16]
        );
        if try_docker(&["image", "inspect", "--format", "{{.Id}}", &tag]).is_err() {
            let context = tempfile::Builder::new()
                .prefix("imgwatch-base-")
                .tempdir()
                .expect("temp dir");
            // A copy keeps the executable bit that a plain write would lose.
            fs::copy(BUSYBOX, context.path().join("busybox")).expect("copy busybox");
            fs::write(context.path().join("Dockerfile"), BASE_DOCKERFILE)
                .expect("write Dockerfile");
            build(context.path(), &tag, &[]);
        }
        tag
    })
}

/// `docker build` with the classic builder and extra flags; returns the image ID.
fn build(context: &Path, reference: &str, flags: &[String]) -> String {
    let context = context.to_str().expect("temp dirs have UTF-8 paths");
    // --force-rm: a failed RUN must not leave its container behind.
    let mut args = vec!["build", "--quiet", "--force-rm", "--tag", reference];
    args.extend(flags.iter().map(String::as_str));
    args.push(context);
    let id = docker(&args);
    id.lines().last().unwrap_or_default().to_string()
}

/// A Dockerfile word in double quotes, safe from variable expansion.
fn quote(text: &str) -> String {
    assert!(
        !text.contains('\n'),
        "Dockerfile values are single lines: {text:?}"
    );
    let escaped = text
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('$', "\\$");
    format!("\"{escaped}\"")
}

/// The JSON (exec) form of an argument list.
fn json(args: &[&str]) -> String {
    serde_json::to_string(args).expect("strings serialize")
}
