//! Name resolution and type checking: parsed files of one policy set to a
//! checked [`hir::Program`].
//!
//! **Checking reports every error it finds, not only the first.** An
//! expression with an error gets [`Type::Error`], which fits anywhere, so one
//! mistake does not cascade into many reports.
//!
//! Stages, each over all modules before the next: load `use`d library
//! modules (the import graph must be acyclic); declare names; resolve the
//! schema (entity, record and context fields); declare actions and tasks;
//! order constants and functions by their references (the call graph must
//! be acyclic) and check and evaluate them; check rules; finally, on a
//! program without errors, the limits of lowering (see `lower`), so that a
//! program that checks clean also builds.

mod consts;
mod decls;
mod expr;
mod fold;
pub mod hir;
pub mod limits;
mod lower;
mod modules;
mod names;
mod rules;
mod schema;

use crate::diagnostic::Diagnostic;
use crate::span::{FileId, Node, SourceMap, Span};
use crate::stdlib::ModuleLoader;
use crate::syntax::ast::Item;
use hir::*;
use std::collections::HashMap;

/// A declaration visible by name inside a module.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Decl {
    Entity(EntityId),
    Record(RecordId),
    Enum(EnumId),
    Const(ConstId),
    Fn(FnId),
}

impl Decl {
    fn describe(self) -> &'static str {
        match self {
            Decl::Entity(_) => "an entity type",
            Decl::Record(_) => "a record type",
            Decl::Enum(_) => "an enum type",
            Decl::Const(_) => "a constant",
            Decl::Fn(_) => "a function",
        }
    }
}

/// One module: the user's policy set (index 0) or a library module.
struct Module {
    /// `""` for the policy set, `std.time` for a library module.
    path: String,
    /// Items of every file of the module.
    items: Vec<Node<Item>>,
    /// Names declared in the module, with where.
    names: HashMap<String, (Decl, Span)>,
    /// `use` aliases: alias to module index, with the `use` span.
    aliases: HashMap<String, (usize, Span)>,
}

const BUILTIN_TYPES: [&str; 8] = [
    "Bool", "Int", "String", "Time", "Duration", "Decimal", "Ip", "Net",
];

/// Names the language gives meaning to inside rules; they cannot be declared.
const RESERVED_VALUES: [&str; 8] = [
    "principal",
    "resource",
    "action",
    "context",
    "now",
    "task",
    "evidence",
    "time",
];

/// The checker's state.
struct Checker<'a> {
    sources: &'a SourceMap,
    modules: Vec<Module>,
    program: Program,
    diags: Vec<Diagnostic>,
    /// Module of each const and fn.
    const_module: Vec<usize>,
    fn_module: Vec<usize>,
    /// Index of the `std.time.Window` record, if loaded.
    window: Option<RecordId>,
    /// Actions by name.
    action_ids: HashMap<String, ActionId>,
    /// Tasks by name (first declaration).
    task_ids: HashMap<String, TaskId>,
    /// Did-you-mean suggestions, within one budget for the whole run.
    suggestions: crate::diagnostic::Suggestions,
}

/// Parses and checks one policy set made of `files` (already in `sources`),
/// loading `use`d modules through `loader` (their text is added to
/// `sources`). Returns the program if there were no errors, and every
/// diagnostic (errors and warnings) either way.
pub fn check(
    sources: &mut SourceMap,
    files: &[FileId],
    loader: &(dyn ModuleLoader + Sync),
) -> (Option<Program>, Vec<Diagnostic>) {
    crate::span::with_big_stack(|| check_inner(sources, files, loader))
}

fn check_inner(
    sources: &mut SourceMap,
    files: &[FileId],
    loader: &dyn ModuleLoader,
) -> (Option<Program>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut items = Vec::new();
    for &file in files {
        let text = sources
            .get(file)
            .map(|f| f.text.clone())
            .unwrap_or_default();
        let parsed = crate::syntax::parse(file, &text);
        diags.extend(parsed.diagnostics);
        items.extend(parsed.file.items);
    }
    let user = Module {
        path: String::new(),
        items,
        names: HashMap::new(),
        aliases: HashMap::new(),
    };
    let mut program_files = files.to_vec();
    let modules = modules::load_modules(sources, user, loader, &mut program_files, &mut diags);
    let mut checker = Checker {
        sources,
        modules,
        program: Program {
            files: program_files,
            ..Program::default()
        },
        diags,
        const_module: Vec::new(),
        fn_module: Vec::new(),
        window: None,
        action_ids: HashMap::new(),
        task_ids: HashMap::new(),
        suggestions: Default::default(),
    };
    checker.run();
    let Checker {
        program, mut diags, ..
    } = checker;
    crate::diagnostic::sort(&mut diags);
    let ok = !diags.iter().any(Diagnostic::is_error);
    (ok.then_some(program), diags)
}

impl Checker<'_> {
    fn run(&mut self) {
        self.check_module_items();
        self.declare_names();
        self.resolve_schema();
        self.declare_tasks();
        self.declare_actions();
        self.check_consts_and_fns();
        self.check_rules();
        self.check_lowering();
    }

    fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }
}

fn error_expr(span: Span) -> Expr {
    Expr {
        kind: ExprKind::Error,
        ty: Type::Error,
        span,
    }
}
