//! The command's table of contents: parse, log, dispatch, print, exit.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::output;
use crate::run::{self, EXIT_FAILED, EXIT_OK, Fatal};
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
                Ok((report, _)) if report.any_failed() => EXIT_FAILED,
                Ok(_) => EXIT_OK,
                Err(fatal) => fatal.status,
            };
            let finished = outcome.as_ref().ok().map(|(report, state)| (report, state));
            let printed = match finished {
                Some((report, _)) => output::report(&mut stdout, report, settings.json),
                None => Ok(()),
            };
            run::finish(&settings, finished, status, started);
            outcome?;
            printed.map_err(print_error)?;
            Ok(status)
        }
        Command::Status(args) => {
            let state = run::status(args.state.as_deref(), config, env)?;
            output::status(&mut stdout, &state, args.json).map_err(print_error)?;
            Ok(EXIT_OK)
        }
        Command::Digest(args) => {
            let digest = run::digest(args, config, env)?;
            writeln!(stdout, "{digest}").map_err(print_error)?;
            Ok(EXIT_OK)
        }
        Command::Forget(args) => {
            let dropped = run::forget(args, config, env)?;
            for name in dropped {
                writeln!(stdout, "forgot {name}").map_err(print_error)?;
            }
            Ok(EXIT_OK)
        }
        Command::Completions { shell } => {
            crate::docs::completions(*shell, &mut stdout).map_err(print_error)?;
            Ok(EXIT_OK)
        }
    }
}

fn print_error(error: io::Error) -> Fatal {
    Fatal::failure(anyhow::Error::new(error).context("cannot write to stdout"))
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|e| e.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}
