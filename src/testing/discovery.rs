//! Finding suites beside policies: a policy's suites are the
//! `*.test.json` files in the `tests/` directory beside it, and a suite
//! file given directly tests the `.jitp` files above its `tests/`.

use super::{SUITE_DIR, SUITE_SUFFIX};
use std::path::{Path, PathBuf};

/// A suite file and the directory whose policies it tests.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct SuiteFile {
    pub(super) path: PathBuf,
    pub(super) policy_dir: PathBuf,
}

pub(super) fn is_suite(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(SUITE_SUFFIX))
}

pub(super) fn policy_dir_of(suite: &Path) -> PathBuf {
    let dir = suite.parent().unwrap_or(Path::new(""));
    if dir.file_name().is_some_and(|n| n == SUITE_DIR) {
        dir.parent().unwrap_or(Path::new("")).to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

pub(super) fn dir_of(file: &Path) -> PathBuf {
    file.parent().unwrap_or(Path::new("")).to_path_buf()
}

pub(super) fn list_dir(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let lookup = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let mut out: Vec<PathBuf> = std::fs::read_dir(lookup)
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

pub(super) fn display_dir(d: &Path) -> String {
    if d.as_os_str().is_empty() {
        ".".into()
    } else {
        d.display().to_string()
    }
}
