//! Packaging: the systemd units, the generated documents, the man page and the Debian
//! package, each checked with the tool that will read it (systemd-analyze, groff, man,
//! dpkg).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BINARY: &str = env!("CARGO_BIN_EXE_imgwatch");

/// Runs a tool the test needs, panicking with an install hint when it is missing.
fn tool(program: &str, args: &[&str], hint: &str) -> Output {
    tool_in(Command::new(program).args(args), program, hint)
}

fn tool_in(command: &mut Command, program: &str, hint: &str) -> Output {
    match command.output() {
        Ok(output) => output,
        Err(e) => panic!("cannot run {program} ({e}): {hint}; scripts/test installs it"),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Copies of the unit files in a temp dir, with ExecStart pointing at `binary`.
///
/// `systemd-analyze verify` checks that the ExecStart program exists, and
/// /usr/bin/imgwatch is not installed on a test machine.
fn units_with_binary(source: &Path, binary: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["imgwatch.service", "imgwatch.timer"] {
        let unit = fs::read_to_string(source.join(name)).expect("unit file");
        let unit = unit.replace(
            "ExecStart=/usr/bin/imgwatch ",
            &format!("ExecStart={binary} "),
        );
        fs::write(dir.path().join(name), unit).expect("write unit");
    }
    dir
}

fn verify_units(dir: &Path) {
    let service = dir.join("imgwatch.service");
    let timer = dir.join("imgwatch.timer");
    // --man=no: the man page is not installed on a test machine; the package test checks it.
    let output = tool(
        "systemd-analyze",
        &[
            "verify",
            "--man=no",
            service.to_str().unwrap(),
            timer.to_str().unwrap(),
        ],
        "systemd-analyze comes with Debian's systemd package",
    );
    let stderr = text(&output.stderr);
    assert!(
        output.status.success(),
        "systemd-analyze verify failed:\n{stderr}"
    );
    assert!(
        stderr.trim().is_empty(),
        "systemd-analyze verify warned:\n{stderr}"
    );
}

#[test]
fn units_pass_systemd_analyze_verify() {
    let units = units_with_binary(&Path::new(ROOT).join("packaging/systemd"), BINARY);
    verify_units(units.path());
}

#[test]
fn service_sandbox_keeps_exposure_low() {
    let units = units_with_binary(&Path::new(ROOT).join("packaging/systemd"), BINARY);
    let service = units.path().join("imgwatch.service");
    // systemd rates 0 (locked down) to 10 (unprotected); a plain service scores 9.6.
    let output = tool(
        "systemd-analyze",
        &[
            "security",
            "--offline=yes",
            "--threshold=20",
            "--no-pager",
            service.to_str().unwrap(),
        ],
        "systemd-analyze comes with Debian's systemd package",
    );
    let report = text(&output.stdout);
    assert!(
        output.status.success(),
        "exposure above 2.0:\n{report}{}",
        text(&output.stderr)
    );
}

fn assert_has_line(unit: &str, name: &str, start: &str) {
    let found = unit.lines().any(|l| l.starts_with(start));
    assert!(found, "{name} has no line starting with {start}");
}

#[test]
fn units_say_what_the_timer_and_service_need() {
    let service = fs::read_to_string(Path::new(ROOT).join("packaging/systemd/imgwatch.service"))
        .expect("service unit");
    for line in [
        "Type=oneshot",
        "ExecStart=/usr/bin/imgwatch check --recreate",
        "StateDirectory=imgwatch",
        "ConfigurationDirectory=imgwatch",
        "SupplementaryGroups=docker",
        "TimeoutStartSec=",
    ] {
        assert_has_line(&service, "imgwatch.service", line);
    }

    // Each hardening setting is either set or named in a comment that says why not.
    for setting in [
        "NoNewPrivileges=",
        "ProtectSystem=strict",
        "PrivateTmp=",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "ProtectHome=",
        "ProtectKernelTunables=",
        "ProtectKernelModules=",
        "ProtectKernelLogs=",
        "LockPersonality=",
        "MemoryDenyWriteExecute=",
        "SystemCallFilter=",
        "CapabilityBoundingSet=",
        "PrivateNetwork=",
        "PrivateUsers=",
    ] {
        let set = service.lines().any(|l| l.starts_with(setting));
        let explained = service
            .lines()
            .any(|l| l.starts_with("# ") && l.contains(setting));
        assert!(set || explained, "{setting} is neither set nor explained");
    }

    let timer = fs::read_to_string(Path::new(ROOT).join("packaging/systemd/imgwatch.timer"))
        .expect("timer unit");
    for line in [
        "OnCalendar=*:0/5",
        "Persistent=true",
        "OnBootSec=",
        "RandomizedDelaySec=",
    ] {
        assert_has_line(&timer, "imgwatch.timer", line);
    }
    assert!(
        timer.contains("[Install]\nWantedBy=timers.target"),
        "timer is not enabled at boot"
    );
}

#[test]
fn generated_files_match_the_code() {
    let mut stale = Vec::new();
    for (path, expected) in imgwatch::docs::generated() {
        let committed = fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_default();
        if committed != expected {
            stale.push(path);
        }
    }
    assert!(
        stale.is_empty(),
        "generated files differ from the code: {}\nupdate them with: {}",
        stale.join(", "),
        imgwatch::docs::REGENERATE
    );
}

/// Renders a man page with man-db as a reader would, failing on any warning.
fn render_man(page: &Path) -> String {
    let output = tool_in(
        Command::new("man")
            .arg("-l")
            .arg(page)
            .env("MANWIDTH", "80")
            .env("MAN_KEEP_STDERR", "1"),
        "man",
        "man comes with Debian's man-db package",
    );
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "man -l failed:\n{stderr}");
    assert!(stderr.trim().is_empty(), "man -l warned:\n{stderr}");
    text(&output.stdout)
}

#[test]
fn man_page_renders_without_warnings() {
    let page = Path::new(ROOT).join("man/imgwatch.1");
    let output = tool(
        "groff",
        &["-man", "-Tutf8", "-ww", "-z", page.to_str().unwrap()],
        "groff comes with Debian's groff-base package",
    );
    let stderr = text(&output.stderr);
    assert!(
        output.status.success() && stderr.trim().is_empty(),
        "groff warned:\n{stderr}"
    );

    let rendered = render_man(&page);
    for heading in [
        "SYNOPSIS",
        "OPTIONS",
        "COMMANDS",
        "CONFIGURATION",
        "ENVIRONMENT",
        "FILES",
        "EXIT STATUS",
        "EXAMPLES",
    ] {
        assert!(
            rendered.lines().any(|l| l == heading),
            "no {heading} section"
        );
    }
}

#[test]
fn man_page_documents_environment_files_and_exit_statuses() {
    let rendered = render_man(&Path::new(ROOT).join("man/imgwatch.1"));
    // man hyphenates long words; join them back before searching.
    let flat = rendered
        .replace("‐\n", "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for needle in [
        "IMGWATCH_CONFIG",
        "IMGWATCH_STATE",
        "IMGWATCH_LOG",
        "CONFIGURATION_DIRECTORY",
        "STATE_DIRECTORY",
        "MOLECULE_IMAGE_PLATFORM",
        "GHCR_USER",
        "GHCR_TOKEN",
        "DOCKER_CONFIG",
        "DOCKER_HOST",
        "NO_COLOR",
        "JOURNAL_STREAM",
        "state.json",
        "state.json.lock",
        "/etc/imgwatch/config.toml",
        "imgwatch check",
        "imgwatch status",
        "imgwatch digest",
        "imgwatch forget",
        "imgwatch completions",
        "--recreate",
        "--wait",
    ] {
        assert!(
            flat.contains(needle),
            "the man page does not mention {needle}"
        );
    }
    for key in imgwatch::docs::keys::CONFIG_KEYS {
        assert!(
            flat.contains(key.name),
            "the man page does not document key {}",
            key.name
        );
    }
    for code in ["0", "1", "2", "75"] {
        let exit = rendered
            .split("EXIT STATUS")
            .nth(1)
            .expect("exit status section");
        let listed = |l: &str| l.split_whitespace().next() == Some(code);
        assert!(exit.lines().any(listed), "exit status {code} undocumented");
    }
}

#[test]
fn ci_example_uses_commands_that_parse() {
    let example = fs::read_to_string(Path::new(ROOT).join("packaging/ci/github-actions.yml"))
        .expect("CI example");
    let commands: Vec<&str> = example
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("imgwatch ") || l.contains("$(imgwatch "))
        .collect();
    assert!(
        commands.iter().any(|c| c.contains("imgwatch digest")),
        "no digest step"
    );
    assert!(
        commands.iter().any(|c| c.contains("imgwatch check --json")),
        "no check step"
    );
    for line in commands {
        let start = line.find("imgwatch ").expect("filtered on it");
        let words: Vec<&str> = line[start..]
            .split_whitespace()
            .take_while(|w| !matches!(*w, ">" | "|" | "||" | "&&" | ")" | ";"))
            .map(|w| w.trim_end_matches(')').trim_matches('"'))
            .collect();
        let parsed = <imgwatch::cli::Cli as clap::Parser>::try_parse_from(&words);
        assert!(parsed.is_ok(), "{line}: {}", parsed.unwrap_err());
    }
}

/// The target directory and cargo profile the test binary was built in.
fn build_of_this_test() -> (PathBuf, &'static str) {
    let profile_dir = Path::new(BINARY).parent().expect("binary dir");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("release") => "release",
        _ => "dev",
    };
    (
        profile_dir.parent().expect("target dir").to_path_buf(),
        profile,
    )
}

/// Builds the .deb from the binary this test run already built.
///
/// `--no-build` packages the existing binary, so the test costs seconds instead of a
/// release build; the package's layout, metadata and scripts are the same either way.
fn build_deb(out: &Path) -> PathBuf {
    let (target, profile) = build_of_this_test();
    let output = tool_in(
        Command::new("cargo")
            .args([
                "deb",
                "--no-build",
                "--fast",
                "--profile",
                profile,
                "--output",
            ])
            .arg(out)
            .current_dir(ROOT)
            .env("CARGO_TARGET_DIR", &target),
        "cargo",
        "cargo-deb: cargo install cargo-deb --locked",
    );
    assert!(
        output.status.success(),
        "cargo deb failed (is cargo-deb installed? cargo install cargo-deb --locked):\n{}",
        text(&output.stderr)
    );
    let deb = text(&output.stdout)
        .lines()
        .last()
        .map(PathBuf::from)
        .expect("the .deb path");
    assert!(
        deb.is_file(),
        "cargo deb printed {deb:?}, which is not a file"
    );
    deb
}

/// A root directory dpkg can install into: an empty database, a shell for the
/// maintainer scripts (dpkg runs them chrooted there) and /dev/null.
fn scratch_root(dir: &Path) {
    for sub in [
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
        "var/log",
        "bin",
        "dev",
    ] {
        fs::create_dir_all(dir.join(sub)).expect("scratch dir");
    }
    fs::write(dir.join("var/lib/dpkg/status"), "").expect("dpkg status");
    fs::copy("/usr/bin/busybox", dir.join("bin/busybox"))
        .expect("/usr/bin/busybox (Debian's busybox-static) for the maintainer scripts");
    std::os::unix::fs::symlink("busybox", dir.join("bin/sh")).expect("bin/sh");
    let null = dir.join("dev/null");
    let made = Command::new("mknod")
        .arg(&null)
        .args(["c", "1", "3"])
        .status();
    assert!(
        made.is_ok_and(|s| s.success()),
        "mknod {} (needs root)",
        null.display()
    );
}

fn dpkg(root: &Path, args: &[&str]) -> String {
    let output = tool_in(
        // The log too, or dpkg appends to the machine's own /var/log/dpkg.log.
        Command::new("dpkg")
            .arg(format!("--root={}", root.display()))
            .arg(format!("--log={}", root.join("var/log/dpkg.log").display()))
            .args(args),
        "dpkg",
        "dpkg is part of every Debian system",
    );
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "dpkg {args:?} failed:\n{all}");
    all
}

#[test]
fn debian_package_installs_upgrades_and_purges() {
    let work = tempfile::tempdir().expect("temp dir");
    let deb = build_deb(work.path());
    let deb_arg = deb.to_str().unwrap();

    // Metadata and conffiles.
    let info = text(&tool("dpkg-deb", &["-I", deb_arg], "dpkg-deb").stdout);
    for needle in [
        "Package: imgwatch",
        "Depends: libc6",
        "Recommends: docker.io",
        "Section: admin",
    ] {
        assert!(info.contains(needle), "control lacks {needle}:\n{info}");
    }
    let package = text(&tool("dpkg-deb", &["-f", deb_arg, "Package"], "dpkg-deb").stdout);
    assert_eq!(package.trim(), "imgwatch");
    let control = tempfile::tempdir().expect("temp dir");
    tool(
        "dpkg-deb",
        &["-e", deb_arg, control.path().to_str().unwrap()],
        "dpkg-deb",
    );
    let conffiles = fs::read_to_string(control.path().join("conffiles")).expect("conffiles");
    assert_eq!(conffiles.trim(), "/etc/imgwatch/config.toml");

    // Contents.
    let listing = text(&tool("dpkg-deb", &["-c", deb_arg], "dpkg-deb").stdout);
    for (path, mode) in [
        ("./usr/bin/imgwatch", "-rwxr-xr-x"),
        ("./usr/lib/systemd/system/imgwatch.service", "-rw-r--r--"),
        ("./usr/lib/systemd/system/imgwatch.timer", "-rw-r--r--"),
        ("./usr/share/man/man1/imgwatch.1.gz", "-rw-r--r--"),
        (
            "./usr/share/bash-completion/completions/imgwatch",
            "-rw-r--r--",
        ),
        ("./usr/share/zsh/vendor-completions/_imgwatch", "-rw-r--r--"),
        (
            "./usr/share/fish/vendor_completions.d/imgwatch.fish",
            "-rw-r--r--",
        ),
        ("./etc/imgwatch/config.toml", "-rw-r--r--"),
        ("./usr/share/doc/imgwatch/copyright", "-rw-r--r--"),
    ] {
        let line = listing.lines().find(|l| l.ends_with(&format!(" {path}")));
        let line = line.unwrap_or_else(|| panic!("package lacks {path}:\n{listing}"));
        assert!(line.starts_with(mode) && line.contains(" 0/0 "), "{line}");
    }

    // Install into a scratch root: dpkg accepts the archive, puts every file in place,
    // registers the conffile and runs the maintainer scripts, chrooted, on a system where
    // systemd is not running. --force-depends: the scratch root has no libc6 package.
    let root = work.path().join("root");
    scratch_root(&root);
    dpkg(&root, &["--force-depends", "-i", deb_arg]);
    let status = dpkg(&root, &["-s", "imgwatch"]);
    assert!(status.contains("Status: install ok installed"), "{status}");
    assert!(
        status.contains("/etc/imgwatch/config.toml"),
        "conffile not registered:\n{status}"
    );

    // The installed files work together: the binary runs, reads the installed example
    // configuration, the units verify against the installed binary, the man page renders.
    let installed = root.join("usr/bin/imgwatch");
    let state = work.path().join("state.json");
    let ran = Command::new(&installed)
        .args([
            "--config",
            root.join("etc/imgwatch/config.toml").to_str().unwrap(),
            "status",
        ])
        .arg("--state")
        .arg(&state)
        .output()
        .expect("run the installed binary");
    assert!(
        ran.status.success(),
        "installed binary: {}",
        text(&ran.stderr)
    );
    let units = units_with_binary(
        &root.join("usr/lib/systemd/system"),
        installed.to_str().unwrap(),
    );
    verify_units(units.path());
    render_man(&root.join("usr/share/man/man1/imgwatch.1.gz"));

    // A changed conffile survives reinstalling the package, without a question asked.
    let config = root.join("etc/imgwatch/config.toml");
    fs::write(&config, "strategy = \"remove\"\n").expect("edit conffile");
    dpkg(&root, &["--force-depends", "-i", deb_arg]);
    assert_eq!(
        fs::read_to_string(&config).unwrap(),
        "strategy = \"remove\"\n"
    );

    // Removing keeps the configuration; purging deletes it.
    dpkg(&root, &["-r", "imgwatch"]);
    assert!(!installed.exists(), "remove left the binary");
    assert!(config.exists(), "remove deleted the configuration");
    dpkg(&root, &["--purge", "imgwatch"]);
    assert!(!config.exists(), "purge left the configuration");
}

#[test]
fn readme_documents_every_key_variable_status_and_command() {
    let readme = fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README.md");
    let mut missing = Vec::new();
    for key in imgwatch::docs::keys::CONFIG_KEYS {
        if !readme.contains(&format!("| `{}` |", key.name)) {
            missing.push(format!("config key {}", key.name));
        }
    }
    for (status, _) in imgwatch::docs::keys::STATUSES {
        if !readme.contains(&format!("| `{status}` |")) {
            missing.push(format!("status {status}"));
        }
    }
    for (code, _) in imgwatch::docs::keys::EXIT_STATUSES {
        if !readme.contains(&format!("| {code} |")) {
            missing.push(format!("exit status {code}"));
        }
    }
    for (variable, _) in imgwatch::docs::keys::ENVIRONMENT {
        // JOURNAL_STREAM and the systemd directories are the unit's business.
        let internal = [
            "JOURNAL_STREAM",
            "CONFIGURATION_DIRECTORY",
            "STATE_DIRECTORY",
        ];
        if !internal.contains(variable) && !readme.contains(variable) {
            missing.push(format!("variable {variable}"));
        }
    }
    let mut root = imgwatch::cli::command();
    root.build();
    for sub in root.get_subcommands().filter(|s| s.get_name() != "help") {
        if !readme.contains(&format!("imgwatch {}", sub.get_name())) {
            missing.push(format!("command {}", sub.get_name()));
        }
        for arg in sub.get_arguments().filter_map(|a| a.get_long()) {
            if !["help", "version", "config", "verbose", "quiet"].contains(&arg)
                && !readme.contains(&format!("--{arg}"))
            {
                missing.push(format!("{} --{arg}", sub.get_name()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "README.md does not document: {}",
        missing.join(", ")
    );
}
