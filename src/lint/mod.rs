//! The standing-privilege analyser behind `jitp lint`.
//!
//! A checked [`Program`] goes through one traversal that calls every
//! enabled finding ([`Lint`]) on the program, each task and each rule. The
//! findings are [`Diagnostic`]s with stable `JIT` codes; suppressions
//! (`// jitp-allow(JIT008): reason`) and `jitp.toml` levels are applied
//! afterwards, and each finding gets a fingerprint, for baselines and
//! SARIF, computed from what the finding is about (its [`Key`]), never from
//! its message or its position.
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
///
/// Each draft carries a [`Key`]: the stable subject of the finding, from
/// which (with the code and the package) its fingerprint is computed. A
/// baseline matches findings by fingerprint, so the key must name what the
/// finding is about (a rule id, a task name, a declaration's kind and name,
/// the two rules of a shadowing or overriding, the ends of an escalation
/// chain) and nothing that changes when the finding's wording does: never
/// the message, a label, a count, a line or a column. Two findings of one
/// code in one package have different keys unless they are the same
/// finding.
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
    /// What the finding is about, for its fingerprint.
    pub key: Key,
}

/// The stable subject of a finding: the finding's fingerprint is a hash of
/// its code, its package and this key, so a finding keeps its fingerprint
/// when its rule moves, when its message is reworded or when a count in
/// the message changes. Built from names the policy author chose, never
/// from message text or positions.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key(Vec<String>);

impl Key {
    /// A rule, by its id.
    pub fn rule(id: &str) -> Key {
        Key(vec!["rule".into(), id.into()])
    }

    /// A task or break-glass block, by its name.
    pub fn task(name: &str) -> Key {
        Key(vec!["task".into(), name.into()])
    }

    /// A declaration, by its kind (`entity`, `action`, ...) and name.
    pub fn declaration(kind: &str, name: &str) -> Key {
        Key(vec![kind.into(), name.into()])
    }

    /// A rule made ineffective by another (a shadowing or overriding one):
    /// both ids, the affected rule first.
    pub fn rule_pair(affected: &str, by: &str) -> Key {
        Key(vec!["rules".into(), affected.into(), by.into()])
    }

    /// A chain of grants, by its ends: the permit it starts from, the
    /// principal type that holds it and the task it leads to. The hops in
    /// between are left out: which of several chains is reported may
    /// change when unrelated grants are added.
    pub fn chain(permit: &str, holder: &str, task: &str) -> Key {
        Key(vec![
            "chain".into(),
            permit.into(),
            holder.into(),
            task.into(),
        ])
    }

    /// A `jitp-allow` comment, by its text.
    pub fn suppression(text: &str) -> Key {
        Key(vec!["suppression".into(), text.into()])
    }

    /// The policy set as a whole, for a finding made at most once per set.
    pub fn policy_set() -> Key {
        Key(vec!["policy-set".into()])
    }

    /// This key narrowed to one part of its subject, e.g. a rule's `when`
    /// (`.part("when")`) or one of its `require` clauses by label
    /// (`.part("require").part(label)`).
    pub fn part(mut self, part: &str) -> Key {
        self.0.push(part.into());
        self
    }

    /// The key's parts, in order.
    pub fn parts(&self) -> &[String] {
        &self.0
    }
}

/// A reported finding.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The report, at its configured level.
    pub diagnostic: Diagnostic,
    /// The finding's kebab-case name.
    pub name: &'static str,
    /// A stable hash of code, package and [`Key`]: the same finding has
    /// the same fingerprint wherever its lines move and however its
    /// message is worded.
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
    /// Each guard's classification, computed on first use (see
    /// [`Context::guard_verdict`]).
    pub verdicts: Vec<std::cell::OnceCell<solver::Verdict>>,
    /// A few requests each guard applies to, computed on first use (see
    /// [`Context::guard_models`]).
    pub samples: Vec<std::cell::OnceCell<Vec<solver::Model>>>,
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

    /// What the solver says about rule `id`'s applicability condition,
    /// computed once.
    pub fn guard_verdict(&self, id: RuleId) -> solver::Verdict {
        match (self.verdicts.get(id.index()), self.guard(id)) {
            (Some(cell), Some(g)) => cell.get_or_init(|| solver::classify(g)).clone(),
            _ => solver::Verdict::Unknown,
        }
    }

    /// Up to four requests rule `id` applies to, as the solver finds them
    /// ([`solver::models`]), computed once.
    pub fn guard_models(&self, id: RuleId) -> &[solver::Model] {
        match (self.samples.get(id.index()), self.guard(id)) {
            (Some(cell), Some(g)) => cell.get_or_init(|| solver::models(g, 4)),
            _ => &[],
        }
    }

    /// When permit `rule` (with id `id`) allows: its guard, translated
    /// once, and each of its `require`s (the guard itself, borrowed, when
    /// it has none).
    pub fn allow(&self, id: RuleId, rule: &Rule) -> std::borrow::Cow<'_, solver::Formula> {
        let Some(g) = self.guard(id) else {
            return std::borrow::Cow::Owned(solver::Formula::allow(self.program, rule));
        };
        let mut f = std::borrow::Cow::Borrowed(g);
        for q in &rule.requires {
            let c = solver::Formula::condition(self.program, rule, &q.cond);
            f = std::borrow::Cow::Owned(f.and(&c));
        }
        f
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
    let verdicts = program
        .rules
        .iter()
        .map(|_| std::cell::OnceCell::new())
        .collect();
    let cx = Context {
        program,
        sources,
        config,
        files: &files,
        guards,
        verdicts,
        samples: program
            .rules
            .iter()
            .map(|_| std::cell::OnceCell::new())
            .collect(),
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
            let fingerprint = fingerprint(info.code, &package, &d.key);
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

/// The fingerprint of a finding of `code` in `package` about `key`: a
/// stable 64-bit FNV-1a hash, in hex, of the three.
fn fingerprint(code: Code, package: &str, key: &Key) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let parts = [code.as_str(), package]
        .into_iter()
        .chain(key.parts().iter().map(String::as_str));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A task without a ttl: JIT001 says how many permits never lapse.
    fn policy(permits: usize) -> String {
        let mut text = String::from(
            "package fp\nentity S { team: String }\nentity R { env: String }\n\
             context { risk: Int }\naction r.read on R sensitivity low\n\
             forbid * when context.risk >= 80\ntask open {\n",
        );
        for i in 0..permits {
            text.push_str(&format!(
                "  @id(\"p{i}\")\n  permit * to r.read on R when context.risk == {i}\n"
            ));
        }
        text.push_str("}\n");
        text
    }

    fn findings(text: &str) -> Vec<Finding> {
        let (sources, program, diags) = crate::driver::check_text("p.jitp", text);
        let program = program.unwrap_or_else(|| panic!("{diags:?}"));
        let files: Vec<FileId> = sources
            .iter()
            .filter(|(_, f)| f.name == "p.jitp")
            .map(|(id, _)| id)
            .collect();
        lint(&program, &sources, &files, &Config::default())
    }

    fn task_finding(found: &[Finding]) -> &Finding {
        found
            .iter()
            .find(|f| f.diagnostic.code == Code::JIT001 && f.diagnostic.message.contains("task"))
            .unwrap_or_else(|| panic!("no JIT001 on the task: {found:?}"))
    }

    #[test]
    fn a_reworded_finding_keeps_its_fingerprint() {
        let one = findings(&policy(1));
        let two = findings(&policy(2));
        let (a, b) = (task_finding(&one), task_finding(&two));
        // The count in the message changed; the finding did not.
        assert_ne!(a.diagnostic.message, b.diagnostic.message);
        assert_eq!(a.fingerprint, b.fingerprint);
        // The permit both versions share keeps its fingerprints too (each
        // permit is to `*` principals: JIT009).
        let of = |found: &[Finding], id: &str| -> Vec<String> {
            found
                .iter()
                .filter(|f| f.diagnostic.message.contains(&format!("`{id}`")))
                .map(|f| f.fingerprint.clone())
                .collect()
        };
        assert!(!of(&one, "p0").is_empty());
        assert_eq!(of(&one, "p0"), of(&two, "p0"));
    }

    #[test]
    fn wildcards_cover_exactly_the_actions_the_checker_expanded() {
        let text = "package w\nentity S { team: String }\nentity Secret { env: String }\n\
                    entity Log { env: String }\ncontext { risk: Int }\n\
                    action vault.read on Secret sensitivity low\n\
                    action vault.rotate on Secret sensitivity critical\n\
                    action vault.tail on Log sensitivity low\n\
                    action logs.read on Secret, Log sensitivity low\n\
                    task t {\n  ttl 1h\n\
                    permit S to vault.* on Secret when context.risk < 1\n\
                    permit S to * on Log when context.risk < 1\n\
                    permit S to vault.* on * when context.risk < 1\n\
                    permit S to * on * when context.risk < 1\n}\n";
        let (_, program, diags) = crate::driver::check_text("w.jitp", text);
        let program = program.unwrap_or_else(|| panic!("{diags:?}"));
        let names = |i: usize| -> Vec<&str> {
            let r = &program.rules[i];
            rules::actions_of(&program, r)
                .iter()
                .map(|a| program.actions[a.index()].name.as_str())
                .collect()
        };
        assert_eq!(names(0), ["vault.read", "vault.rotate"]);
        assert_eq!(names(1), ["vault.tail", "logs.read"]);
        assert_eq!(names(2), ["vault.read", "vault.rotate", "vault.tail"]);
        assert_eq!(names(3).len(), 4);
        // `vault.*` on Secret covers none of `* on Log`'s actions, nor the
        // other way round; `*` covers both.
        let r = &program.rules;
        assert!(!rules::covers(&r[0], &r[1]) && !rules::covers(&r[1], &r[0]));
        assert!(rules::covers(&r[3], &r[0]) && rules::covers(&r[3], &r[1]));
        assert!(!rules::covers(&r[2], &r[1]));
    }

    #[test]
    fn keys_tell_findings_apart() {
        let key = |k: Key| fingerprint(Code::JIT001, "fp", &k);
        // A task and a rule may share a name; their findings do not.
        assert_ne!(key(Key::task("x")), key(Key::rule("x")));
        assert_ne!(key(Key::rule_pair("a", "b")), key(Key::rule_pair("b", "a")));
        assert_ne!(
            key(Key::rule("a").part("require").part("x")),
            key(Key::rule("a").part("require").part("y"))
        );
        assert_ne!(
            fingerprint(Code::JIT001, "fp", &Key::rule("a")),
            fingerprint(Code::JIT001, "other", &Key::rule("a"))
        );
        assert_ne!(
            fingerprint(Code::JIT001, "fp", &Key::rule("a")),
            fingerprint(Code::JIT009, "fp", &Key::rule("a"))
        );
    }
}
