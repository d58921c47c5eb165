//! The `imgwatch(1)` man page: the clap grammar rendered by clap_mangen, plus the
//! sections the grammar does not hold (configuration, environment, files, exit status).
//!
//! All commands share one page: they share the configuration, the environment and the
//! exit statuses, and five short commands read better together than as five pages that
//! each point back to a sixth.

use clap::Command;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, italic, roman};

use super::keys::{CONFIG_KEYS, ENVIRONMENT, EXIT_STATUSES, STATUSES};

/// Global flags, documented once under OPTIONS rather than under every command.
const GLOBAL: [&str; 5] = ["config", "verbose", "quiet", "help", "version"];

/// The whole page as roff source.
pub fn man_page() -> String {
    let mut root = crate::cli::command();
    root.build();
    let man = Man::new(root.clone()).date("").manual("imgwatch manual");

    let mut page = preamble().to_string();
    page.push_str(&rendered(|w| man.render_title(w)));
    page.push_str(&rendered(|w| man.render_name_section(w)));
    page.push_str(&rendered(|w| man.render_synopsis_section(w)));
    page.push_str(&rendered(|w| man.render_description_section(w)));
    page.push_str(&rendered(|w| man.render_options_section(w)));
    page.push_str(&commands(&root));
    page.push_str(&text(&reference()));
    page.push_str(&text(&examples()));
    page
}

/// The definitions every rendered piece starts with; the page keeps one copy.
fn preamble() -> &'static str {
    static PREAMBLE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PREAMBLE.get_or_init(|| Roff::new().render())
}

/// Runs a clap_mangen renderer into a string, without the preamble.
fn rendered(render: impl Fn(&mut dyn std::io::Write) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    render(&mut out).expect("rendering into memory cannot fail");
    let text = String::from_utf8(out).expect("clap_mangen writes UTF-8 from UTF-8 input");
    text.strip_prefix(preamble()).unwrap_or(&text).to_string()
}

/// Our own roff as a string, without the preamble.
fn text(roff: &Roff) -> String {
    let text = roff.render();
    text.strip_prefix(preamble()).unwrap_or(&text).to_string()
}

/// COMMANDS: each subcommand's synopsis, description and options.
fn commands(root: &Command) -> String {
    let mut page = text(Roff::new().control("SH", ["COMMANDS"]));
    for sub in root.get_subcommands().filter(|s| s.get_name() != "help") {
        let mut sub = sub.clone();
        for id in GLOBAL {
            if sub.get_arguments().any(|a| a.get_id() == id) {
                sub = sub.mut_arg(id, |a| a.hide(true));
            }
        }
        let name = format!("imgwatch {}", sub.get_name());
        let about = sub
            .get_long_about()
            .or(sub.get_about())
            .map(|a| a.to_string());
        let mut heading = Roff::new();
        heading.control("SS", [name.as_str()]);
        heading.text([roman(about.unwrap_or_default())]);
        heading.control("PP", []);
        page.push_str(&text(&heading));

        // The synopsis and the options as clap_mangen renders them, headings dropped.
        let man = Man::new(sub);
        let body = rendered(|w| man.render_synopsis_section(w))
            + &rendered(|w| man.render_options_section(w));
        for line in body.lines().filter(|l| !l.starts_with(".SH")) {
            page.push_str(line);
            page.push('\n');
        }
    }
    page
}

/// CONFIGURATION, ENVIRONMENT, FILES, REPORT and EXIT STATUS.
fn reference() -> Roff {
    let mut roff = Roff::new();

    roff.control("SH", ["CONFIGURATION"]);
    roff.text([roman(
        "The configuration file is TOML. Every key is optional; unknown keys and bad values \
         are errors that name the file and line. Durations are written like 30s, 10m or \
         1h 30m. The first file found is read: ",
    )]);
    roff.text([
        bold("--config"),
        roman(", "),
        bold("$IMGWATCH_CONFIG"),
        roman(" (both must exist), "),
        bold("$CONFIGURATION_DIRECTORY/config.toml"),
        roman(", "),
        bold("/etc/imgwatch/config.toml"),
        roman(", then "),
        bold("~/.config/imgwatch/config.toml"),
        roman(". With no file, the defaults below apply."),
    ]);
    for key in CONFIG_KEYS {
        roff.control("TP", []);
        match key.default {
            Some(default) => roff.text([bold(key.name), roman(" = "), italic(default)]),
            None => roff.text([bold(key.name)]),
        };
        match key.unset {
            Some(unset) => roff.text([roman(format!("{} Unset by default: {unset}.", key.help))]),
            None => roff.text([roman(key.help)]),
        };
    }

    roff.control("SH", ["ENVIRONMENT"]);
    for (name, help) in ENVIRONMENT {
        roff.control("TP", []);
        roff.text([bold(*name)]);
        roff.text([roman(*help)]);
    }

    roff.control("SH", ["FILES"]);
    let files: [(&str, &str); 5] = [
        (
            "/etc/imgwatch/config.toml",
            "The configuration file (a commented example is installed).",
        ),
        (
            "/var/lib/imgwatch/state.json",
            "The state file under the systemd unit (StateDirectory=imgwatch): per runtime the \
             digest last brought in, when it was seen, checked and updated, the last error, \
             failures in a row and a held-back digest. Written atomically.",
        ),
        (
            "/var/lib/imgwatch/state.json.lock",
            "Lock file beside the state file; one run at a time holds it.",
        ),
        (
            "/usr/lib/systemd/system/imgwatch.service",
            "Runs imgwatch check --recreate once, hardened.",
        ),
        (
            "/usr/lib/systemd/system/imgwatch.timer",
            "Starts the service every five minutes.",
        ),
    ];
    for (path, help) in files {
        roff.control("TP", []);
        roff.text([italic(path)]);
        roff.text([roman(help)]);
    }

    roff.control("SH", ["REPORT"]);
    roff.text([roman(
        "check prints one line per runtime, or with --json one object: \
         {\"runtimes\": [{\"runtime\", \"image\", \"status\", \"previous\", \"digest\", \
         \"containers\": [{\"name\", \"id\", \"action\", \"error\"}], \"error\"}]}. \
         A runtime's status is one of:",
    )]);
    for (status, help) in STATUSES {
        roff.control("TP", []);
        roff.text([bold(*status)]);
        roff.text([roman(*help)]);
    }

    roff.control("SH", ["EXIT STATUS"]);
    for (code, help) in EXIT_STATUSES {
        roff.control("TP", []);
        roff.text([bold(code.to_string())]);
        roff.text([roman(*help)]);
    }
    roff
}

/// EXAMPLES and SEE ALSO.
fn examples() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["EXAMPLES"]);
    let examples: [(&str, &[&str]); 7] = [
        (
            "Report which runtime images moved, changing nothing:",
            &["imgwatch check --dry-run"],
        ),
        (
            "Pull moved images and recreate their containers:",
            &["imgwatch check --recreate"],
        ),
        (
            "Print the digest of one image for one platform:",
            &[
                "imgwatch digest --platform linux/arm64 \\",
                "    ghcr.io/molecule-ai/workspace-template-langgraph:latest",
            ],
        ),
        (
            "Start the timer:",
            &["systemctl enable --now imgwatch.timer"],
        ),
        (
            "Read the warnings of the timer runs:",
            &["journalctl -u imgwatch -p warning"],
        ),
        (
            "Seed a runtime again after a bad rollout:",
            &["imgwatch forget langgraph"],
        ),
        (
            "Install bash completions for the current user:",
            &[
                "imgwatch completions bash \\",
                "    > ~/.local/share/bash-completion/completions/imgwatch",
            ],
        ),
    ];
    for (what, lines) in examples {
        roff.control("PP", []);
        roff.text([roman(what)]);
        roff.control("RS", []);
        roff.control("nf", []);
        for line in lines {
            roff.text([bold(*line)]);
        }
        roff.control("fi", []);
        roff.control("RE", []);
    }

    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(
        "systemd.timer(5), systemd.exec(5), journalctl(1), docker(1), \
         docker-login(1)",
    )]);
    roff
}
