//! Finding suites beside policies: a policy's suites are the
//! `*.test.json` files in the `tests/` directory beside it, and a suite
//! file given directly tests the `.jitp` files above its `tests/`.

use super::{RunError, SUITE_DIR, SUITE_SUFFIX};
use crate::driver::{self, InputError};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A suite file and the directory whose policies it tests.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct SuiteFile {
    pub(super) path: PathBuf,
    pub(super) policy_dir: PathBuf,
}

/// The policy files to compile and the suites to run for `paths`, as
/// [`run`](super::run) describes; an error when the paths hold no suite.
pub(super) fn discover(paths: &[PathBuf]) -> Result<(Vec<PathBuf>, BTreeSet<SuiteFile>), RunError> {
    let mut policy_paths = Vec::new();
    let mut suites: BTreeSet<SuiteFile> = BTreeSet::new();
    let mut extra_files = Vec::new();
    for p in paths {
        if p.is_file() && is_suite(p) {
            let policy_dir = policy_dir_of(p);
            let found = list_dir(&policy_dir, |f| f.extension().is_some_and(|e| e == "jitp"));
            if found.is_empty() {
                return Err(RunError::Input(InputError {
                    path: p.clone(),
                    message: format!(
                        "no `.jitp` files beside the suite (looked in `{}`)",
                        policy_dir.display()
                    ),
                }));
            }
            extra_files.extend(found);
            suites.insert(SuiteFile {
                path: p.clone(),
                policy_dir,
            });
        } else {
            policy_paths.push(p.clone());
        }
    }
    let mut files = driver::collect_files(&policy_paths).map_err(RunError::Input)?;
    for f in &files {
        let dir = dir_of(f);
        for s in list_dir(&dir.join(SUITE_DIR), is_suite) {
            suites.insert(SuiteFile {
                path: s,
                policy_dir: dir.clone(),
            });
        }
    }
    files.extend(extra_files);
    files.sort();
    files.dedup();
    if suites.is_empty() {
        return Err(RunError::NoSuites(
            "no test suites found: a policy's suites are `*.test.json` files in a `tests/` directory beside it".into(),
        ));
    }
    Ok((files, suites))
}

fn is_suite(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(SUITE_SUFFIX))
}

fn policy_dir_of(suite: &Path) -> PathBuf {
    let dir = dir_of(suite);
    if dir.file_name().is_some_and(|n| n == SUITE_DIR) {
        dir_of(&dir)
    } else {
        dir
    }
}

pub(super) fn dir_of(file: &Path) -> PathBuf {
    file.parent().unwrap_or(Path::new("")).to_path_buf()
}

fn list_dir(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(or_cwd(dir))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && keep(p))
                .map(|p| match p.file_name() {
                    Some(n) => dir.join(n),
                    None => p,
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// `dir` as written in messages: `.` for the current directory.
pub(super) fn display_dir(dir: &Path) -> String {
    or_cwd(dir).display().to_string()
}

/// `dir`, or `.` when it is empty (a relative file's parent).
fn or_cwd(dir: &Path) -> &Path {
    if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }
}
