//! Names: declaring every named type, constant and function of every
//! module, and looking type names up.

use super::hir::*;
use super::{error_expr, Checker, Decl, BUILTIN_TYPES, RESERVED_VALUES};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::{Node, Span};
use crate::syntax::ast::{self, Item};

impl Checker<'_> {
    /// Declares every named type, constant and function of every module.
    pub(super) fn declare_names(&mut self) {
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

    /// Declares `name` in module `mi`, unless it is reserved or taken.
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
    pub(super) fn lookup_type(&mut self, mi: usize, path: &ast::Path) -> Option<Type> {
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
                    "Decimal" => Some(Type::Decimal),
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
                for (n, (d, _)) in self.modules[module]
                    .names
                    .iter()
                    .filter(|_| !self.suggestions.spent())
                {
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
                .with_help_opt(
                    self.suggestions
                        .did_you_mean(name, candidates.iter().map(String::as_str)),
                );
                if d.help.is_none() && module == mi && name == "Window" {
                    d = d.with_help("`Window` lives in the time module: add `use std.time` and write `time.Window`");
                }
                self.error(d);
                None
            }
        }
    }

    /// The report for `alias`, used in module `mi` without an import.
    pub(super) fn unknown_module(&self, mi: usize, alias: &str, span: Span) -> Diagnostic {
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
            self.suggestions.did_you_mean(alias, aliases)
        })
    }
}

/// A declaration's name as users write it outside its module
/// (`time.Window` for `Window` of `std.time`).
fn qualify(module: &str, name: &str) -> String {
    match module.rsplit('.').next() {
        Some(last) if !module.is_empty() => format!("{last}.{name}"),
        _ => name.to_string(),
    }
}
