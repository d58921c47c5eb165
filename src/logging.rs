//! Log output on stderr: the level from the flags or `$IMGWATCH_LOG`, and a line format
//! that suits where stderr goes (the systemd journal, a terminal, or a file or pipe).
//!
//! The journal stores its own timestamp and priority with every line, so lines sent there
//! carry neither a clock nor colours, only the sd-daemon priority prefix (`<4>`) that
//! journald turns into the entry's priority: `journalctl -u imgwatch -p warning` then
//! shows the warnings of the timer runs. A terminal reader watches the lines as they come,
//! so they carry no clock either. A file or pipe (cron mail, `2>>log`, CI) has no other
//! clock, so its lines start with the local time and offset.

use std::fmt::{self, Write as _};
use std::fs::Metadata;
use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::sync::OnceLock;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Where stderr goes, which decides the line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The systemd journal: priority prefix, no clock, no colour.
    Journal,
    /// A terminal: no clock, coloured levels unless `NO_COLOR` is set.
    Terminal {
        /// Whether the level word is coloured.
        colour: bool,
    },
    /// A file or a pipe: local time first, no colour.
    Plain,
}

/// The output `init` chose, for the final error line.
static CHOSEN: OnceLock<Output> = OnceLock::new();

/// Sets up the global logger on stderr. Calling it again has no effect.
///
/// The level is `info` by default, `warn` with `quiet`, `debug` with one `-v` and `trace`
/// with two; other crates stay one step quieter. `$IMGWATCH_LOG`, in `EnvFilter` syntax
/// (`debug`, `imgwatch=trace,reqwest=debug`), replaces the whole choice.
pub fn init(verbose: u8, quiet: bool) {
    let output = detect_output(
        std::env::var("JOURNAL_STREAM").ok().as_deref(),
        stderr_metadata().as_ref(),
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
    );
    let output = *CHOSEN.get_or_init(|| output);

    let custom = std::env::var("IMGWATCH_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let (filter, rejected) = match custom.as_deref().map(EnvFilter::try_new) {
        Some(Ok(filter)) => (filter, None),
        Some(Err(e)) => (EnvFilter::new(directives(verbose, quiet)), Some(e)),
        None => (EnvFilter::new(directives(verbose, quiet)), None),
    };

    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .fmt_fields(Fields)
        .event_format(Format { output })
        .with_env_filter(filter)
        .finish();
    if tracing::subscriber::set_global_default(subscriber).is_ok()
        && let Some(e) = rejected
    {
        tracing::warn!("ignoring IMGWATCH_LOG: {e}");
    }
}

/// Prints the line that ends a failed command: `imgwatch: error: MESSAGE` on stderr,
/// at the journal's error priority when stderr is the journal.
pub fn print_error(message: &str) {
    let output = CHOSEN.get().copied().unwrap_or(Output::Plain);
    eprint!("{}", error_line(output, message));
}

/// The text `print_error` writes.
fn error_line(output: Output, message: &str) -> String {
    let prefix = if output == Output::Journal { "<3>" } else { "" };
    // Lines after the first (a hint) stay as they are, apart from the priority.
    let mut text = String::new();
    for (n, line) in message.lines().enumerate() {
        let lead = if n == 0 { "imgwatch: error: " } else { "" };
        text.push_str(&format!("{prefix}{lead}{line}\n"));
    }
    text
}

/// The filter directives the flags ask for.
pub fn directives(verbose: u8, quiet: bool) -> &'static str {
    match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "warn,imgwatch=info",
        (false, 1) => "info,imgwatch=debug",
        (false, 2) => "debug,imgwatch=trace",
        (false, _) => "trace",
    }
}

/// Decides the line format from the environment and what stderr is.
///
/// `stderr` is the `fstat` of file descriptor 2, when it could be taken.
pub fn detect_output(
    journal_stream: Option<&str>,
    stderr: Option<&Metadata>,
    is_terminal: bool,
    no_color: bool,
) -> Output {
    let journal = match (journal_stream, stderr) {
        (Some(stream), Some(meta)) => is_journal(stream, meta),
        _ => false,
    };
    if journal {
        Output::Journal
    } else if is_terminal {
        Output::Terminal { colour: !no_color }
    } else {
        Output::Plain
    }
}

/// True when `$JOURNAL_STREAM` (`<device>:<inode>`) names the file `meta` describes.
///
/// systemd sets the variable for a service whose stderr it connected to the journal.
/// The variable is inherited by children whose stderr was redirected elsewhere, so it
/// only counts when it matches what stderr really is.
pub fn is_journal(journal_stream: &str, meta: &Metadata) -> bool {
    let Some((dev, ino)) = journal_stream.trim().split_once(':') else {
        return false;
    };
    match (dev.parse::<u64>(), ino.parse::<u64>()) {
        (Ok(dev), Ok(ino)) => dev == meta.dev() && ino == meta.ino(),
        _ => false,
    }
}

/// `fstat` of file descriptor 2, taken on a duplicate so stderr itself is never closed.
fn stderr_metadata() -> Option<Metadata> {
    let fd = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
    std::fs::File::from(fd).metadata().ok()
}

/// Formats one event as one line (more when the message has several).
struct Format {
    output: Output,
}

impl<S, N> FormatEvent<S, N> for Format
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = *event.metadata().level();

        // Message and fields first, then the fields of the spans it happened in.
        let mut text = String::new();
        let mut fields = FieldText::default();
        event.record(&mut fields);
        text.push_str(&fields.message);
        text.push_str(&fields.rest);
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(own) = extensions.get::<FormattedFields<N>>()
                    && !own.fields.is_empty()
                {
                    text.push(' ');
                    text.push_str(&own.fields);
                }
            }
        }

        match self.output {
            Output::Journal => {
                // journald reads a prefix on every line; a line without one would be
                // stored at the default priority, so each line of the message gets it.
                let prefix = priority(level);
                for line in text.lines() {
                    writeln!(writer, "<{prefix}>{}: {line}", word(level))?;
                }
                Ok(())
            }
            Output::Terminal { colour } => {
                let word = if colour {
                    coloured(level)
                } else {
                    word(level).to_string()
                };
                writeln!(writer, "{word}: {text}")
            }
            Output::Plain => {
                let now = chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                writeln!(writer, "{now} {}: {text}", word(level))
            }
        }
    }
}

/// The sd-daemon priority of a level (`sd-daemon(3)`: 3 error, 4 warning, 6 info, 7 debug).
fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// The word a line starts with.
fn word(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// The level word in ANSI colour.
fn coloured(level: Level) -> String {
    let code = match level {
        Level::ERROR => "1;31",
        Level::WARN => "1;33",
        Level::INFO => "32",
        Level::DEBUG => "34",
        Level::TRACE => "2",
    };
    format!("\x1b[{code}m{}\x1b[0m", word(level))
}

/// Renders fields as `key=value`, quoting a value only when it has spaces or is empty.
struct Fields;

impl<'writer> FormatFields<'writer> for Fields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut text = FieldText::default();
        fields.record(&mut text);
        let joined = format!("{}{}", text.message, text.rest);
        writer.write_str(joined.trim_start())
    }
}

/// Collects an event's message apart from its other fields.
#[derive(Default)]
struct FieldText {
    message: String,
    /// The other fields, each preceded by a space.
    rest: String,
}

impl FieldText {
    fn push(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
            return;
        }
        // Fields bridged from the `log` crate describe the call site, not the event.
        if field.name().starts_with("log.") {
            return;
        }
        let bare = !value.is_empty() && !value.chars().any(|c| c.is_whitespace() || c == '"');
        if bare {
            let _ = write!(self.rest, " {}={value}", field.name());
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
}

impl Visit for FieldText {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // The whole cause chain, the way the final error line prints it.
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(cause) = source {
            let _ = write!(text, ": {cause}");
            source = cause.source();
        }
        self.push(field, &text);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, &format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(bytes)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    /// Runs `emit` under a logger with this output and filter, returns what it wrote.
    fn capture(output: Output, filter: &str, emit: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(buffer.clone())
            .fmt_fields(Fields)
            .event_format(Format { output })
            .with_env_filter(EnvFilter::new(filter))
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn journal_lines_carry_priority_and_no_clock() {
        let text = capture(Output::Journal, "trace", || {
            tracing::error!("e");
            tracing::warn!("w");
            tracing::info!("i");
            tracing::debug!("d");
            tracing::trace!("t");
        });
        assert_eq!(
            text,
            "<3>error: e\n<4>warning: w\n<6>info: i\n<7>debug: d\n<7>trace: t\n"
        );
    }

    #[test]
    fn journal_prefixes_every_line_of_a_long_message() {
        let text = capture(Output::Journal, "info", || tracing::warn!("first\nsecond"));
        assert_eq!(text, "<4>warning: first\n<4>warning: second\n");
    }

    #[test]
    fn renders_fields_readably() {
        let text = capture(Output::Terminal { colour: false }, "info", || {
            let error = std::io::Error::other("connection refused");
            tracing::warn!(
                runtime = "langgraph",
                attempts = 2,
                reason = "held back",
                empty = "",
                error = &error as &(dyn std::error::Error + 'static),
                "pull failed"
            );
        });
        assert_eq!(
            text,
            "warning: pull failed runtime=langgraph attempts=2 reason=\"held back\" \
             empty=\"\" error=\"connection refused\"\n"
        );
    }

    #[test]
    fn adds_span_fields_after_event_fields() {
        let text = capture(Output::Terminal { colour: false }, "info", || {
            let span = tracing::info_span!("runtime", name = "crewai");
            let _entered = span.enter();
            tracing::info!(digest = "sha256:ab", "seeded");
        });
        assert_eq!(text, "info: seeded digest=sha256:ab name=crewai\n");
    }

    #[test]
    fn colours_only_the_level_word() {
        let text = capture(Output::Terminal { colour: true }, "info", || {
            tracing::warn!("x")
        });
        assert_eq!(text, "\x1b[1;33mwarning\x1b[0m: x\n");
    }

    #[test]
    fn plain_lines_start_with_the_local_time() {
        let text = capture(Output::Plain, "info", || tracing::info!("x"));
        let (time, rest) = text.split_once(' ').unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{text}");
        assert_eq!(rest, "info: x\n");
    }

    #[test]
    fn flags_choose_the_level() {
        let levels = |verbose, quiet| {
            capture(Output::Journal, directives(verbose, quiet), || {
                tracing::warn!(target: "imgwatch::run", "w");
                tracing::info!(target: "imgwatch::run", "i");
                tracing::debug!(target: "imgwatch::run", "d");
                tracing::trace!(target: "imgwatch::run", "t");
                tracing::info!(target: "hyper::client", "dependency");
            })
            .lines()
            .map(|l| l.split(": ").last().unwrap().to_string())
            .collect::<Vec<_>>()
            .join(" ")
        };
        assert_eq!(levels(0, true), "w");
        assert_eq!(levels(0, false), "w i");
        assert_eq!(levels(1, false), "w i d dependency");
        assert_eq!(levels(2, false), "w i d t dependency");
    }

    #[test]
    fn the_final_error_has_error_priority_in_the_journal() {
        assert_eq!(
            error_line(Output::Journal, "a\nb"),
            "<3>imgwatch: error: a\n<3>b\n"
        );
        assert_eq!(error_line(Output::Plain, "a"), "imgwatch: error: a\n");
    }

    #[test]
    fn detects_the_journal_by_device_and_inode() {
        let file = tempfile::tempfile().unwrap();
        let meta = file.metadata().unwrap();
        let stream = format!("{}:{}", meta.dev(), meta.ino());
        assert!(is_journal(&stream, &meta));

        let other = tempfile::tempfile().unwrap().metadata().unwrap();
        assert!(!is_journal(&stream, &other));
        assert!(!is_journal("garbage", &meta));
        assert!(!is_journal(&format!("{}:", meta.dev()), &meta));
    }

    #[test]
    fn chooses_the_output() {
        let file = tempfile::tempfile().unwrap();
        let meta = file.metadata().unwrap();
        let stream = format!("{}:{}", meta.dev(), meta.ino());
        let other = "1:2";

        assert_eq!(
            detect_output(Some(&stream), Some(&meta), true, false),
            Output::Journal
        );
        assert_eq!(
            detect_output(Some(other), Some(&meta), true, false),
            Output::Terminal { colour: true }
        );
        assert_eq!(
            detect_output(None, Some(&meta), true, true),
            Output::Terminal { colour: false }
        );
        assert_eq!(
            detect_output(Some(other), Some(&meta), false, false),
            Output::Plain
        );
        assert_eq!(
            detect_output(Some(&stream), None, false, false),
            Output::Plain
        );
    }
}
