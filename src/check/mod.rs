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

mod expr;
mod fold;
pub mod hir;
pub mod limits;
mod lower;
mod rules;

use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::span::{FileId, Node, SourceMap, Span};
use crate::stdlib::ModuleLoader;
use crate::syntax::ast::{self, Item, TypeExpr};
use hir::*;
use petgraph::graphmap::DiGraphMap;
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

const BUILTIN_TYPES: [&str; 7] = ["Bool", "Int", "String", "Time", "Duration", "Ip", "Net"];

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
    let modules = load_modules(sources, user, loader, &mut diags);
    let mut checker = Checker {
        sources,
        modules,
        program: Program::default(),
        diags,
        const_module: Vec::new(),
        fn_module: Vec::new(),
        window: None,
        action_ids: HashMap::new(),
        task_ids: HashMap::new(),
    };
    checker.run();
    let Checker {
        program, mut diags, ..
    } = checker;
    crate::diagnostic::sort(&mut diags);
    let ok = !diags.iter().any(Diagnostic::is_error);
    (ok.then_some(program), diags)
}

/// Loads every module reachable through `use` from the policy set, and
/// reports unknown modules and import cycles.
fn load_modules(
    sources: &mut SourceMap,
    user: Module,
    loader: &dyn ModuleLoader,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Module> {
    let mut modules = vec![user];
    // The policy set always loads std.nhi: it declares the evidence schema.
    let mut graph: DiGraphMap<usize, ()> = DiGraphMap::new();
    let mut edge_spans: HashMap<(usize, usize), Span> = HashMap::new();
    let mut by_path: HashMap<String, usize> = HashMap::new();
    let mut queue = vec![0usize];
    let mut implicit_nhi = true;
    while let Some(m) = queue.pop() {
        graph.add_node(m);
        let mut uses: Vec<(String, Span, String)> = Vec::new();
        for item in &modules[m].items {
            if let Item::Use(path) = &item.node {
                let alias = path
                    .node
                    .0
                    .last()
                    .map(|i| i.node.clone())
                    .unwrap_or_default();
                uses.push((path.node.text(), path.span, alias));
            }
        }
        if implicit_nhi {
            implicit_nhi = false;
            uses.push(("std.nhi".into(), Span::default(), String::new()));
        }
        for (path, span, alias) in uses {
            let target = match by_path.get(&path) {
                Some(&t) => Some(t),
                None => match loader.load(&path) {
                    Some((name, text)) => {
                        let file = sources.find_or_add(name, text.clone());
                        let parsed = crate::syntax::parse(file, &text);
                        diags.extend(parsed.diagnostics);
                        let idx = modules.len();
                        modules.push(Module {
                            path: path.clone(),
                            items: parsed.file.items,
                            names: HashMap::new(),
                            aliases: HashMap::new(),
                        });
                        by_path.insert(path.clone(), idx);
                        queue.push(idx);
                        Some(idx)
                    }
                    None if alias.is_empty() => None, // no std.nhi: evidence has no fields
                    None => {
                        let known = loader.known();
                        diags.push(
                            Diagnostic::error(
                                Code::E0207,
                                span,
                                format!("unknown module `{path}`"),
                                "no such module",
                            )
                            .with_help_opt(did_you_mean(&path, known.iter().map(String::as_str)))
                            .with_note(format!("available modules: {}", known.join(", "))),
                        );
                        None
                    }
                },
            };
            let Some(t) = target else { continue };
            if alias.is_empty() {
                continue; // the implicit evidence import has no alias
            }
            graph.add_edge(m, t, ());
            edge_spans.insert((m, t), span);
            if let Some((_, first)) = modules[m].aliases.get(&alias) {
                let first = *first;
                diags.push(
                    Diagnostic::error(
                        Code::E0201,
                        span,
                        format!("module `{alias}` is imported twice"),
                        "imported again here",
                    )
                    .with_label(first, "first imported here"),
                );
            } else {
                modules[m].aliases.insert(alias, (t, span));
            }
        }
    }
    for scc in petgraph::algo::tarjan_scc(&graph) {
        let cyclic = scc.len() > 1 || scc.first().is_some_and(|&n| graph.contains_edge(n, n));
        if !cyclic {
            continue;
        }
        let mut members: Vec<usize> = scc.clone();
        members.sort_unstable();
        let first = members[0];
        // Walk the cycle from its first member, staying inside the component.
        let mut order = vec![first];
        let mut cur = first;
        loop {
            let next = graph
                .neighbors(cur)
                .filter(|n| members.contains(n))
                .min_by_key(|n| if *n == first { 0 } else { n + 1 });
            match next {
                Some(n) if n == first || order.contains(&n) => {
                    order.push(n);
                    break;
                }
                Some(n) => {
                    order.push(n);
                    cur = n;
                }
                None => break,
            }
        }
        let name = |i: usize| {
            if modules[i].path.is_empty() {
                "the policy set".to_string()
            } else {
                format!("`{}`", modules[i].path)
            }
        };
        let chain: Vec<String> = order.iter().map(|&i| name(i)).collect();
        let primary = order
            .windows(2)
            .next()
            .and_then(|w| edge_spans.get(&(w[0], w[1])).copied())
            .unwrap_or_default();
        let mut d = Diagnostic::error(
            Code::E0208,
            primary,
            format!(
                "import cycle between {}",
                chain.first().cloned().unwrap_or_default()
            ),
            "this import starts the cycle",
        )
        .with_note(format!("cycle: {}", chain.join(" -> ")))
        .with_help("move the shared declarations into a module that both can import");
        for w in order.windows(2).skip(1) {
            if let Some(&s) = edge_spans.get(&(w[0], w[1])) {
                d = d.with_label(s, format!("which imports {}", name(w[1])));
            }
        }
        diags.push(d);
    }
    modules
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

    /// Library modules hold only types, constants and functions; the package
    /// line must come first.
    fn check_module_items(&mut self) {
        let mut found = Vec::new();
        for (mi, m) in self.modules.iter().enumerate() {
            // Files whose items so far include something other than `package`.
            let mut seen_other: Vec<FileId> = Vec::new();
            let mut package_seen: Option<Span> = None;
            for item in &m.items {
                match &item.node {
                    Item::Package(_, p) => {
                        if seen_other.contains(&item.span.file) {
                            found.push(
                                Diagnostic::error(
                                    Code::E0106,
                                    item.span,
                                    "`package` must be the first item of its file",
                                    "declared after other items",
                                )
                                .with_help("move this line to the top of the file"),
                            );
                        }
                        if mi == 0 {
                            let text = p.node.text();
                            match (&self.program.package, package_seen) {
                                (Some(old), Some(first)) if *old != text => found.push(
                                    Diagnostic::error(
                                        Code::E0501,
                                        p.span,
                                        format!("conflicting package `{text}`"),
                                        "declared differently here",
                                    )
                                    .with_label(first, format!("the policy set is `{old}` here")),
                                ),
                                _ => {
                                    self.program.package = Some(text);
                                    package_seen = Some(p.span);
                                }
                            }
                        }
                    }
                    Item::Error => {}
                    Item::Context(..) | Item::Action(_) | Item::Task(_) | Item::Rule(_)
                        if mi != 0 =>
                    {
                        found.push(Diagnostic::error(
                            Code::E0306,
                            item.span,
                            format!("library module `{}` may only declare types, constants and functions", m.path),
                            "not allowed in a library module",
                        ));
                    }
                    _ => seen_other.push(item.span.file),
                }
            }
        }
        self.diags.extend(found);
    }

    /// Declares every named type, constant and function of every module.
    fn declare_names(&mut self) {
        // The evidence record and the context record are created first so
        // their ids are fixed; their fields are filled in by resolve_schema.
        for mi in 0..self.modules.len() {
            let items = std::mem::take(&mut self.modules[mi].items);
            for item in &items {
                let qual = |name: &str| qualify(&self.modules[mi].path, name);
                let (name, decl) = match &item.node {
                    Item::Entity(d) => {
                        let id = EntityId(self.program.entities.len() as u32);
                        self.program.entities.push(EntityDef {
                            name: qual(&d.name.node),
                            fields: Vec::new(),
                            span: d.name.span,
                            doc: d.doc.as_ref().map(|d| d.node.clone()),
                        });
                        (&d.name, Decl::Entity(id))
                    }
                    Item::Record(d) => {
                        let id = RecordId(self.program.records.len() as u32);
                        self.program.records.push(RecordDef {
                            name: qual(&d.name.node),
                            fields: Vec::new(),
                            span: d.name.span,
                            doc: d.doc.as_ref().map(|d| d.node.clone()),
                        });
                        if self.modules[mi].path == "std.time" && d.name.node == "Window" {
                            self.window = Some(id);
                        }
                        if self.modules[mi].path == "std.nhi" && d.name.node == "Evidence" {
                            self.program.evidence = id;
                        }
                        (&d.name, Decl::Record(id))
                    }
                    Item::Enum(d) => {
                        let id = EnumId(self.program.enums.len() as u32);
                        let mut variants: Vec<String> = Vec::new();
                        for v in &d.variants {
                            if variants.contains(&v.node) {
                                self.diags.push(Diagnostic::error(
                                    Code::E0201,
                                    v.span,
                                    format!("variant `{}` is declared twice", v.node),
                                    "duplicate variant",
                                ));
                            } else {
                                variants.push(v.node.clone());
                            }
                        }
                        if variants.is_empty() {
                            self.diags.push(Diagnostic::error(
                                Code::E0306,
                                d.name.span,
                                format!("enum `{}` has no variants", d.name.node),
                                "empty enum",
                            ));
                        }
                        self.program.enums.push(EnumDef {
                            name: qual(&d.name.node),
                            variants,
                            span: d.name.span,
                            doc: d.doc.as_ref().map(|d| d.node.clone()),
                        });
                        (&d.name, Decl::Enum(id))
                    }
                    Item::Const(c) => {
                        let id = ConstId(self.program.consts.len() as u32);
                        self.program.consts.push(ConstDef {
                            name: qual(&c.name.node),
                            ty: Type::Error,
                            value: error_expr(c.value.span),
                            folded: None,
                            span: c.name.span,
                        });
                        self.const_module.push(mi);
                        (&c.name, Decl::Const(id))
                    }
                    Item::Fn(f) => {
                        let id = FnId(self.program.fns.len() as u32);
                        self.program.fns.push(FnDef {
                            name: qual(&f.name.node),
                            params: Vec::new(),
                            ret: Type::Error,
                            body: error_expr(f.body.span),
                            span: f.name.span,
                        });
                        self.fn_module.push(mi);
                        (&f.name, Decl::Fn(id))
                    }
                    _ => continue,
                };
                self.declare(mi, name, decl);
            }
            self.modules[mi].items = items;
        }
        // Without std.nhi (a custom loader) evidence is an empty record.
        if !self.modules.iter().any(|m| m.path == "std.nhi") {
            self.program.evidence = RecordId(self.program.records.len() as u32);
            self.program.records.push(RecordDef {
                name: "nhi.Evidence".into(),
                fields: Vec::new(),
                span: Span::default(),
                doc: None,
            });
        }
        // The context schema: a record named `context`.
        self.program.context = RecordId(self.program.records.len() as u32);
        self.program.records.push(RecordDef {
            name: "context".into(),
            fields: Vec::new(),
            span: Span::default(),
            doc: None,
        });
    }

    fn declare(&mut self, mi: usize, name: &Node<String>, decl: Decl) {
        let n = name.node.as_str();
        if BUILTIN_TYPES.contains(&n) || n == "Set" {
            self.error(Diagnostic::error(
                Code::E0201,
                name.span,
                format!("`{n}` is a built-in type and cannot be declared"),
                "reserved name",
            ));
            return;
        }
        if RESERVED_VALUES.contains(&n) {
            self.error(
                Diagnostic::error(
                    Code::E0201,
                    name.span,
                    format!("`{n}` is a built-in name and cannot be declared"),
                    "reserved name",
                )
                .with_help("choose another name"),
            );
            return;
        }
        if let Some((old, first)) = self.modules[mi].names.get(n) {
            let (old, first) = (*old, *first);
            self.error(
                Diagnostic::error(
                    Code::E0201,
                    name.span,
                    format!("`{n}` is declared twice"),
                    format!("`{n}` redeclared here"),
                )
                .with_label(first, format!("first declared here as {}", old.describe())),
            );
            return;
        }
        self.modules[mi]
            .names
            .insert(n.to_string(), (decl, name.span));
    }

    /// Looks up a type name as written in module `mi`.
    fn lookup_type(&mut self, mi: usize, path: &ast::Path) -> Option<Type> {
        let segs: Vec<&str> = path.0.iter().map(|i| i.node.as_str()).collect();
        let span = path.span();
        let (module, name) = match segs.as_slice() {
            [] => return None, // replaced after an earlier error
            [name] => {
                let builtin = match *name {
                    "Bool" => Some(Type::Bool),
                    "Int" => Some(Type::Int),
                    "String" => Some(Type::String),
                    "Time" => Some(Type::Time),
                    "Duration" => Some(Type::Duration),
                    "Ip" => Some(Type::Ip),
                    "Net" => Some(Type::Net),
                    _ => None,
                };
                if builtin.is_some() {
                    return builtin;
                }
                (mi, *name)
            }
            [alias, name] => match self.modules[mi].aliases.get(*alias) {
                Some((m, _)) => (*m, *name),
                None => {
                    let d = self.unknown_module(mi, alias, path.0[0].span);
                    self.error(d);
                    return None;
                }
            },
            _ => {
                self.error(Diagnostic::error(
                    Code::E0203,
                    span,
                    format!("unknown type `{}`", path.text()),
                    "not a type",
                ));
                return None;
            }
        };
        match self.modules[module].names.get(name).map(|(d, _)| *d) {
            Some(Decl::Entity(e)) => Some(Type::Entity(vec![e])),
            Some(Decl::Record(r)) => Some(Type::Record(r)),
            Some(Decl::Enum(e)) => Some(Type::Enum(e)),
            Some(other) => {
                self.error(Diagnostic::error(
                    Code::E0203,
                    span,
                    format!("`{}` is {}, not a type", path.text(), other.describe()),
                    "not a type",
                ));
                None
            }
            None => {
                let mut candidates: Vec<String> =
                    BUILTIN_TYPES.iter().map(|s| s.to_string()).collect();
                candidates.push("Set".into());
                for (n, (d, _)) in &self.modules[module].names {
                    if matches!(d, Decl::Entity(_) | Decl::Record(_) | Decl::Enum(_)) {
                        candidates.push(n.clone());
                    }
                }
                candidates.sort();
                let mut d = Diagnostic::error(
                    Code::E0203,
                    span,
                    format!("unknown type `{}`", path.text()),
                    "not declared",
                )
                .with_help_opt(did_you_mean(name, candidates.iter().map(String::as_str)));
                if d.help.is_none() && module == mi && name == "Window" {
                    d = d.with_help("`Window` lives in the time module: add `use std.time` and write `time.Window`");
                }
                self.error(d);
                None
            }
        }
    }

    fn unknown_module(&self, mi: usize, alias: &str, span: Span) -> Diagnostic {
        let aliases: Vec<&str> = self.modules[mi]
            .aliases
            .keys()
            .map(String::as_str)
            .collect();
        let std_hint = ["time", "net", "nhi"].contains(&alias);
        Diagnostic::error(
            Code::E0207,
            span,
            format!("unknown module `{alias}`"),
            "not imported",
        )
        .with_help_opt(if std_hint {
            Some(format!("add `use std.{alias}` at the top of the file"))
        } else {
            did_you_mean(alias, aliases)
        })
    }

    /// Resolves a type expression (of a field, parameter or constant) in
    /// module `mi`. Entity types are not allowed there.
    fn resolve_type(&mut self, mi: usize, ty: &Node<TypeExpr>) -> Type {
        match &ty.node {
            TypeExpr::Named(path) => {
                match self.lookup_type(mi, path) {
                    Some(Type::Entity(_)) => {
                        let name = path.text();
                        self.error(
                        Diagnostic::error(
                            Code::E0306,
                            ty.span,
                            format!("entity type `{name}` cannot be the type of a field or parameter"),
                            "entity types only describe principals and resources",
                        )
                        .with_help(format!("store the entity's id instead, e.g. `{}_id: String`", name.to_lowercase().replace('.', "_"))),
                    );
                        Type::Error
                    }
                    Some(t) => t,
                    None => Type::Error,
                }
            }
            TypeExpr::Set(inner) => {
                let t = self.resolve_type(mi, inner);
                match t {
                    Type::Optional(_) => {
                        self.error(
                            Diagnostic::error(
                                Code::E0306,
                                inner.span,
                                "set elements cannot be optional",
                                "optional element type",
                            )
                            .with_help("absent elements are simply left out of the set"),
                        );
                        Type::Error
                    }
                    Type::Set(_) | Type::Record(_) => {
                        self.error(Diagnostic::error(
                            Code::E0306,
                            inner.span,
                            format!("a set cannot hold `{}` values", self.program.type_name(&t)),
                            "unsupported element type",
                        ).with_help("set elements are Bool, Int, String, Time, Duration, Ip, Net or enums"));
                        Type::Error
                    }
                    t => Type::Set(Box::new(t)),
                }
            }
            TypeExpr::Optional(inner) => match self.resolve_type(mi, inner) {
                Type::Optional(_) => {
                    self.error(
                        Diagnostic::error(
                            Code::E0306,
                            ty.span,
                            "a type can be optional only once",
                            "optional twice",
                        )
                        .with_help("remove the second `?`"),
                    );
                    Type::Error
                }
                t => t.optional(),
            },
        }
    }

    fn resolve_fields(
        &mut self,
        mi: usize,
        fields: &[ast::Field],
        implicit_id: bool,
    ) -> Vec<FieldDef> {
        let mut out: Vec<FieldDef> = Vec::new();
        if implicit_id {
            out.push(FieldDef {
                name: "id".into(),
                ty: Type::String,
                span: Span::default(),
                doc: Some("The entity's unique id.".into()),
            });
        }
        for f in fields {
            let ty = self.resolve_type(mi, &f.ty);
            if let Some(prev) = out.iter().find(|p| p.name == f.name.node) {
                let mut d = Diagnostic::error(
                    Code::E0201,
                    f.name.span,
                    format!("field `{}` is declared twice", f.name.node),
                    "duplicate field",
                );
                if prev.span == Span::default() {
                    d = d.with_help("every entity has an implicit `id: String`; remove this field");
                } else {
                    d = d.with_label(prev.span, "first declared here");
                }
                self.error(d);
                continue;
            }
            out.push(FieldDef {
                name: f.name.node.clone(),
                ty,
                span: f.name.span,
                doc: f.doc.as_ref().map(|d| d.node.clone()),
            });
        }
        out
    }

    fn resolve_schema(&mut self) {
        let mut context_seen: Option<Span> = None;
        for mi in 0..self.modules.len() {
            let items = std::mem::take(&mut self.modules[mi].items);
            for item in &items {
                match &item.node {
                    Item::Entity(d) => {
                        if let Some((Decl::Entity(id), _)) =
                            self.modules[mi].names.get(&d.name.node).copied()
                        {
                            if self.program.entities[id.index()].span == d.name.span {
                                let fields = self.resolve_fields(mi, &d.fields, true);
                                self.program.entities[id.index()].fields = fields;
                            }
                        }
                    }
                    Item::Record(d) => {
                        if let Some((Decl::Record(id), _)) =
                            self.modules[mi].names.get(&d.name.node).copied()
                        {
                            if self.program.records[id.index()].span == d.name.span {
                                let fields = self.resolve_fields(mi, &d.fields, false);
                                self.program.records[id.index()].fields = fields;
                            }
                        }
                    }
                    Item::Context(doc, fields) if mi == 0 => {
                        let span = Span::new(
                            item.span.file,
                            item.span.start as usize..item.span.start as usize + 7,
                        );
                        if let Some(first) = context_seen {
                            self.error(
                                Diagnostic::error(
                                    Code::E0211,
                                    span,
                                    "a policy set has one `context` block",
                                    "second context block",
                                )
                                .with_label(first, "first context block")
                                .with_help("merge the fields into one block"),
                            );
                            continue;
                        }
                        context_seen = Some(span);
                        let fields = self.resolve_fields(mi, fields, false);
                        let ctx = &mut self.program.records[self.program.context.index()];
                        ctx.fields = fields;
                        ctx.span = span;
                        ctx.doc = doc.as_ref().map(|d| d.node.clone());
                    }
                    _ => {}
                }
            }
            self.modules[mi].items = items;
        }
        self.check_record_cycles();
    }

    /// Records that contain themselves (directly or through other records)
    /// could never be written in a request.
    fn check_record_cycles(&mut self) {
        let mut graph: DiGraphMap<u32, ()> = DiGraphMap::new();
        for (i, r) in self.program.records.iter().enumerate() {
            graph.add_node(i as u32);
            for f in &r.fields {
                if let Type::Record(t) = f.ty.unwrap_optional() {
                    graph.add_edge(i as u32, t.0, ());
                }
            }
        }
        for scc in petgraph::algo::tarjan_scc(&graph) {
            let cyclic = scc.len() > 1 || scc.first().is_some_and(|&n| graph.contains_edge(n, n));
            if let (true, Some(&first)) = (cyclic, scc.iter().min()) {
                let names: Vec<String> = scc
                    .iter()
                    .map(|&i| format!("`{}`", self.program.records[i as usize].name))
                    .collect();
                let span = self.program.records[first as usize].span;
                self.error(
                    Diagnostic::error(
                        Code::E0209,
                        span,
                        format!(
                            "record `{}` contains itself",
                            self.program.records[first as usize].name
                        ),
                        "recursive record",
                    )
                    .with_note(format!("records in the cycle: {}", names.join(", ")))
                    .with_help("make the recursive field refer to an id (`String`) instead"),
                );
            }
        }
    }

    fn declare_tasks(&mut self) {
        let items = std::mem::take(&mut self.modules[0].items);
        for item in &items {
            let Item::Task(t) = &item.node else { continue };
            if let Some(prev) = self.task_ids.get(&t.name.node) {
                let first = self.program.tasks[prev.index()].span;
                self.error(
                    Diagnostic::error(
                        Code::E0201,
                        t.name.span,
                        format!("task `{}` is declared twice", t.name.node),
                        "redeclared here",
                    )
                    .with_label(first, "first declared here"),
                );
            }
            let mut ttl: Option<Node<crate::value::Duration>> = None;
            let mut notify = Vec::new();
            for ti in &t.items {
                match &ti.node {
                    ast::TaskItem::Ttl(d) => {
                        if let Some(first) = &ttl {
                            self.error(
                                Diagnostic::error(
                                    Code::E0403,
                                    ti.span,
                                    "`ttl` is given twice",
                                    "second ttl",
                                )
                                .with_label(first.span, "first ttl"),
                            );
                        } else if d.node.0 <= 0 {
                            self.error(Diagnostic::error(
                                Code::E0403,
                                d.span,
                                "`ttl` must be longer than zero",
                                "zero ttl",
                            ));
                        } else {
                            ttl = Some(d.clone());
                        }
                    }
                    ast::TaskItem::Notify(s) => {
                        if s.node.trim().is_empty() {
                            self.error(Diagnostic::error(
                                Code::E0307,
                                s.span,
                                "`notify` needs a channel name",
                                "empty channel",
                            ));
                        }
                        notify.push(s.node.clone());
                    }
                    ast::TaskItem::Unknown(key) => {
                        self.error(
                            Diagnostic::error(
                                Code::E0101,
                                key.span,
                                format!("unknown task setting `{}`", key.node),
                                "expected `ttl`, `notify` or a rule",
                            )
                            .with_help_opt(did_you_mean(&key.node, ["ttl", "notify"])),
                        );
                    }
                    ast::TaskItem::Rule(_) | ast::TaskItem::Error => {}
                }
            }
            self.task_ids
                .entry(t.name.node.clone())
                .or_insert(TaskId(self.program.tasks.len() as u32));
            self.program.tasks.push(TaskDef {
                name: t.name.node.clone(),
                kind: t.kind,
                ttl: ttl.map(|t| t.node),
                notify,
                span: t.name.span,
                doc: t.doc.as_ref().map(|d| d.node.clone()),
            });
        }
        self.modules[0].items = items;
    }

    fn declare_actions(&mut self) {
        let items = std::mem::take(&mut self.modules[0].items);
        for item in &items {
            let Item::Action(a) = &item.node else {
                continue;
            };
            let name = a.name.node.text();
            if a.name.node.0.len() < 2 {
                self.error(
                    Diagnostic::error(
                        Code::E0306,
                        a.name.span,
                        format!("action `{name}` needs a namespace"),
                        "expected `namespace.verb`",
                    )
                    .with_help(format!("for example `app.{name}`")),
                );
            }
            if let Some(prev) = self.action_ids.get(&name) {
                let first = self.program.actions[prev.index()].span;
                self.error(
                    Diagnostic::error(
                        Code::E0201,
                        a.name.span,
                        format!("action `{name}` is declared twice"),
                        "redeclared here",
                    )
                    .with_label(first, "first declared here"),
                );
                continue;
            }
            let mut on = Vec::new();
            for ty in &a.on {
                match self.lookup_type(0, &ty.node) {
                    Some(Type::Entity(ids)) => {
                        for id in ids {
                            if on.contains(&id) {
                                self.error(Diagnostic::error(
                                    Code::E0201,
                                    ty.span,
                                    format!("`{}` is listed twice", ty.node.text()),
                                    "duplicate resource type",
                                ));
                            } else {
                                on.push(id);
                            }
                        }
                    }
                    Some(other) => {
                        let tn = self.program.type_name(&other);
                        self.error(
                            Diagnostic::error(
                                Code::E0404,
                                ty.span,
                                format!("actions apply to entity types, and `{tn}` is not one"),
                                "not an entity type",
                            )
                            .with_help("declare the resource with `entity`"),
                        );
                    }
                    None => {}
                }
            }
            let mut sensitivity: Option<(ast::Sensitivity, Span)> = None;
            let mut grants: Option<(TaskId, Span)> = None;
            for attr in &a.attrs {
                match &attr.node {
                    ast::ActionAttr::Sensitivity(level) => {
                        let parsed = match level.node.as_str() {
                            "low" => Some(ast::Sensitivity::Low),
                            "medium" => Some(ast::Sensitivity::Medium),
                            "high" => Some(ast::Sensitivity::High),
                            "critical" => Some(ast::Sensitivity::Critical),
                            _ => None,
                        };
                        match (parsed, sensitivity) {
                            (_, Some((_, first))) => self.error(
                                Diagnostic::error(
                                    Code::E0201,
                                    attr.span,
                                    "sensitivity is given twice",
                                    "second sensitivity",
                                )
                                .with_label(first, "first given here"),
                            ),
                            (Some(s), None) => sensitivity = Some((s, attr.span)),
                            (None, None) => self.error(
                                Diagnostic::error(
                                    Code::E0202,
                                    level.span,
                                    format!("unknown sensitivity `{}`", level.node),
                                    "expected `low`, `medium`, `high` or `critical`",
                                )
                                .with_help_opt(did_you_mean(
                                    &level.node,
                                    ["low", "medium", "high", "critical"],
                                )),
                            ),
                        }
                    }
                    ast::ActionAttr::Grants(task) => {
                        if let Some((_, first)) = grants {
                            self.error(
                                Diagnostic::error(
                                    Code::E0201,
                                    attr.span,
                                    "`grants` is given twice",
                                    "second grants",
                                )
                                .with_label(first, "first given here"),
                            );
                            continue;
                        }
                        match self.task_ids.get(&task.node).copied() {
                            Some(t) => grants = Some((t, attr.span)),
                            None => {
                                let names: Vec<&str> =
                                    self.program.tasks.iter().map(|t| t.name.as_str()).collect();
                                let d = Diagnostic::error(
                                    Code::E0212,
                                    task.span,
                                    format!("unknown task `{}`", task.node),
                                    "no task of this name",
                                )
                                .with_help_opt(did_you_mean(&task.node, names));
                                self.error(d);
                            }
                        }
                    }
                }
            }
            self.action_ids
                .insert(name.clone(), ActionId(self.program.actions.len() as u32));
            self.program.actions.push(ActionDef {
                name,
                on,
                sensitivity: sensitivity.map_or(ast::Sensitivity::Medium, |s| s.0),
                grants: grants.map(|g| g.0),
                span: a.name.span,
                doc: a.doc.as_ref().map(|d| d.node.clone()),
            });
        }
        self.modules[0].items = items;
    }

    /// Orders constants and functions by reference, reports cycles, then
    /// checks them in that order.
    fn check_consts_and_fns(&mut self) {
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        enum Def {
            Const(u32),
            Fn(u32),
        }
        // Gather the AST of each const and fn.
        let mut const_ast: Vec<Option<ast::ConstDecl>> = vec![None; self.program.consts.len()];
        let mut fn_ast: Vec<Option<ast::FnDecl>> = vec![None; self.program.fns.len()];
        for m in &self.modules {
            for item in &m.items {
                match &item.node {
                    Item::Const(c) => {
                        if let Some((Decl::Const(id), span)) = m.names.get(&c.name.node) {
                            if *span == c.name.span {
                                const_ast[id.index()] = Some(c.clone());
                            }
                        }
                    }
                    Item::Fn(f) => {
                        if let Some((Decl::Fn(id), span)) = m.names.get(&f.name.node) {
                            if *span == f.name.span {
                                fn_ast[id.index()] = Some(f.clone());
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        // Reference graph.
        let mut graph: DiGraphMap<Def, Span> = DiGraphMap::new();
        for (i, c) in const_ast.iter().enumerate() {
            graph.add_node(Def::Const(i as u32));
            if let Some(c) = c {
                let mi = self.const_module[i];
                for (target, span) in self.references(mi, &c.value) {
                    let t = match target {
                        Decl::Const(id) => Def::Const(id.0),
                        Decl::Fn(id) => Def::Fn(id.0),
                        _ => continue,
                    };
                    graph.add_edge(Def::Const(i as u32), t, span);
                }
            }
        }
        for (i, f) in fn_ast.iter().enumerate() {
            graph.add_node(Def::Fn(i as u32));
            if let Some(f) = f {
                let mi = self.fn_module[i];
                for (target, span) in self.references(mi, &f.body) {
                    let t = match target {
                        Decl::Const(id) => Def::Const(id.0),
                        Decl::Fn(id) => Def::Fn(id.0),
                        _ => continue,
                    };
                    graph.add_edge(Def::Fn(i as u32), t, span);
                }
            }
        }
        let mut cyclic: Vec<Def> = Vec::new();
        // tarjan_scc returns components in reverse topological order: a
        // component comes after every component it refers to.
        let order = petgraph::algo::tarjan_scc(&graph);
        for scc in &order {
            let is_cycle = scc.len() > 1 || scc.first().is_some_and(|&n| graph.contains_edge(n, n));
            if !is_cycle {
                continue;
            }
            cyclic.extend(scc.iter().copied());
            let mut members = scc.clone();
            members.sort();
            let first = members[0];
            let name = |d: Def, p: &Program| match d {
                Def::Const(i) => format!("`{}`", p.consts[i as usize].name),
                Def::Fn(i) => format!("`{}`", p.fns[i as usize].name),
            };
            // Walk the cycle.
            let mut path = vec![first];
            let mut cur = first;
            while let Some(next) = graph
                .neighbors(cur)
                .filter(|n| members.contains(n))
                .min_by_key(|n| (*n != first, *n))
            {
                path.push(next);
                if next == first || path[..path.len() - 1].contains(&next) {
                    break;
                }
                cur = next;
            }
            let chain: Vec<String> = path.iter().map(|d| name(*d, &self.program)).collect();
            let decl_span = match first {
                Def::Const(i) => self.program.consts[i as usize].span,
                Def::Fn(i) => self.program.fns[i as usize].span,
            };
            let kind = if matches!(first, Def::Fn(_)) {
                "function"
            } else {
                "constant"
            };
            let mut d = Diagnostic::error(
                Code::E0209,
                decl_span,
                format!("{kind} {} refers to itself", name(first, &self.program)),
                "recursive definition",
            )
            .with_note(format!("cycle: {}", chain.join(" -> ")))
            .with_help("functions are inlined and constants evaluated at compile time, so neither may recurse");
            for w in path.windows(2) {
                if let Some(s) = graph.edge_weight(w[0], w[1]) {
                    d = d.with_label(
                        *s,
                        format!(
                            "{} uses {}",
                            name(w[0], &self.program),
                            name(w[1], &self.program)
                        ),
                    );
                }
            }
            self.error(d);
        }
        // Signatures of every function first (bodies may call any of them).
        for (i, f) in fn_ast.iter().enumerate() {
            let Some(f) = f else { continue };
            let mi = self.fn_module[i];
            let mut params: Vec<(String, Type)> = Vec::new();
            for p in &f.params {
                let ty = self.resolve_type(mi, &p.ty);
                if params.iter().any(|(n, _)| *n == p.name.node) {
                    self.error(Diagnostic::error(
                        Code::E0201,
                        p.name.span,
                        format!("parameter `{}` is declared twice", p.name.node),
                        "duplicate parameter",
                    ));
                }
                params.push((p.name.node.clone(), ty));
            }
            let ret = self.resolve_type(mi, &f.ret);
            self.program.fns[i].params = params;
            self.program.fns[i].ret = ret;
        }
        for scc in &order {
            for def in scc {
                if cyclic.contains(def) {
                    continue;
                }
                match *def {
                    Def::Const(i) => {
                        let Some(c) = &const_ast[i as usize] else {
                            continue;
                        };
                        let mi = self.const_module[i as usize];
                        let declared = c.ty.as_ref().map(|t| self.resolve_type(mi, t));
                        let mut cx = expr::Cx::constant(mi);
                        let errors_before = self.diags.iter().filter(|d| d.is_error()).count();
                        let value = self.check_expr(&mut cx, &c.value);
                        let ty = match declared {
                            Some(want) => {
                                self.expect_type(&value, &want, "the constant's declared type");
                                want
                            }
                            None => value.ty.clone(),
                        };
                        self.program.consts[i as usize].ty = ty;
                        self.program.consts[i as usize].value = value;
                        // Constants are evaluated here, once; lowering reads the value.
                        if self.diags.iter().filter(|d| d.is_error()).count() == errors_before {
                            match fold::fold_const(&self.program, ConstId(i)) {
                                Ok(v) => self.program.consts[i as usize].folded = Some(v),
                                Err(e) => {
                                    let name = self.program.consts[i as usize].name.clone();
                                    self.error(const_error(&name, c.value.span, &e));
                                }
                            }
                        }
                    }
                    Def::Fn(i) => {
                        let Some(f) = &fn_ast[i as usize] else {
                            continue;
                        };
                        let mi = self.fn_module[i as usize];
                        let params = self.program.fns[i as usize].params.clone();
                        let mut cx = expr::Cx::function(mi, params);
                        let body = self.check_expr(&mut cx, &f.body);
                        let ret = self.program.fns[i as usize].ret.clone();
                        self.expect_type(&body, &ret, "the function's declared result type");
                        self.program.fns[i as usize].body = body;
                    }
                }
            }
        }
    }

    /// The constants and functions an expression of module `mi` names.
    fn references(&self, mi: usize, e: &Node<ast::Expr>) -> Vec<(Decl, Span)> {
        let mut out = Vec::new();
        self.collect_refs(mi, e, &mut out);
        out
    }

    fn collect_refs(&self, mi: usize, e: &Node<ast::Expr>, out: &mut Vec<(Decl, Span)>) {
        use ast::Expr as E;
        if let Some((decl, span)) = self.path_decl(mi, e) {
            out.push((decl, span));
            return;
        }
        match &e.node {
            E::Set(items) => items.iter().for_each(|i| self.collect_refs(mi, i, out)),
            E::Field { base, .. } => self.collect_refs(mi, base, out),
            E::Call { callee, args } => {
                self.collect_refs(mi, callee, out);
                args.iter().for_each(|a| self.collect_refs(mi, a, out));
            }
            E::Unary(_, x) | E::Has(x) | E::Like(x, _) => self.collect_refs(mi, x, out),
            E::Binary(_, a, b) => {
                self.collect_refs(mi, a, out);
                self.collect_refs(mi, b, out);
            }
            _ => {}
        }
    }

    /// If `e` is a name or `module.name` denoting a declaration, that
    /// declaration.
    fn path_decl(&self, mi: usize, e: &Node<ast::Expr>) -> Option<(Decl, Span)> {
        match &e.node {
            ast::Expr::Name(n) => self.modules[mi]
                .names
                .get(&n.node)
                .map(|(d, _)| (*d, e.span)),
            ast::Expr::Field {
                base,
                name,
                optional: false,
            } => {
                let ast::Expr::Name(alias) = &base.node else {
                    return None;
                };
                let (m, _) = self.modules[mi].aliases.get(&alias.node)?;
                self.modules[*m]
                    .names
                    .get(&name.node)
                    .map(|(d, _)| (*d, e.span))
            }
            _ => None,
        }
    }
}

fn qualify(module: &str, name: &str) -> String {
    match module.rsplit('.').next() {
        Some(last) if !module.is_empty() => format!("{last}.{name}"),
        _ => name.to_string(),
    }
}

/// The report for a constant that cannot be evaluated.
fn const_error(name: &str, span: Span, e: &fold::FoldError) -> Diagnostic {
    let why = match e {
        fold::FoldError::Overflow => "its value overflows".to_string(),
        fold::FoldError::Internal(w) => format!("it cannot be evaluated ({w})"),
        fold::FoldError::TooCostly => {
            return Diagnostic::error(
                Code::E0308,
                span,
                format!("constant `{name}` is too costly to evaluate"),
                "evaluated when the policy compiles",
            )
            .with_help(format!(
                "evaluation stops after {} steps; a function that calls another more than once multiplies the work at every level",
                fold::MAX_STEPS
            ));
        }
    };
    Diagnostic::error(
        Code::E0308,
        span,
        format!("constant `{name}` is invalid: {why}"),
        "evaluated when the policy compiles",
    )
    .with_help("`Int` is 64-bit; overflow is an error, never a wrap-around")
}

fn error_expr(span: Span) -> Expr {
    Expr {
        kind: ExprKind::Error,
        ty: Type::Error,
        span,
    }
}
