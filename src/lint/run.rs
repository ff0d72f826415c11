//! Paths to findings: reads the policies, finds `jitp.toml`, checks each
//! policy set, lints it, and with a baseline keeps only new findings.

use super::{config, lint, Config, Finding};
use crate::diagnostic::{Diagnostic, Severity};
use crate::driver;
use crate::span::{FileId, SourceMap};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// What a lint run needs besides the paths.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// An explicit configuration file; by default `jitp.toml` beside the
    /// first path that has one.
    pub config: Option<PathBuf>,
    /// Older policies (files, directories or `.jitb` bundles, which carry
    /// their sources): only findings they do not have are reported.
    pub baseline: Option<Vec<PathBuf>>,
}

/// The result of a lint run.
pub struct Report {
    /// The sources findings point into.
    pub sources: SourceMap,
    /// Findings, sorted by file and position.
    pub findings: Vec<Finding>,
    /// Policy sets linted.
    pub sets: usize,
    /// Policy files linted.
    pub files: usize,
    /// Findings left out because the baseline has them too.
    pub in_baseline: usize,
    /// The configuration file used, if any.
    pub config_file: Option<PathBuf>,
}

/// Why a lint run could not produce findings.
pub enum RunError {
    /// Missing or unreadable paths, or a misuse.
    Input(String),
    /// The configuration or the policies (current or baseline) have errors.
    Diagnostics {
        /// Sources of the diagnostics.
        sources: SourceMap,
        /// The errors.
        diagnostics: Vec<Diagnostic>,
        /// What failed, for the summary line.
        what: String,
    },
}

/// The configuration file for `paths`: `jitp.toml` in the first directory
/// given, or beside the first file given, that has one.
pub fn find_config(paths: &[PathBuf]) -> Option<PathBuf> {
    paths.iter().find_map(|p| {
        let dir = if p.is_dir() {
            p.clone()
        } else {
            p.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        // Anything by that name counts (a directory, a dangling link): it
        // is an error to report, never a configuration silently ignored.
        let candidate = dir.join(config::FILE_NAME);
        std::fs::symlink_metadata(&candidate)
            .is_ok()
            .then_some(candidate)
    })
}

/// Loads the configuration (`Config::default()` without a file).
fn load_config(path: Option<&Path>) -> Result<Config, RunError> {
    let Some(path) = path else {
        return Ok(Config::default());
    };
    let bytes = driver::read_capped(path, driver::MAX_FILE_BYTES)
        .map_err(|e| RunError::Input(format!("cannot read the configuration {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        RunError::Input(format!(
            "cannot read the configuration `{}`: it is not valid UTF-8 (at byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })?;
    let mut sources = SourceMap::new();
    let file = sources.add(path.display().to_string(), text.clone());
    Config::parse(file, &text).map_err(|diagnostics| RunError::Diagnostics {
        sources,
        diagnostics,
        what: format!("`{}` is invalid", path.display()),
    })
}

/// Checks and lints every policy set under `paths`.
fn lint_paths(paths: &[PathBuf], config: &Config, what: &str) -> Result<Report, RunError> {
    let driver::Loaded { mut sources, sets } =
        driver::load(paths).map_err(|e| RunError::Input(e.to_string()))?;
    let mut errors = Vec::new();
    let mut findings = Vec::new();
    for set in &sets {
        let (program, diags) = driver::check_set(&mut sources, set);
        let failed: Vec<Diagnostic> = diags
            .into_iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
        match program {
            Some(p) if failed.is_empty() => findings.extend(lint(&p, &sources, &set.files, config)),
            _ => errors.extend(failed),
        }
    }
    if !errors.is_empty() {
        return Err(RunError::Diagnostics {
            sources,
            diagnostics: errors,
            what: format!("the {what}have errors; fix them before linting"),
        });
    }
    Ok(Report {
        sources,
        findings,
        sets: sets.len(),
        files: sets.iter().map(|s| s.files.len()).sum(),
        in_baseline: 0,
        config_file: None,
    })
}

/// Lints the policy set a bundle was compiled from, using the sources
/// it carries.
fn lint_bundle(path: &Path, config: &Config) -> Result<Vec<Finding>, RunError> {
    let bundle = jitp_runtime::Bundle::from_file(path)
        .map_err(|e| RunError::Input(format!("baseline `{}`: {}", path.display(), e.message())))?;
    let mut sources = crate::span::SourceMap::of_bundle(&bundle);
    // The bundle's own policy set: its package's files, without the
    // standard library modules it pulled in.
    let files: Vec<FileId> = sources
        .iter()
        .filter(|(_, f)| !f.name.starts_with(crate::stdlib::FILE_PREFIX))
        .filter(|(_, f)| driver::package_of(&f.text).unwrap_or_default() == bundle.name())
        .map(|(id, _)| id)
        .collect();
    let set = driver::PolicySet {
        package: (!bundle.name().is_empty()).then(|| bundle.name().to_string()),
        files,
    };
    let (program, diags) = driver::check_set(&mut sources, &set);
    match program {
        Some(p) => Ok(lint(&p, &sources, &set.files, config)),
        None => Err(RunError::Diagnostics {
            sources,
            diagnostics: diags
                .into_iter()
                .filter(|d| d.severity == Severity::Error)
                .collect(),
            what: format!(
                "the policies in baseline bundle `{}` do not check with this jitp",
                path.display()
            ),
        }),
    }
}

/// Lints the policies under `paths`.
pub fn run(paths: &[PathBuf], options: &Options) -> Result<Report, RunError> {
    let config_file = options.config.clone().or_else(|| find_config(paths));
    let config = load_config(config_file.as_deref())?;
    let mut report = lint_paths(paths, &config, "policies ")?;
    report.config_file = config_file;
    if let Some(old) = &options.baseline {
        let (bundles, dirs): (Vec<PathBuf>, Vec<PathBuf>) = old
            .iter()
            .cloned()
            .partition(|p| p.extension().is_some_and(|e| e == "jitb"));
        let mut known: HashSet<String> = HashSet::new();
        if !dirs.is_empty() {
            let before = lint_paths(&dirs, &config, "baseline policies ")?;
            known.extend(before.findings.into_iter().map(|f| f.fingerprint));
        }
        for b in &bundles {
            known.extend(lint_bundle(b, &config)?.into_iter().map(|f| f.fingerprint));
        }
        let total = report.findings.len();
        report.findings.retain(|f| !known.contains(&f.fingerprint));
        report.in_baseline = total - report.findings.len();
    }
    Ok(report)
}
