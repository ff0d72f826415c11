//! `jitp fmt`: the one canonical layout, written only once verified.

use super::{input_error, plural};
use jitp::driver;
use jitp::fmt::{format_source, unified_diff, FmtError};
use jitp::span::SourceMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

/// The arguments of `jitp fmt`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Files or directories to format, or `-` for standard input.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Change nothing: list the files that would change (on standard
    /// output) and exit 1 if there are any.
    #[arg(long)]
    check: bool,
    /// Change nothing: print a unified diff of what would change.
    #[arg(long)]
    diff: bool,
}

/// Runs `jitp fmt`: formats files in place, or only reports with
/// `--check` and `--diff`.
pub fn run(args: Args, color: bool) -> ExitCode {
    let Args { paths, check, diff } = args;
    let stdin = paths.iter().any(|p| p.as_os_str() == "-");
    let files: Vec<PathBuf> = paths
        .iter()
        .filter(|p| p.as_os_str() != "-")
        .cloned()
        .collect();
    let mut sources = SourceMap::new();
    let mut ids = Vec::new();
    if stdin {
        let mut text = String::new();
        if let Err(e) = std::io::stdin()
            .take(driver::MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
        {
            return input_error(&format!(
                "cannot read standard input: {}",
                e.to_string().to_lowercase()
            ));
        }
        if text.len() as u64 > driver::MAX_FILE_BYTES {
            return input_error(&format!(
                "standard input is larger than {} MiB",
                driver::MAX_FILE_BYTES / 1024 / 1024
            ));
        }
        ids.push((None, sources.add("<stdin>", text)));
    }
    if !files.is_empty() {
        let found = match driver::collect_files(&files) {
            Ok(f) => f,
            Err(e) => return input_error(&e),
        };
        let read = match driver::read_files(&mut sources, &found) {
            Ok(ids) => ids,
            Err(e) => return input_error(&e),
        };
        ids.extend(found.into_iter().map(Some).zip(read));
    }
    let (mut syntax, mut failed, mut changed, mut total) = (false, false, 0usize, 0usize);
    // What goes to standard output (diffs, file names, `-`'s text), written
    // at the end so a failed write is one error, not a panic.
    let mut stdout = String::new();
    for (path, id) in ids {
        let Some(file) = sources.get(id) else {
            continue;
        };
        let (name, text) = (file.name.clone(), file.text.clone());
        total += 1;
        let formatted = match format_source(id, &text) {
            Ok(f) => f,
            Err(FmtError::Syntax(diags)) => {
                err!("{}", jitp::render::terminal(&sources, &diags, color));
                errln!("error: `{name}` has syntax errors and was not formatted");
                syntax = true;
                continue;
            }
            Err(FmtError::Internal(m)) => {
                errln!("error: internal formatter error in `{name}`, left unchanged: {m}");
                failed = true;
                continue;
            }
        };
        let differs = formatted != text;
        if diff && differs {
            stdout.push_str(&unified_diff(&name, &text, &formatted));
        }
        if check && differs {
            stdout.push_str(&name);
            stdout.push('\n');
        }
        if check || diff {
            changed += usize::from(differs);
            continue;
        }
        match path {
            None => {
                changed += usize::from(differs);
                stdout.push_str(&formatted);
            }
            Some(p) if differs => match driver::replace_file(&p, &text, &formatted) {
                Ok(()) => changed += 1,
                Err(e) => {
                    errln!("error: {e}");
                    failed = true;
                }
            },
            Some(_) => {}
        }
    }
    out!("{stdout}");
    let verb = if check || diff {
        "would be reformatted"
    } else {
        "reformatted"
    };
    // Plain `jitp fmt -` is a filter: its only output is the text.
    let filter = stdin && total == 1 && !check && !diff;
    if !filter {
        errln!("{changed} of {total} file{} {verb}", plural(total));
    }
    if failed {
        ExitCode::from(2)
    } else if syntax || (check && changed > 0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
