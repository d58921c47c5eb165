//! The commented example configuration file installed as `/etc/imgwatch/config.toml`.

use super::keys::CONFIG_KEYS;
use super::wrap;

const HEADER: &str = "\
# imgwatch configuration.
#
# Every key is optional. Each is shown commented out with its default value; a key that
# is unset by default shows an example value and what happens without it. Durations are
# written like \"30s\", \"10m\" or \"1h 30m\". Unknown keys are an error.
#
# Looked for, first match wins: --config, $IMGWATCH_CONFIG,
# $CONFIGURATION_DIRECTORY/config.toml (this file, under the systemd unit),
# /etc/imgwatch/config.toml, then the user's ~/.config/imgwatch/config.toml.
# See imgwatch(1).
";

/// The example file: every key commented out, with its default and what it does.
pub fn example_config() -> String {
    let mut out = String::from(HEADER);
    for key in CONFIG_KEYS {
        out.push('\n');
        for line in wrap(key.help, 86) {
            out.push_str(&format!("# {line}\n"));
        }
        if let Some(unset) = key.unset {
            for line in wrap(&format!("Unset by default: {unset}."), 86) {
                out.push_str(&format!("# {line}\n"));
            }
        }
        let value = key.default.or(key.example).unwrap_or("\"\"");
        out.push_str(&format!("#{} = {value}\n", key.name));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{Config, FileConfig};

    /// The example with the assignment lines of the chosen keys uncommented.
    fn uncomment(keep: impl Fn(&str) -> bool) -> String {
        let mut text = String::new();
        for line in example_config().lines() {
            let name = line
                .strip_prefix('#')
                .and_then(|l| l.split_once(" = "))
                .map(|(k, _)| k);
            match name {
                Some(name) if keep(name) => text.push_str(&line[1..]),
                _ => text.push_str(line),
            }
            text.push('\n');
        }
        text
    }

    #[test]
    fn names_every_key_of_the_config_file() {
        // serde lists the accepted fields when it meets an unknown one.
        let error = toml::from_str::<FileConfig>("no_such_key = 1")
            .unwrap_err()
            .to_string();
        let expected = error
            .split_once("expected one of")
            .expect("serde lists the fields")
            .1;
        let fields: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let documented: Vec<&str> = CONFIG_KEYS.iter().map(|k| k.name).collect();
        assert_eq!(
            fields, documented,
            "keys in config.rs vs the documentation table"
        );
    }

    #[test]
    fn every_example_value_parses() {
        let text = uncomment(|_| true);
        Config::parse(&text, Path::new("example.toml")).unwrap();
    }

    #[test]
    fn defaults_shown_are_the_real_defaults() {
        let has_default = |name: &str| {
            CONFIG_KEYS
                .iter()
                .any(|k| k.name == name && k.default.is_some())
        };
        let text = uncomment(has_default);
        let mut parsed = Config::parse(&text, Path::new("example.toml")).unwrap();
        parsed.source = None;
        assert_eq!(format!("{parsed:?}"), format!("{:?}", Config::default()));
    }

    #[test]
    fn every_key_is_commented_out() {
        let parsed = Config::parse(&example_config(), Path::new("example.toml")).unwrap();
        assert_eq!(
            format!("{:?}", parsed.runtimes),
            format!("{:?}", Config::default().runtimes)
        );
        for line in example_config().lines() {
            assert!(line.is_empty() || line.starts_with('#'), "{line}");
        }
    }
}
