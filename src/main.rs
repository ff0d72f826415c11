//! The `jitp` command: check, build, evaluate, lint, test and format
//! just-in-time authorisation policies. One module per subcommand under
//! `cli/`, each with its arguments and its `run`.
#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

mod cli;

/// The command (the decision server above all) allocates and frees many
/// small values per request: mimalloc does that in a fraction of the
/// system allocator's time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
