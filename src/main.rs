//! The `imgwatch` command: parse, set up logging, run, map the outcome to an exit status.

use std::process::ExitCode;

fn main() -> ExitCode {
    imgwatch::app::main()
}
