//! The pipeline every command shares: [`load`] → [`check_set`] →
//! [`build`] ([`check_and_build`] runs the last two).
//!
//! Files given together are grouped by their `package` line: each package
//! is one policy set, checked on its own. Files without a `package` line
//! form one unnamed policy set.

use crate::check::{self, hir::Program};
use crate::diagnostic::Diagnostic;
use crate::span::{FileId, SourceMap};
use crate::stdlib::Stdlib;
use crate::syntax::lexer::{lex, Tok};
use jitp_runtime::Bundle;
use std::fmt;
use std::path::{Path, PathBuf};

/// A failure to read the input (as opposed to problems in the policies).
#[derive(Debug)]
pub struct InputError {
    /// The path concerned.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for InputError {}

/// Largest policy file accepted, in bytes.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Expands files and directories (recursively, `.jitp` files only) into a
/// sorted, de-duplicated list of files.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, InputError> {
    let mut out = Vec::new();
    let mut visited = std::collections::HashSet::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| InputError {
            path: p.clone(),
            message: io_message(&e),
        })?;
        if meta.is_dir() {
            let before = out.len();
            walk(p, &mut visited, &mut out)?;
            if out.len() == before {
                return Err(InputError {
                    path: p.clone(),
                    message: "the directory contains no `.jitp` files".into(),
                });
            }
        } else {
            out.push(p.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Adds the `.jitp` files below `dir`. A directory reached twice (a
/// symbolic link back up the tree, or to a directory already walked) is
/// walked once.
fn walk(
    dir: &Path,
    visited: &mut std::collections::HashSet<PathBuf>,
    out: &mut Vec<PathBuf>,
) -> Result<(), InputError> {
    let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    if !visited.insert(real) {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| InputError {
        path: dir.to_path_buf(),
        message: io_message(&e),
    })?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            walk(&p, visited, out)?;
        } else if p.extension().is_some_and(|e| e == "jitp") {
            out.push(p);
        }
    }
    Ok(())
}

/// An I/O error as jitp words it: lowercase, without the OS error number
/// for the common cases.
pub fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::StorageFull => "no space left on device".into(),
        std::io::ErrorKind::BrokenPipe => "the reading end of the pipe was closed".into(),
        _ => e.to_string().to_lowercase(),
    }
}

/// Reads an input file of at most `limit` bytes. Only regular files are
/// read: a FIFO, a device (`/dev/zero`) or a directory is refused before
/// anything is read, and the read itself stops after `limit` bytes
/// whatever size the file claims, so no input can block the command or
/// exhaust its memory.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    use std::io::Read as _;
    let err = |message: String| InputError {
        path: path.to_path_buf(),
        message,
    };
    let regular = |meta: &std::fs::Metadata| {
        if meta.is_file() {
            Ok(())
        } else if meta.is_dir() {
            Err(err("is a directory, not a file".into()))
        } else {
            Err(err(
                "is not a regular file (a pipe, socket or device)".into()
            ))
        }
    };
    // Checked before opening: opening a FIFO blocks until a writer comes.
    regular(&std::fs::metadata(path).map_err(|e| err(io_message(&e)))?)?;
    let file = std::fs::File::open(path).map_err(|e| err(io_message(&e)))?;
    regular(&file.metadata().map_err(|e| err(io_message(&e)))?)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| err(io_message(&e)))?;
    if bytes.len() as u64 > limit {
        return Err(err(format!("the file is larger than {}", size_text(limit))));
    }
    Ok(bytes)
}

/// `16 MiB`, `1 MiB`, `512 bytes`.
fn size_text(bytes: u64) -> String {
    if bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0 {
        format!("{} MiB", bytes / 1024 / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// Reads `files` into `sources`.
pub fn read_files(sources: &mut SourceMap, files: &[PathBuf]) -> Result<Vec<FileId>, InputError> {
    let mut ids = Vec::new();
    for path in files {
        let bytes = read_capped(path, MAX_FILE_BYTES)?;
        let text = String::from_utf8(bytes).map_err(|e| InputError {
            path: path.clone(),
            message: format!(
                "the file is not valid UTF-8 (at byte {})",
                e.utf8_error().valid_up_to()
            ),
        })?;
        ids.push(sources.add(path.display().to_string(), text));
    }
    Ok(ids)
}

/// A group of files that form one policy set.
#[derive(Debug, Clone)]
pub struct PolicySet {
    /// The package name, if the files declare one.
    pub package: Option<String>,
    /// The files.
    pub files: Vec<FileId>,
}

/// The package a file declares on its first line, if any.
pub fn package_of(text: &str) -> Option<String> {
    let lexed = lex(FileId(0), text);
    let mut toks = lexed.tokens.iter();
    if !matches!(toks.next(), Some((_, Tok::Package, _))) {
        return None;
    }
    let mut name = String::new();
    let mut want_word = true;
    for (l, t, r) in toks {
        // After `package` and after each dot any word counts, keywords included.
        let word = text
            .get(*l..*r)
            .filter(|w| w.chars().all(|c| c.is_alphanumeric() || c == '_'));
        match (t, want_word, word) {
            (_, true, Some(w)) if !w.is_empty() => name.push_str(w),
            (Tok::Dot, false, _) => name.push('.'),
            _ => break,
        }
        want_word = !want_word;
    }
    (!name.is_empty() && !name.ends_with('.')).then_some(name)
}

/// Groups files by package, in order of first appearance.
pub fn group(sources: &SourceMap, files: &[FileId]) -> Vec<PolicySet> {
    let mut sets: Vec<PolicySet> = Vec::new();
    for &f in files {
        let package = sources.get(f).and_then(|s| package_of(&s.text));
        match sets.iter_mut().find(|s| s.package == package) {
            Some(s) => s.files.push(f),
            None => sets.push(PolicySet {
                package,
                files: vec![f],
            }),
        }
    }
    sets
}

/// Policies read from disk: every file, grouped into policy sets.
#[derive(Debug)]
pub struct Loaded {
    /// Every file read.
    pub sources: SourceMap,
    /// The policy sets, in order of first appearance.
    pub sets: Vec<PolicySet>,
}

/// The first step of the pipeline: expands `paths` (files and
/// directories), reads every `.jitp` file and groups them by package.
pub fn load(paths: &[PathBuf]) -> Result<Loaded, InputError> {
    let files = collect_files(paths)?;
    let mut sources = SourceMap::new();
    let ids = read_files(&mut sources, &files)?;
    let sets = group(&sources, &ids);
    Ok(Loaded { sources, sets })
}

impl Loaded {
    /// The one policy set named `package`, or the only one there is.
    pub fn select(&self, package: Option<&str>) -> Result<&PolicySet, String> {
        let chosen: Vec<&PolicySet> = self
            .sets
            .iter()
            .filter(|s| package.is_none_or(|p| s.package.as_deref() == Some(p)))
            .collect();
        let names = |sets: &[&PolicySet]| {
            sets.iter()
                .map(|s| format!("`{}`", s.package.as_deref().unwrap_or("(no package)")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match chosen.as_slice() {
            [one] => Ok(one),
            [] => Err(format!(
                "no policy set named `{}`; the paths hold {}",
                package.unwrap_or(""),
                names(&self.sets.iter().collect::<Vec<_>>())
            )),
            many => Err(format!(
                "the paths hold {} policy sets ({}); choose one with `--package`",
                many.len(),
                names(many)
            )),
        }
    }
}

/// The second step: checks one policy set with the embedded standard
/// library. The standard library modules it uses are added to `sources`.
pub fn check_set(sources: &mut SourceMap, set: &PolicySet) -> (Option<Program>, Vec<Diagnostic>) {
    check::check(sources, &set.files, &Stdlib)
}

/// The third step: compiles a checked program into a verified bundle that
/// embeds exactly the program's files.
pub fn build(sources: &SourceMap, program: &Program) -> Result<Bundle, Vec<Diagnostic>> {
    crate::lower::compile(program, sources)
}

/// A policy set taken through the whole pipeline.
#[derive(Debug)]
pub struct Built {
    /// The bundle, when the set has no errors.
    pub bundle: Option<Bundle>,
    /// Every problem found (warnings too), in report order.
    pub diagnostics: Vec<Diagnostic>,
}

/// Checks and builds one policy set: [`check_set`] then [`build`], with
/// every diagnostic of both collected.
pub fn check_and_build(sources: &mut SourceMap, set: &PolicySet) -> Built {
    let (program, mut diagnostics) = check_set(sources, set);
    let bundle = program.and_then(|p| match build(sources, &p) {
        Ok(bundle) => Some(bundle),
        Err(more) => {
            diagnostics.extend(more);
            None
        }
    });
    let bundle = bundle.filter(|_| !diagnostics.iter().any(Diagnostic::is_error));
    Built {
        bundle,
        diagnostics,
    }
}

/// Checks a single policy text (named `name`): convenient for embedders and tests.
pub fn check_text(name: &str, text: &str) -> (SourceMap, Option<Program>, Vec<Diagnostic>) {
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    let (program, diags) = check::check(&mut sources, &[id], &Stdlib);
    (sources, program, diags)
}

/// Why [`compile_text`] produced no bundle: the diagnostics, with the
/// sources they point into, rendered for a terminal by `Display`.
#[derive(Debug)]
pub struct CompileError {
    /// The sources the diagnostics point into.
    pub sources: SourceMap,
    /// Every problem found.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::render::terminal(
            &self.sources,
            &self.diagnostics,
            false,
        ))
    }
}

impl std::error::Error for CompileError {}

/// Checks and compiles policy text (one policy set) into a bundle, for
/// tests and embedders that ship source rather than bundles.
pub fn compile_text(name: &str, text: &str) -> Result<Bundle, CompileError> {
    let mut sources = SourceMap::new();
    let set = PolicySet {
        package: package_of(text),
        files: vec![sources.add(name, text)],
    };
    let built = check_and_build(&mut sources, &set);
    match built.bundle {
        Some(bundle) => Ok(bundle),
        None => Err(CompileError {
            sources,
            diagnostics: built.diagnostics,
        }),
    }
}

/// Replaces the contents of the policy file `path`, which held `expected`
/// when it was read, with `text`, or explains why it will not:
///
/// - a symbolic link is kept and the file it points to is replaced;
/// - a file with several hard links, a read-only file and anything but a
///   regular file are refused (rewriting would split the links or
///   override the protection);
/// - a file that no longer holds `expected` (edited while the command
///   ran) is refused, so no edit is lost;
/// - the new text goes to a temporary file created exclusively beside
///   the original (never through an existing name or link), with the
///   original's permissions, synced, and renamed over it: the file is
///   never half written.
pub fn replace_file(path: &Path, expected: &str, text: &str) -> Result<(), InputError> {
    replace_file_with(path, expected, text, &temp_name)
}

/// A temporary name beside `file` for attempt `n`: unlikely to exist, and
/// created with `create_new`, so an existing file or link is never used.
fn temp_name(file: &str, n: u32) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(".{file}.jitp-{}-{nanos:08x}-{n}", std::process::id())
}

fn replace_file_with(
    path: &Path,
    expected: &str,
    text: &str,
    temp_name: &dyn Fn(&str, u32) -> String,
) -> Result<(), InputError> {
    use std::io::Write as _;
    let fail = |message: String| InputError {
        path: path.to_path_buf(),
        message,
    };
    let io = |e: std::io::Error| fail(io_message(&e));
    // The file itself, through any symbolic links.
    let target = std::fs::canonicalize(path).map_err(io)?;
    let meta = std::fs::symlink_metadata(&target).map_err(io)?;
    if !meta.is_file() {
        return Err(fail("is not a regular file; not rewritten".into()));
    }
    if meta.permissions().readonly() {
        return Err(fail("is read-only; not rewritten".into()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        if meta.nlink() > 1 {
            return Err(fail(format!(
                "has {} hard links; rewriting it would split them, so it was left unchanged",
                meta.nlink()
            )));
        }
    }
    let unchanged = || -> Result<(), InputError> {
        let now = read_capped(&target, MAX_FILE_BYTES)?;
        if now != expected.as_bytes() {
            return Err(fail(
                "changed while it was being formatted; it was left unchanged (run again)".into(),
            ));
        }
        Ok(())
    };
    unchanged()?;
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut attempt = 0;
    let (tmp, mut file) = loop {
        let tmp = dir.join(temp_name(&name, attempt));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(file) => break (tmp, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 16 => {
                attempt += 1;
            }
            Err(e) => {
                return Err(fail(format!(
                    "cannot create a temporary file: {}",
                    io_message(&e)
                )))
            }
        }
    };
    let result = file
        .write_all(text.as_bytes())
        .and_then(|()| file.set_permissions(meta.permissions()))
        .and_then(|()| file.sync_all())
        .map_err(io)
        .and_then(|()| unchanged())
        .and_then(|()| std::fs::rename(&tmp, &target).map_err(io));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("jitp-driver-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_link_at_the_temporary_name_is_never_followed() {
        let dir = scratch("tmp-link");
        let policy = dir.join("p.jitp");
        let victim = dir.join("victim");
        std::fs::write(&policy, "old").unwrap();
        std::fs::write(&victim, "keep me").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&victim, dir.join(".p.jitp.tmp-0")).unwrap();
        let name = |file: &str, n: u32| format!(".{file}.tmp-{n}");
        replace_file_with(&policy, "old", "new", &name).unwrap();
        assert_eq!(std::fs::read_to_string(&policy).unwrap(), "new");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    }

    #[test]
    fn hazards_are_refused_and_nothing_is_lost() {
        let dir = scratch("hazards");
        let policy = dir.join("p.jitp");
        std::fs::write(&policy, "edited meanwhile").unwrap();
        let e = replace_file(&policy, "as read", "formatted").unwrap_err();
        assert!(e.message.contains("changed while"), "{e}");
        assert_eq!(
            std::fs::read_to_string(&policy).unwrap(),
            "edited meanwhile"
        );

        #[cfg(unix)]
        {
            let linked = dir.join("linked.jitp");
            std::fs::write(&linked, "a").unwrap();
            std::fs::hard_link(&linked, dir.join("other.jitp")).unwrap();
            let e = replace_file(&linked, "a", "b").unwrap_err();
            assert!(e.message.contains("hard links"), "{e}");
            assert_eq!(
                std::fs::read_to_string(dir.join("other.jitp")).unwrap(),
                "a"
            );

            let target = dir.join("target.jitp");
            std::fs::write(&target, "x").unwrap();
            let link = dir.join("link.jitp");
            std::os::unix::fs::symlink(&target, &link).unwrap();
            replace_file(&link, "x", "y").unwrap();
            assert!(std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink());
            assert_eq!(std::fs::read_to_string(&target).unwrap(), "y");
        }

        let ro = dir.join("ro.jitp");
        std::fs::write(&ro, "r").unwrap();
        let mut perms = std::fs::metadata(&ro).unwrap().permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(&ro, perms).unwrap();
        let e = replace_file(&ro, "r", "s").unwrap_err();
        assert!(e.message.contains("read-only"), "{e}");
        assert_eq!(std::fs::read_to_string(&ro).unwrap(), "r");
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "no temporary file is left behind");
    }
}
