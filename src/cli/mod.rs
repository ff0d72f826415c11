//! The command line: global options, the subcommands, and what they share
//! (colour, exit codes, reporting input errors).

/// Prints to standard output like `print!`, flushing at once; when the
/// write fails (a closed pipe, a full disk) the error is reported and the
/// enclosing function returns exit status 2.
macro_rules! out {
    ($($arg:tt)*) => {
        if let Err(code) = $crate::cli::write_stdout(&format!($($arg)*)) {
            return code;
        }
    };
}

/// `out!` with a newline.
macro_rules! outln {
    ($($arg:tt)*) => {
        out!("{}\n", format_args!($($arg)*))
    };
}

/// Prints to standard error like `eprint!`, ignoring a failed write:
/// there is nowhere left to report it, and it must not panic.
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

/// `err!` with a newline.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod build;
mod check;
mod disasm;
mod eval;
mod fmt;
mod keys;
mod lint;
mod log;
mod serve;
mod task;
mod test;

use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::process::ExitCode;

/// jitp: just-in-time authorisation policies.
///
/// Policies are `.jitp` files. Files given together are grouped by their
/// `package` line; each package is one policy set. `check` reports every
/// problem at once; `build` compiles one policy set to a bundle (`.jitb`);
/// `eval` decides a request against a bundle or policies; `disasm` shows a
/// bundle's bytecode.
///
/// Exit codes: 0 success (for `eval`, any decision, deny included); 1 the
/// policies have errors; 2 usage or input errors (missing file, unreadable
/// or corrupt input).
#[derive(Parser, Debug)]
#[command(name = "jitp", version, about, long_about, propagate_version = true)]
struct Cli {
    /// When to colour output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum ColorChoice {
    /// Colour when writing to a terminal and `NO_COLOR` is unset.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// The output formats of `check` and `eval --explain`.
#[derive(Copy, Clone, Debug, ValueEnum, PartialEq, Eq)]
enum Format {
    /// Human-readable reports with source excerpts.
    Human,
    /// One JSON document on stdout.
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse and type-check policies, reporting every problem at once.
    ///
    /// Each PATH is a `.jitp` file or a directory searched recursively for
    /// `.jitp` files. Exit status 0 when every policy set is free of errors
    /// (warnings allowed), 1 when any has errors, 2 when an input cannot be
    /// read.
    Check(check::Args),
    /// Compile one policy set to a bundle file.
    ///
    /// The paths must hold exactly one policy set (one `package`), or name
    /// one with `--package`.
    Build(build::Args),
    /// Decide one request and print the decision as JSON.
    ///
    /// The request is AuthZEN-shaped JSON (`subject`, `action`, `resource`,
    /// `context`, `task`, `evidence`, `now`). A request without `now` is
    /// decided at the current time, and a note says so. A deny is a
    /// successful evaluation (exit 0).
    Eval(eval::Args),
    /// Run policy test suites and report rule coverage.
    ///
    /// Each PATH is a policy file or directory (searched as `check` does)
    /// or a suite file. A policy's suites are the `*.test.json` files in
    /// the `tests/` directory beside it: JSON with fixtures, a pinned
    /// `now` and cases, each an AuthZEN-shaped request and the decision it
    /// must get (see docs/testing.md). A request that does not fit the
    /// policy's schema is an error in the suite, unless the case expects
    /// `deny` with reason `invalid_request`.
    ///
    /// A rule is exercised when it is the deciding rule of some case.
    /// `--coverage` lists the rules no case exercised and, per task, the
    /// outcomes (allow, step_up, forbidden, expired, not_yet_active,
    /// no_matching_rule) no case produced.
    ///
    /// Exit status 0 when every case passes (and coverage meets
    /// `--min-coverage`), 1 when a case fails or coverage is too low, 2
    /// when the tests cannot run: a malformed suite or case, policy errors,
    /// or an unreadable path.
    Test(test::Args),
    /// Find standing privilege: the analyser CI runs on every policy change.
    ///
    /// Each PATH is a policy file or a directory searched recursively for
    /// `.jitp` files. Every policy set is checked, then analysed for the
    /// findings JIT001-JIT017 (see `--rules`, `--explain CODE` and
    /// docs/lint.md). Settings come from `jitp.toml` beside the policies
    /// (`max_ttl`, `max_breakglass_ttl`, per-finding `[levels]`); a
    /// `// jitp-allow(JIT008): reason` comment on the line before a rule
    /// suppresses a finding there.
    ///
    /// Exit status 0 when no finding reaches `--fail-level`, 1 when one
    /// does, 2 when the policies do not compile or the command is misused.
    Lint(lint::Args),
    /// Print a bundle's bytecode, schema layout and rule index.
    Disasm(disasm::Args),
    /// Format policy files in the one canonical layout.
    ///
    /// Each PATH is a `.jitp` file or a directory searched recursively for
    /// `.jitp` files; `-` reads standard input and writes the formatted text
    /// to standard output. Files are rewritten in place unless `--check` or
    /// `--diff` is given. Every comment and doc comment is kept where it
    /// was written; see docs/fmt.md for the layout rules.
    ///
    /// Before a file is written, the formatted text is parsed again and
    /// must give the same syntax tree and the same comments; if it does
    /// not, the file is left untouched and an internal error names it. A
    /// file with syntax errors is not formatted: its diagnostics are shown.
    ///
    /// Exit status 0 when all went well, 1 when a file has syntax errors
    /// or (with `--check`) would change, 2 on usage, I/O or internal
    /// errors.
    Fmt(fmt::Args),
    /// Serve decisions over HTTP: an AuthZEN 1.0 decision point.
    ///
    /// Loads a bundle (`--bundle`) or compiles policies (`--policy`),
    /// listens on loopback (`127.0.0.1:8180` unless `--listen`), prints
    /// `listening on http://ADDR` once bound, and serves
    /// `/access/v1/evaluation(s)`, `/v1/decide`, `/v1/bundle`, `/healthz`,
    /// `/readyz` and `/metrics` until SIGTERM or SIGINT, which drain the
    /// requests in flight. SIGHUP or a change to the files reloads them;
    /// a bundle that fails to load is refused and the old one keeps
    /// serving. The server's clock decides: a request's `now` is refused
    /// unless `--replay`. See docs/server.md.
    ///
    /// Exit status 0 after a clean shutdown, 2 when the server cannot
    /// start (bad settings, a bundle that does not load, a port in use).
    Serve(Box<serve::Args>),
    /// Create an Ed25519 key pair for signing bundles and decision logs.
    ///
    /// Writes `NAME.key` (the secret key, mode 0600) and `NAME.pub` (the
    /// public key) and prints the key id (the first 16 hex digits of the
    /// SHA-256 of the public key). Existing files are never replaced.
    ///
    /// Exit status 0 when both files were written, 2 otherwise.
    Keygen(keys::KeygenArgs),
    /// Check a signed bundle against trusted public keys.
    ///
    /// Exit status 0 when the bundle is signed by one of the keys and its
    /// signature covers it unchanged, 1 when it is unsigned, signed by
    /// another key, changed after signing or otherwise invalid, 2 when a
    /// file or key cannot be read.
    Verify(keys::VerifyArgs),
    /// Work with the decision log `jitp serve --log` writes.
    Log(log::Args),
    /// Request, approve, end, show and list the tasks a server holds.
    ///
    /// Talks to a running `jitp serve --tasks ...` (`--server URL`,
    /// default `http://127.0.0.1:8180`) with the bearer token from
    /// `--token-file` or `JITP_TOKEN`; the token's identity in the
    /// server's tokens file is who approves or ends. Prints the task as
    /// JSON (`list`: a table, or JSON with `--json`). See docs/tasks.md.
    ///
    /// Exit status 0 when the server did it, 1 when it refused (its
    /// message is printed), 2 on usage errors or when the server cannot be
    /// reached.
    Task(task::Args),
}

/// Parses the command line and runs the subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    match cli.command {
        Command::Check(args) => check::run(args, color),
        Command::Build(args) => build::run(args, color),
        Command::Eval(args) => eval::run(args, color),
        Command::Test(args) => test::run(args, color),
        Command::Lint(args) => lint::run(args, color),
        Command::Disasm(args) => disasm::run(args),
        Command::Fmt(args) => fmt::run(args, color),
        Command::Serve(args) => serve::run(*args),
        Command::Keygen(args) => keys::keygen(args),
        Command::Verify(args) => keys::verify(args),
        Command::Log(args) => log::run(args),
        Command::Task(args) => task::run(args),
    }
}

/// Prints an input or usage error and returns exit code 2.
fn input_error(e: &dyn std::fmt::Display) -> ExitCode {
    errln!("error: {e}");
    ExitCode::from(2)
}

/// Writes `text` to standard output and flushes it; on failure, reports
/// it and gives exit status 2.
fn write_stdout(text: &str) -> Result<(), ExitCode> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| {
            input_error(&format!(
                "cannot write to standard output: {}",
                jitp::driver::io_message(&e)
            ))
        })
}

/// `s` for counts other than one.
fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
