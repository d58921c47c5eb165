//! The command's table of contents: parse, log, dispatch, print, exit.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::output;
use crate::run::{self, EXIT_OK, Fatal};
use crate::settings::{self, CheckSettings};

/// Runs the command line of this process and returns its exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::logging::init(cli.verbose, cli.quiet);
    let status = match dispatch(&cli) {
        Ok(status) => status,
        Err(fatal) => {
            if !is_broken_pipe(&fatal.error) {
                crate::logging::print_error(&format!("{:#}", fatal.error));
            }
            fatal.status
        }
    };
    ExitCode::from(status)
}

fn dispatch(cli: &Cli) -> Result<u8, Fatal> {
    let env = &settings::process_env;
    let config = cli.config.as_deref();
    let mut stdout = io::stdout().lock();
    match &cli.command {
        Command::Check(args) => {
            let started = Instant::now();
            let settings = CheckSettings::resolve(args, config, env).map_err(Fatal::usage)?;
            let outcome = run::check(&settings, env);
            let status = match &outcome {
                Ok(checked) => checked.exit_status(),
                Err(fatal) => fatal.status,
            };
            let finished = outcome.as_ref().ok().map(|c| (&c.report, &c.state));
            let printed = match finished {
                Some((report, _)) => output::report(&mut stdout, report, settings.json),
                None => Ok(()),
            };
            run::finish(&settings, finished, status, started);
            outcome?;
            written(printed)?;
            Ok(status)
        }
        Command::Status(args) => {
            let state = run::status(args.state.as_deref(), config, env)?;
            written(output::status(&mut stdout, &state, args.json))?;
            Ok(EXIT_OK)
        }
        Command::Digest(args) => {
            let digest = run::digest(args, config, env)?;
            written(writeln!(stdout, "{digest}"))?;
            Ok(EXIT_OK)
        }
        Command::Forget(args) => {
            let dropped = run::forget(args, config, env)?;
            for name in dropped {
                written(writeln!(stdout, "forgot {name}"))?;
            }
            Ok(EXIT_OK)
        }
        Command::Completions { shell } => {
            written(crate::docs::completions(*shell, &mut stdout))?;
            Ok(EXIT_OK)
        }
    }
}

/// The outcome of writing to stdout. A reader that closed the pipe early (`| head`)
/// chose to stop reading; that changes nothing about how the command went, so it is
/// neither an error message nor an exit status of its own.
fn written(result: io::Result<()>) -> Result<(), Fatal> {
    match result {
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => Err(Fatal::failure(
            anyhow::Error::new(error).context("cannot write to stdout"),
        )),
        _ => Ok(()),
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|e| e.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}
