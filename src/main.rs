//! The `jitp` command: check, build, evaluate, lint, test and format
//! just-in-time authorisation policies. One module per subcommand under
//! `cli/`, each with its arguments and its `run`.
#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
