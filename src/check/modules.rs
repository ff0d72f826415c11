//! Module loading: the policy set and the library modules it `use`s (the
//! import graph must be acyclic), and what each kind of module may declare.

use super::{Checker, Module};
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::span::{FileId, SourceMap, Span};
use crate::stdlib::ModuleLoader;
use crate::syntax::ast::Item;
use petgraph::graphmap::DiGraphMap;
use std::collections::HashMap;

impl Checker<'_> {
    /// Library modules hold only types, constants and functions; the package
    /// line must come first.
    pub(super) fn check_module_items(&mut self) {
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
                    Item::Context(..)
                    | Item::Evidence(..)
                    | Item::Action(_)
                    | Item::Task(_)
                    | Item::Rule(_)
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
}

/// Loads every module reachable through `use` from the policy set, and
/// reports unknown modules and import cycles.
pub(super) fn load_modules(
    sources: &mut SourceMap,
    user: Module,
    loader: &dyn ModuleLoader,
    files: &mut Vec<FileId>,
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
                        if !files.contains(&file) {
                            files.push(file);
                        }
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
