//! The standing-privilege analyser behind `jitp lint`.
//!
//! A checked [`Program`] goes through one traversal that calls every
//! enabled finding ([`Lint`]) on the program, each task and each rule. The
//! findings are [`Diagnostic`]s with stable `JIT` codes; suppressions
//! (`// jitp-allow(JIT008): reason`) and `jitp.toml` levels are applied
//! afterwards, and each finding gets a fingerprint that does not depend on
//! line numbers, for baselines and SARIF.
//!
//! The registry of findings is [`registry`]; each lives in its own module
//! under `rules/` with its documentation (what it catches, why it
//! matters, an example, how to fix), which `jitp lint --explain` prints.

pub mod config;
pub mod graph;
pub mod output;
pub mod rules;
pub mod run;
pub mod solver;
mod suppress;

pub use config::Config;

use crate::check::hir::{Program, Rule, RuleId, TaskDef, TaskId};
use crate::diagnostic::{Code, Diagnostic, Severity};
use crate::span::{FileId, SourceMap, Span};
use std::collections::HashSet;

/// How seriously a finding is taken: `off` drops it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Not reported.
    Off,
    /// Reported as a note.
    Note,
    /// Reported as a warning.
    Warning,
    /// Reported as an error.
    Error,
}

impl Level {
    /// Parses `off`, `note`, `warning` or `error`.
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "off" => Some(Level::Off),
            "note" => Some(Level::Note),
            "warning" => Some(Level::Warning),
            "error" => Some(Level::Error),
            _ => None,
        }
    }

    /// The name as written in `jitp.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Off => "off",
            Level::Note => "note",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }

    /// The severity a finding at this level is reported with.
    pub fn severity(self) -> Option<Severity> {
        match self {
            Level::Off => None,
            Level::Note => Some(Severity::Note),
            Level::Warning => Some(Severity::Warning),
            Level::Error => Some(Severity::Error),
        }
    }

    fn of(severity: Severity) -> Level {
        match severity {
            Severity::Note => Level::Note,
            Severity::Warning => Level::Warning,
            Severity::Error => Level::Error,
        }
    }
}

/// What the registry knows about a finding.
#[derive(Debug)]
pub struct LintInfo {
    /// Stable code, e.g. `JIT008`.
    pub code: Code,
    /// Stable kebab-case name, e.g. `wildcard-action`.
    pub name: &'static str,
    /// Default level.
    pub level: Level,
    /// One line: what it catches.
    pub summary: &'static str,
    /// The full documentation in fixed sections (Markdown).
    pub doc: &'static str,
}

/// One kind of finding. The traversal calls each hook once per program,
/// task and rule; a finding pushes [`Draft`]s.
pub trait Lint: Sync {
    /// The registry entry.
    fn info(&self) -> &'static LintInfo;
    /// Called once for the whole policy set.
    fn check_program(&self, _cx: &Context<'_>, _out: &mut Vec<Draft>) {}
    /// Called for each task and break-glass block declared by the user.
    fn check_task(&self, _cx: &Context<'_>, _task: TaskId, _def: &TaskDef, _out: &mut Vec<Draft>) {}
    /// Called for each rule.
    fn check_rule(&self, _cx: &Context<'_>, _rule: RuleId, _def: &Rule, _out: &mut Vec<Draft>) {}
}

/// A finding before levels, suppressions and fingerprints are applied.
#[derive(Clone, Debug)]
pub struct Draft {
    /// The report; its severity is the finding's own default (a finding
    /// may raise it, as JIT008 does for `*` on `*`).
    pub diagnostic: Diagnostic,
    /// The declaration the finding is about (a rule, task or declaration):
    /// a suppression on the line before it applies.
    pub subject: Span,
    /// A stable name of the subject (rule id, task or declaration name)
    /// for fingerprints.
    pub anchor: String,
}

/// A reported finding.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The report, at its configured level.
    pub diagnostic: Diagnostic,
    /// The finding's kebab-case name.
    pub name: &'static str,
    /// A stable hash of code, package, subject and message: the same
    /// finding has the same fingerprint wherever its lines move.
    pub fingerprint: String,
}

impl Finding {
    /// The finding's level.
    pub fn level(&self) -> Level {
        Level::of(self.diagnostic.severity)
    }

    /// The diagnostic as terminal reports show it: with a closing note that
    /// names the finding and where to read more.
    pub fn for_terminal(&self) -> Diagnostic {
        let code = self.diagnostic.code.as_str();
        self.diagnostic.clone().with_note(format!(
            "{code} {} · `jitp lint --explain {code}` says more",
            self.name
        ))
    }
}

/// What every finding may consult.
pub struct Context<'a> {
    /// The checked policy set.
    pub program: &'a Program,
    /// Its sources.
    pub sources: &'a SourceMap,
    /// Settings.
    pub config: &'a Config,
    /// The policy set's own files (not the standard library).
    pub files: &'a HashSet<FileId>,
    /// Each rule's applicability condition, translated once; indexed by
    /// [`RuleId`] (see [`Context::guard`]).
    pub guards: Vec<solver::Formula>,
}

impl Context<'_> {
    /// Whether `span` is in one of the user's files.
    pub fn is_user(&self, span: Span) -> bool {
        self.files.contains(&span.file)
    }

    /// Every rule with its id.
    pub fn rules(&self) -> impl Iterator<Item = (RuleId, &Rule)> + '_ {
        self.program
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| (RuleId(i as u32), r))
    }

    /// The rule `id`.
    pub fn rule(&self, id: RuleId) -> Option<&Rule> {
        self.program.rules.get(id.index())
    }

    /// The applicability condition of rule `id`.
    pub fn guard(&self, id: RuleId) -> Option<&solver::Formula> {
        self.guards.get(id.index())
    }

    /// A rule's display name for messages.
    pub fn rule_name(&self, rule: &Rule) -> String {
        let kind = match rule.effect {
            crate::syntax::ast::Effect::Permit => "permit",
            crate::syntax::ast::Effect::Forbid => "forbid",
        };
        format!("{kind} `{}`", rule.id)
    }
}

/// Every finding, in code order.
pub fn registry() -> &'static [&'static dyn Lint] {
    rules::ALL
}

/// The registry entry for a code or kebab-case name.
pub fn lookup(code_or_name: &str) -> Option<&'static LintInfo> {
    registry()
        .iter()
        .map(|l| l.info())
        .find(|i| i.code.as_str().eq_ignore_ascii_case(code_or_name) || i.name == code_or_name)
}

/// Lints one checked policy set. `files` are the set's own files (findings
/// and suppressions are only looked for there). Findings come sorted by
/// file and position.
pub fn lint(
    program: &Program,
    sources: &SourceMap,
    files: &[FileId],
    config: &Config,
) -> Vec<Finding> {
    // The analyses recurse over expressions, which the parser lets nest
    // 1,024 deep.
    crate::span::with_big_stack(|| lint_inner(program, sources, files, config))
}

fn lint_inner(
    program: &Program,
    sources: &SourceMap,
    files: &[FileId],
    config: &Config,
) -> Vec<Finding> {
    let files: HashSet<FileId> = files.iter().copied().collect();
    let guards = program
        .rules
        .iter()
        .map(|r| solver::Formula::guard(program, r))
        .collect();
    let cx = Context {
        program,
        sources,
        config,
        files: &files,
        guards,
    };
    let enabled: Vec<&dyn Lint> = registry()
        .iter()
        .copied()
        .filter(|l| config.level(l.info().code) != Level::Off)
        .collect();
    let mut drafts = Vec::new();
    // The one traversal: program, then each user task, then each rule.
    for l in &enabled {
        l.check_program(&cx, &mut drafts);
    }
    for (i, t) in program.tasks.iter().enumerate() {
        let i = TaskId(i as u32);
        if cx.is_user(t.span) {
            for l in &enabled {
                l.check_task(&cx, i, t, &mut drafts);
            }
        }
    }
    for (i, r) in cx.rules() {
        if cx.is_user(r.span) {
            for l in &enabled {
                l.check_rule(&cx, i, r, &mut drafts);
            }
        }
    }
    let drafts = suppress::apply(&cx, drafts);
    let package = program.package.clone().unwrap_or_default();
    let mut out: Vec<Finding> = drafts
        .into_iter()
        .filter_map(|d| {
            let info = lookup(d.diagnostic.code.as_str())?;
            let mut diagnostic = d.diagnostic;
            // A configured level replaces the default; without one, the
            // finding's own severity stands (JIT008 raises `*` on `*`).
            diagnostic.severity = match config.levels.get(&info.code) {
                Some(l) => l.severity()?,
                None => diagnostic.severity,
            };
            let fingerprint =
                fingerprint(&[info.code.as_str(), &package, &d.anchor, &diagnostic.message]);
            Some(Finding {
                diagnostic,
                name: info.name,
                fingerprint,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        let (x, y) = (&a.diagnostic, &b.diagnostic);
        (x.primary.span.file, x.primary.span.start, x.code).cmp(&(
            y.primary.span.file,
            y.primary.span.start,
            y.code,
        ))
    });
    out.dedup_by(|a, b| a.fingerprint == b.fingerprint && a.diagnostic == b.diagnostic);
    out
}

/// A stable 64-bit FNV-1a hash of `parts`, in hex.
fn fingerprint(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// A finding of `info` at its default level.
pub fn draft(
    info: &LintInfo,
    span: Span,
    message: impl Into<String>,
    label: impl Into<String>,
) -> Diagnostic {
    let mut d = Diagnostic::error(info.code, span, message, label);
    d.severity = info.level.severity().unwrap_or(Severity::Warning);
    d
}
