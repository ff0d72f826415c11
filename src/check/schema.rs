//! The schema: field types of entities, records and the context, and the
//! rule that no record contains itself.

use super::hir::*;
use super::{Checker, Decl};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::{Node, Span};
use crate::syntax::ast::{self, Item, TypeExpr};
use petgraph::graphmap::DiGraphMap;

impl Checker<'_> {
    /// Resolves a type expression (of a field, parameter or constant) in
    /// module `mi`. Entity types are not allowed there.
    pub(super) fn resolve_type(&mut self, mi: usize, ty: &Node<TypeExpr>) -> Type {
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
                    // Reported where it arose: one error for one problem.
                    Type::Error => Type::Error,
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
                        ).with_help("set elements are Bool, Int, String, Time, Duration, Decimal, Ip, Net or enums"));
                        Type::Error
                    }
                    t => Type::Set(Box::new(t)),
                }
            }
            TypeExpr::Optional(inner) => match self.resolve_type(mi, inner) {
                Type::Error => Type::Error,
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

    /// Resolves the field list of an entity (with its implicit `id` when
    /// `implicit_id`), record or context.
    pub(super) fn resolve_fields(
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

    /// Resolves the fields of every entity and record, and the context.
    pub(super) fn resolve_schema(&mut self) {
        let mut context_seen: Option<Span> = None;
        let mut evidence_blocks: Vec<(Span, Vec<ast::Field>)> = Vec::new();
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
                    Item::Evidence(_, fields) if mi == 0 => {
                        let span = Span::new(
                            item.span.file,
                            item.span.start as usize..item.span.start as usize + 8,
                        );
                        evidence_blocks.push((span, fields.clone()));
                    }
                    _ => {}
                }
            }
            self.modules[mi].items = items;
        }
        self.custom_evidence(evidence_blocks);
        self.check_record_cycles();
    }

    /// Adds the policy set's own `evidence { ... }` fields to the evidence
    /// record, after the standard ones. One block per policy set; every
    /// field must be written optional (`T?`: a request may carry no
    /// evidence), and a name the standard library already uses is an error.
    fn custom_evidence(&mut self, blocks: Vec<(Span, Vec<ast::Field>)>) {
        let mut first: Option<Span> = None;
        for (span, fields) in blocks {
            if let Some(first) = first {
                self.error(
                    Diagnostic::error(
                        Code::E0211,
                        span,
                        "a policy set has one `evidence` block",
                        "second evidence block",
                    )
                    .with_label(first, "first evidence block")
                    .with_help("merge the fields into one block"),
                );
                continue;
            }
            first = Some(span);
            let resolved = self.resolve_fields(0, &fields, false);
            let ev = self.program.evidence.index();
            for f in resolved {
                let ty_span = fields
                    .iter()
                    .find(|a| a.name.span == f.span)
                    .map_or(f.span, |a| a.ty.span);
                if let Some(std) = self.program.records[ev]
                    .fields
                    .iter()
                    .find(|s| s.name == f.name)
                {
                    let mut d = Diagnostic::error(
                        Code::E0201,
                        f.span,
                        format!(
                            "evidence field `{}` is already a standard evidence field",
                            f.name
                        ),
                        "clashes with `nhi.Evidence`",
                    )
                    .with_help(format!(
                        "read the standard field as `evidence.{}`, or pick another name",
                        f.name
                    ));
                    if std.span != Span::default() {
                        d = d.with_label(std.span, "the standard field");
                    }
                    self.error(d);
                    continue;
                }
                if !matches!(f.ty, Type::Optional(_) | Type::Error) {
                    let tn = self.program.type_name(&f.ty);
                    self.error(
                        Diagnostic::error(
                            Code::E0306,
                            ty_span,
                            format!("evidence field `{}` must be optional", f.name),
                            "not optional",
                        )
                        .with_note("a request may carry no evidence, so every evidence field may be absent")
                        .with_help(format!("write `{}: {tn}?`", f.name)),
                    );
                    // Kept, as optional, so that its uses are not errors too.
                    let ty = f.ty.clone().optional();
                    self.program.records[ev].fields.push(FieldDef { ty, ..f });
                    continue;
                }
                self.program.records[ev].fields.push(f);
            }
        }
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
}
