//! `jitp log verify`: checks a decision log's chain and signatures.

use super::input_error;
use std::path::PathBuf;
use std::process::ExitCode;

/// The arguments of `jitp log`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: LogCommand,
}

#[derive(clap::Subcommand, Debug)]
enum LogCommand {
    /// Check a decision log: every record's hash and signature, and the
    /// chain across rotated files.
    ///
    /// Each PATH is a log file or a directory of `decisions-NNNNNN.jsonl`
    /// files (taken in order). With `--head` (a saved `GET /v1/log/head`),
    /// a log whose last records were cut off is detected too.
    ///
    /// A capture of `--log -` over several server starts holds one chain
    /// per start, each beginning with a `start` record; every chain is
    /// checked and listed.
    ///
    /// Exit status 0 when the log verifies, 1 when a record is wrong (the
    /// first bad one is named: file, line, sequence number, what is
    /// wrong), 2 when a file or key cannot be read.
    Verify(VerifyArgs),
}

#[derive(clap::Args, Debug)]
struct VerifyArgs {
    /// Log files or directories, oldest first.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// The server's public log key (`NAME.pub`); repeat after a rotation.
    #[arg(long = "key", value_name = "PUB", required = true)]
    keys: Vec<PathBuf>,
    /// A head saved from `GET /v1/log/head`: the log must reach it.
    #[arg(long, value_name = "HEAD.json")]
    head: Option<PathBuf>,
    /// Accept a log that starts after record 1 (older files removed by
    /// retention); the chain from its first record on is checked.
    #[arg(long)]
    partial: bool,
}

/// Runs `jitp log`.
pub fn run(args: Args) -> ExitCode {
    let LogCommand::Verify(args) = args.command;
    let keys = match super::keys::read_keys(&args.keys) {
        Ok(k) => k,
        Err(e) => return input_error(&e),
    };
    let mut files = Vec::new();
    for p in &args.paths {
        if p.is_dir() {
            match jitp_server::log::segments(p) {
                Ok(s) => files.extend(s),
                Err(e) => return input_error(&e),
            }
        } else if p.exists() {
            files.push(p.clone());
        } else {
            return input_error(&format!("`{}` does not exist", p.display()));
        }
    }
    match jitp_server::log::verify(&files, &keys, args.head.as_deref(), args.partial) {
        Ok(sum) => {
            let chains = sum.chains.len();
            let range = match (sum.first, sum.last) {
                (Some(a), Some(b)) if chains < 2 => format!(" (records {a}..{b})"),
                _ => String::new(),
            };
            outln!(
                "ok: {} record{}{range} in {} file{}{}{}",
                sum.records,
                super::plural(sum.records as usize),
                files.len(),
                super::plural(files.len()),
                if chains > 1 {
                    format!(", {chains} chains")
                } else {
                    String::new()
                },
                if sum.head_checked {
                    ", up to the head"
                } else {
                    ""
                }
            );
            if chains > 1 {
                for (i, c) in sum.chains.iter().enumerate() {
                    outln!(
                        "chain {} starts at {}:{}{}: records {}..{}",
                        i + 1,
                        c.file.display(),
                        c.line,
                        if i > 0 { " (server restart)" } else { "" },
                        c.first,
                        c.last
                    );
                }
                errln!("note: each restart begins a new chain that does not name the one before: records cut from the end of a chain before a restart cannot be detected (a head covers its own chain only)");
            }
            if sum.first.is_some_and(|f| f > 1) {
                errln!("note: the log starts at record {}; earlier files were not given (or were removed by retention)", sum.first.unwrap_or_default());
            }
            if sum.lost > 0 {
                errln!(
                    "warning: the server could not log {} decision{} (see its `lost` records)",
                    sum.lost,
                    super::plural(sum.lost as usize)
                );
            }
            if !sum.head_checked {
                errln!("note: without `--head`, a log whose last records were cut off cannot be told apart from a complete one");
            }
            ExitCode::SUCCESS
        }
        Err(p) if p.line.is_none() && p.message.starts_with("cannot read") => input_error(&p),
        Err(p) => {
            errln!("error: {p}");
            ExitCode::from(1)
        }
    }
}
