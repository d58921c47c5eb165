//! Documents generated from the code: the man page, shell completions and the example
//! configuration file. They are committed so packaging needs no build step of its own;
//! a test regenerates them and fails when a committed copy differs.

mod example;
pub mod keys;
mod man;

use std::io::Write;

pub use example::example_config;
pub use man::man_page;

/// The command that rewrites every generated file from the code.
pub const REGENERATE: &str = "cargo run --example gen-docs";

/// Writes the completion script for `shell` to `out`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> std::io::Result<()> {
    // clap_complete panics when its writer fails; a closed pipe must end quietly instead.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut crate::cli::command(), "imgwatch", &mut script);
    out.write_all(&script)?;
    out.flush()
}

/// Every generated file: its path in the repository and its current text.
pub fn generated() -> Vec<(&'static str, String)> {
    let completion = |shell| {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut crate::cli::command(), "imgwatch", &mut out);
        String::from_utf8_lossy(&out).into_owned()
    };
    use clap_complete::Shell;
    vec![
        ("man/imgwatch.1", man_page()),
        ("packaging/config.toml", example_config()),
        (
            "packaging/completions/imgwatch.bash",
            completion(Shell::Bash),
        ),
        ("packaging/completions/_imgwatch", completion(Shell::Zsh)),
        (
            "packaging/completions/imgwatch.fish",
            completion(Shell::Fish),
        ),
    ]
}

/// Splits `text` into lines of at most `width` characters, at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_spaces() {
        assert_eq!(wrap("a bb ccc dddd", 6), ["a bb", "ccc", "dddd"]);
        assert_eq!(wrap("", 6), Vec::<String>::new());
    }
}
