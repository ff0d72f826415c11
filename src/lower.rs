//! Lowering: a checked [`Program`] to a [`Bundle`].
//!
//! The request schema is flattened into slots: every field that a request
//! can carry gets one slot (a record gets a presence marker followed by its
//! fields), so every statically known path such as
//! `context.ticket?.window.start` compiles to one slot load. Functions are
//! inlined (arguments go to locals); constants and constant set literals
//! arrive folded by the checker and go into the constant pool.
//!
//! Lowering detects no policy errors: every static rule (the layout and
//! condition limits included) is the checker's, so a program that checks
//! clean builds. What is still tested here is reported as an internal
//! compiler error (E0900), never a panic.

use crate::check::hir::CmpOp;
use crate::check::hir::*;
use crate::check::limits;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::{SourceMap, Span};
use crate::syntax::ast::{Effect, Sensitivity, TaskKind};
use jitp_runtime::format::*;
use jitp_runtime::Bundle;
use std::collections::{BTreeMap, HashMap};

/// Largest number of instructions a bundle may hold (guards against
/// exponential inlining).
pub const MAX_CODE: usize = limits::MAX_CODE;

// The checker enforces the bundle's limits: its copies must agree.
const _: () = assert!(
    limits::MAX_STACK == MAX_STACK
        && limits::MAX_LOCALS == MAX_LOCALS
        && limits::MAX_REQUIRES == MAX_REQUIRES
        && limits::MAX_SLOTS == MAX_SLOTS
);

/// Compiles a checked program. A program returned by [`crate::check::check`]
/// always compiles: an error here is an internal compiler error (E0900).
pub fn compile(p: &Program, sources: &SourceMap) -> Result<Bundle, Vec<Diagnostic>> {
    crate::span::with_big_stack(|| compile_inner(p, sources))
}

fn compile_inner(p: &Program, sources: &SourceMap) -> Result<Bundle, Vec<Diagnostic>> {
    // The bundle's file table: exactly the program's files, renumbered.
    let mut file_index = vec![u32::MAX; sources.iter().count()];
    for (i, f) in p.files.iter().enumerate() {
        if let Some(slot) = file_index.get_mut(f.0 as usize) {
            *slot = i as u32;
        }
    }
    let mut l = Lower {
        p,
        sources,
        file_index,
        strings: Vec::new(),
        string_ids: HashMap::new(),
        consts: Vec::new(),
        const_ids: HashMap::new(),
        const_sets: Vec::new(),
        const_cache: HashMap::new(),
        patterns: Vec::new(),
        record_index: vec![u32::MAX; p.records.len()],
        records: Vec::new(),
        record_sizes: vec![0; p.records.len()],
        offsets: vec![HashMap::new(); p.records.len()],
        principal_slots: HashMap::new(),
        task_params: HashMap::new(),
        resource_slots: HashMap::new(),
        schema: Schema::default(),
        code: Vec::new(),
        spans: Vec::new(),
        height: 0,
        max_height: 0,
        locals: 0,
        max_locals: 0,
        diags: Vec::new(),
    };
    l.layout();
    let mut rules = Vec::with_capacity(p.rules.len());
    for r in &p.rules {
        rules.push(l.rule(r));
    }
    if !l.diags.is_empty() {
        return Err(l.diags);
    }
    let actions = p
        .actions
        .iter()
        .map(|a| ActionMeta {
            name: l.intern(&a.name),
            on: a.on.iter().map(|e| e.0).collect(),
            sensitivity: match a.sensitivity {
                Sensitivity::Low => 0,
                Sensitivity::Medium => 1,
                Sensitivity::High => 2,
                Sensitivity::Critical => 3,
            },
            grants: a.grants.map(|t| t.0),
        })
        .collect();
    let tasks = p
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| TaskMeta {
            name: l.intern(&t.name),
            ttl: t.ttl.map(|d| d.0),
            breakglass: t.kind == TaskKind::Breakglass,
            notify: t.notify.iter().map(|n| l.intern(n)).collect(),
            approvals: approvals_needed(p, i as u32),
        })
        .collect();
    // Rule index: (scope, action) -> guards, permits (ascending rule numbers).
    let mut index: BTreeMap<(u32, u32), (Vec<u32>, Vec<u32>)> = BTreeMap::new();
    for (i, r) in p.rules.iter().enumerate() {
        let scope = r.task.map_or(0, |t| t.0 + 1);
        for a in &r.actions {
            let entry = index.entry((scope, a.0)).or_default();
            if r.effect == Effect::Forbid {
                entry.0.push(i as u32);
            } else {
                entry.1.push(i as u32);
            }
        }
    }
    let mut index_rules = Vec::new();
    let mut entries = Vec::with_capacity(index.len());
    for ((scope, action), (guards, permits)) in index {
        let g = (index_rules.len() as u32, guards.len() as u32);
        index_rules.extend(guards);
        let pm = (index_rules.len() as u32, permits.len() as u32);
        index_rules.extend(permits);
        entries.push(IndexEntry {
            scope,
            action,
            guards: g,
            permits: pm,
        });
    }
    let name = p.package.clone().unwrap_or_default();
    let program_files = p.files.iter().filter_map(|f| sources.get(*f));
    let files = program_files.clone().map(|f| f.name.clone()).collect();
    let texts = program_files.map(|f| f.text.clone()).collect();
    let image = Image {
        builder: env!("CARGO_PKG_VERSION").to_string(),
        name,
        strings: l.strings,
        schema: l.schema,
        consts: l.consts,
        const_sets: l.const_sets,
        patterns: l.patterns,
        actions,
        tasks,
        rules,
        index: entries,
        index_rules,
        code: l.code,
        spans: l.spans,
        files,
        sources: texts,
        max_stack: l.max_height,
        max_locals: l.max_locals,
    };
    let bundle = match Bundle::from_image(image) {
        Ok(bundle) => bundle,
        Err(e) => {
            // A bug in the compiler, not in the policy: still reported, never a panic.
            let span = p.rules.first().map_or(Span::default(), |r| r.span);
            return Err(vec![ice(
                span,
                &format!("the generated bundle is invalid ({})", e.message()),
            )]);
        }
    };
    Ok(bundle)
}

/// An internal compiler error: a state the checker rules out.
fn ice(span: Span, what: &str) -> Diagnostic {
    Diagnostic::error(
        Code::E0900,
        span,
        format!("internal compiler error: {what}"),
        "while compiling this",
    )
    .with_note("the checker should have rejected this or accepted it unchanged; please report it")
}

struct Lower<'a> {
    p: &'a Program,
    sources: &'a SourceMap,
    /// Source-map file id -> bundle file number (`u32::MAX`: not part of
    /// the program).
    file_index: Vec<u32>,
    strings: Vec<String>,
    string_ids: HashMap<String, u32>,
    consts: Vec<Val>,
    const_ids: HashMap<Val, u32>,
    const_sets: Vec<Val>,
    const_cache: HashMap<ConstId, Option<u32>>,
    patterns: Vec<Vec<u32>>,
    /// Program record id -> bundle record index.
    record_index: Vec<u32>,
    records: Vec<RecordLayout>,
    record_sizes: Vec<u32>,
    /// Per program record: field name -> offset from the marker.
    offsets: Vec<HashMap<String, u32>>,
    principal_slots: HashMap<(String, TypeDesc), u32>,
    /// Per task with `params`: its record and the slot of its marker.
    task_params: HashMap<u32, (RecordId, u32)>,
    resource_slots: HashMap<(String, TypeDesc), u32>,
    schema: Schema,
    code: Vec<Instr>,
    spans: Vec<SrcSpan>,
    height: u32,
    max_height: u32,
    locals: u32,
    max_locals: u32,
    diags: Vec<Diagnostic>,
}

impl Lower<'_> {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(id) = self.string_ids.get(s) {
            return *id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(s.to_string());
        self.string_ids.insert(s.to_string(), id);
        id
    }

    fn constant(&mut self, v: Val) -> u32 {
        if let Some(k) = self.const_ids.get(&v) {
            return *k;
        }
        let k = self.consts.len() as u32;
        self.consts.push(v);
        self.const_ids.insert(v, k);
        k
    }

    fn src(&self, span: Span) -> SrcSpan {
        let (line, col) = self.sources.line_col(span.file, span.start);
        let file = self
            .file_index
            .get(span.file.0 as usize)
            .copied()
            .unwrap_or(u32::MAX);
        debug_assert!(file != u32::MAX, "a span outside the program's files");
        SrcSpan {
            file,
            start: span.start,
            end: span.end,
            line: line as u32,
            col: col as u32,
        }
    }

    // ------------------------------------------------------------ layout

    fn desc(&self, t: &Type) -> TypeDesc {
        match t {
            Type::Bool => TypeDesc::Bool,
            Type::Int => TypeDesc::Int,
            Type::String => TypeDesc::String,
            Type::Time => TypeDesc::Time,
            Type::Duration => TypeDesc::Duration,
            Type::Decimal => TypeDesc::Decimal,
            Type::Ip => TypeDesc::Ip,
            Type::Net => TypeDesc::Net,
            Type::Enum(e) => TypeDesc::Enum(e.0),
            Type::Set(inner) => TypeDesc::Set(Box::new(self.desc(inner))),
            Type::Optional(inner) => TypeDesc::Optional(Box::new(self.desc(inner))),
            Type::Record(r) => TypeDesc::Record(self.record_index[r.index()]),
            // Not field types; never reached for a checked program.
            Type::Entity(_) | Type::Task | Type::Never | Type::Error => TypeDesc::Bool,
        }
    }

    fn size_of(&self, t: &Type) -> u32 {
        match t.unwrap_optional() {
            Type::Record(r) => self.record_sizes[r.index()],
            _ => 1,
        }
    }

    /// Orders records so that each comes after the records it contains,
    /// computes their layouts, then assigns request slots.
    fn layout(&mut self) {
        let mut order = Vec::new();
        let mut state = vec![0u8; self.p.records.len()];
        for r in 0..self.p.records.len() {
            self.visit_record(r, &mut state, &mut order);
        }
        for r in order {
            let idx = self.records.len() as u32;
            self.record_index[r] = idx;
            let def = &self.p.records[r];
            let mut off = 1u32;
            let mut fields = Vec::new();
            let mut offsets = HashMap::new();
            for f in &def.fields {
                let size = self.size_of(&f.ty);
                let name = self.intern(&f.name);
                fields.push(FieldLayout {
                    name,
                    ty: self.desc(&f.ty),
                    slot: off,
                });
                offsets.insert(f.name.clone(), off);
                // saturates; `layout` reports a layout beyond `MAX_SLOTS`
                off = off.saturating_add(size);
            }
            let name = self.intern(&def.name);
            self.records.push(RecordLayout {
                name,
                size: off,
                fields,
            });
            self.record_sizes[r] = off;
            self.offsets[r] = offsets;
        }
        self.schema.enums = self
            .p
            .enums
            .iter()
            .map(|e| (0, e.variants.clone(), e.name.clone()))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|(_, vars, name)| {
                (
                    self.intern(&name),
                    vars.iter().map(|v| self.intern(v)).collect(),
                )
            })
            .collect();
        let mut next = 0u32;
        let mut take = |n: u32| {
            let s = next;
            next = next.saturating_add(n);
            s
        };
        let sp = SpecialSlots {
            now: take(1),
            action: take(1),
            task_name: take(1),
            task_id: take(1),
            task_started_at: take(1),
            task_approvals: take(1),
            task_approvers: take(1),
        };
        let ctx = self.p.context.index();
        let ev = self.p.evidence.index();
        let ctx_base = take(self.record_sizes[ctx]);
        let ev_base = take(self.record_sizes.get(ev).copied().unwrap_or(1));
        let mut task_params = Vec::new();
        for (t, def) in self.p.tasks.iter().enumerate() {
            if let Some(r) = def.params {
                let base = take(self.record_sizes.get(r.index()).copied().unwrap_or(1));
                task_params.push((t as u32, r, base));
            }
        }
        let mut entities = Vec::new();
        let mut principal_slots = HashMap::new();
        let mut resource_slots = HashMap::new();
        for e in &self.p.entities {
            let mut as_p = Vec::new();
            let mut as_r = Vec::new();
            for f in &e.fields {
                let desc = self.desc(&f.ty);
                let size = self.size_of(&f.ty);
                let key = (f.name.clone(), desc.clone());
                let ps = *principal_slots
                    .entry(key.clone())
                    .or_insert_with(|| take(size));
                let rs = *resource_slots.entry(key).or_insert_with(|| take(size));
                as_p.push((f.name.clone(), desc.clone(), ps));
                as_r.push((f.name.clone(), desc, rs));
            }
            entities.push((e.name.clone(), as_p, as_r));
        }
        let slot_count = next;
        if slot_count > MAX_SLOTS {
            // the largest record, preferring a declared one to the context
            let largest = (0..self.p.records.len())
                .max_by_key(|&r| (r != ctx && r != ev, self.record_sizes[r]));
            let span = largest
                .and_then(|r| self.p.records.get(r))
                .map(|r| r.span)
                .unwrap_or_default();
            self.diags.push(ice(
                span,
                &format!("the request layout needs more than {MAX_SLOTS} slots"),
            ));
        }
        let entities = entities
            .into_iter()
            .map(|(name, ps, rs)| {
                let mut conv = |v: Vec<(String, TypeDesc, u32)>| {
                    v.into_iter()
                        .map(|(n, ty, slot)| FieldLayout {
                            name: self.intern(&n),
                            ty,
                            slot,
                        })
                        .collect::<Vec<_>>()
                };
                let as_principal = conv(ps);
                let as_resource = conv(rs);
                EntityLayout {
                    name: self.intern(&name),
                    as_principal,
                    as_resource,
                }
            })
            .collect();
        self.principal_slots = principal_slots;
        self.resource_slots = resource_slots;
        self.schema.records = std::mem::take(&mut self.records);
        self.schema.entities = entities;
        self.schema.context = (self.record_index[ctx], ctx_base);
        self.schema.evidence = (self.record_index.get(ev).copied().unwrap_or(0), ev_base);
        self.schema.special = sp;
        self.task_params = task_params
            .iter()
            .map(|&(t, r, base)| (t, (r, base)))
            .collect();
        self.schema.task_params = task_params
            .into_iter()
            .map(|(t, r, base)| {
                (
                    t,
                    self.record_index.get(r.index()).copied().unwrap_or(0),
                    base,
                )
            })
            .collect();
        self.schema.slot_count = slot_count;
    }

    fn visit_record(&self, r: usize, state: &mut Vec<u8>, order: &mut Vec<usize>) {
        if state[r] != 0 {
            return; // done, or a cycle (ruled out by the checker)
        }
        state[r] = 1;
        for f in &self.p.records[r].fields {
            if let Type::Record(inner) = f.ty.unwrap_optional() {
                self.visit_record(inner.index(), state, order);
            }
        }
        state[r] = 2;
        order.push(r);
    }

    // ------------------------------------------------------------ rules

    fn rule(&mut self, r: &Rule) -> RuleMeta {
        let when = r.when.as_ref().map(|e| self.block(e));
        let unless = r.unless.as_ref().map(|e| self.block(e));
        let mut requires = Vec::new();
        for q in &r.requires {
            let b = self.block(&q.cond);
            let label = self.intern(&q.label);
            requires.push((b, label));
        }
        if requires.len() > MAX_REQUIRES {
            self.diags.push(ice(
                r.head,
                &format!("a rule has more than {MAX_REQUIRES} `require` clauses"),
            ));
        }
        RuleMeta {
            id: self.intern(&r.id),
            forbid: r.effect == Effect::Forbid,
            task: r.task.map(|t| t.0),
            principal: r
                .principal
                .as_ref()
                .map(|v| v.iter().map(|e| e.0).collect()),
            resource: r.resource.as_ref().map(|v| v.iter().map(|e| e.0).collect()),
            actions: {
                // ascending, as the loader requires (it binary-searches them)
                let mut ids: Vec<u32> = r.actions.iter().map(|a| a.0).collect();
                ids.sort_unstable();
                ids.dedup();
                ids
            },
            ttl: r.ttl.map(|d| d.0),
            when,
            unless,
            requires,
            span: self.src(r.span),
        }
    }

    fn block(&mut self, e: &Expr) -> Block {
        let start = self.code.len() as u32;
        self.height = 0;
        self.locals = 0;
        self.expr(e, &[]);
        self.emit(Instr::Ret {}, e.span);
        let len = self.code.len() as u32 - start;
        if self.max_height > MAX_STACK || self.max_locals > MAX_LOCALS || self.code.len() > MAX_CODE
        {
            self.diags
                .push(ice(e.span, "this condition is too large to compile"));
            self.max_height = self.max_height.min(MAX_STACK);
            self.max_locals = self.max_locals.min(MAX_LOCALS);
        }
        Block {
            start,
            len,
            span: self.src(e.span),
        }
    }

    fn emit(&mut self, i: Instr, span: Span) -> usize {
        let (pop, push) = i.stack_effect();
        self.height = self.height.saturating_sub(pop) + push;
        self.max_height = self.max_height.max(self.height);
        self.code.push(i);
        let s = self.src(span);
        self.spans.push(s);
        self.code.len() - 1
    }

    /// Points the jump at `at` to the next instruction to be emitted.
    fn patch(&mut self, at: usize) {
        let off = (self.code.len() - at - 1) as u32;
        match self.code.get_mut(at) {
            Some(Instr::JumpIfFalseOrPop { off: o })
            | Some(Instr::JumpIfTrueOrPop { off: o })
            | Some(Instr::JumpIfPresentOrPop { off: o }) => *o = JumpOff(off),
            _ => {}
        }
    }

    fn new_local(&mut self) -> u32 {
        let l = self.locals;
        self.locals += 1;
        self.max_locals = self.max_locals.max(self.locals);
        l
    }

    fn value_to_val(&mut self, v: &ConstValue) -> Val {
        match v {
            ConstValue::Absent => Val::Absent,
            ConstValue::Bool(b) => Val::Bool(*b),
            ConstValue::Int(i) => Val::Int(*i),
            ConstValue::Str(s) => Val::Str(self.intern(s)),
            ConstValue::Time(t) => Val::Time(*t),
            ConstValue::Dur(d) => Val::Dur(*d),
            ConstValue::Dec(d) => Val::Dec(*d),
            ConstValue::Ip(ip) => Val::Ip(*ip),
            ConstValue::Net(n) => Val::Net(*n),
            ConstValue::Enum(e) => Val::Enum(*e),
            ConstValue::Set(items) => {
                let elems: Vec<Val> = items.iter().map(|i| self.value_to_val(i)).collect();
                let start = self.const_sets.len() as u32;
                self.const_sets.extend(elems);
                Val::Set(SetRef {
                    arena: Arena::Const,
                    start,
                    len: items.len() as u32,
                })
            }
        }
    }

    /// The pool index of constant `c`'s folded value.
    fn const_index(&mut self, c: ConstId, span: Span) -> Option<u32> {
        if let Some(k) = self.const_cache.get(&c) {
            return *k;
        }
        let k = match self.p.consts.get(c.index()).and_then(|d| d.folded.as_ref()) {
            Some(v) => {
                let v = self.value_to_val(v);
                Some(self.constant(v))
            }
            None => {
                self.diags
                    .push(ice(span, "a constant reached lowering without its value"));
                None
            }
        };
        self.const_cache.insert(c, k);
        k
    }

    /// The slot of a statically known path, if `e` is one.
    fn static_slot(&self, e: &Expr) -> Option<u32> {
        let ExprKind::Field { base, name, .. } = &e.kind else {
            return None;
        };
        match &base.kind {
            ExprKind::Var(Var::Principal) => self
                .principal_slots
                .get(&(name.clone(), self.desc(&e.ty)))
                .copied(),
            ExprKind::Var(Var::Resource) => self
                .resource_slots
                .get(&(name.clone(), self.desc(&e.ty)))
                .copied(),
            ExprKind::Var(Var::Context) => {
                Some(self.schema.context.1 + self.offsets[self.p.context.index()].get(name)?)
            }
            ExprKind::Var(Var::Evidence) => Some(
                self.schema.evidence.1 + self.offsets.get(self.p.evidence.index())?.get(name)?,
            ),
            ExprKind::Var(Var::TaskParams(t)) => {
                let (r, base) = self.task_params.get(&t.0)?;
                Some(base + self.offsets.get(r.index())?.get(name)?)
            }
            _ => {
                let Type::Record(r) = base.ty.unwrap_optional() else {
                    return None;
                };
                Some(self.static_slot(base)? + self.offsets[r.index()].get(name)?)
            }
        }
    }

    /// The slot a scalar expression reads directly, if any: a static path,
    /// a task field or `now`.
    fn direct_slot(&self, e: &Expr) -> Option<u32> {
        let sp = &self.schema.special;
        match &e.kind {
            ExprKind::Var(Var::Now) => Some(sp.now),
            ExprKind::Var(Var::Action) => Some(sp.action),
            ExprKind::TaskField(f) => Some(match f {
                TaskField::Name => sp.task_name,
                TaskField::Id => sp.task_id,
                TaskField::StartedAt => sp.task_started_at,
                TaskField::Approvals => sp.task_approvals,
                TaskField::Approvers => sp.task_approvers,
            }),
            _ if matches!(e.ty.unwrap_optional(), Type::Record(_)) => None,
            _ => self.static_slot(e),
        }
    }

    fn expr(&mut self, e: &Expr, params: &[u32]) {
        let span = e.span;
        match &e.kind {
            ExprKind::Lit(l) => {
                let v = match l {
                    Literal::Bool(b) => Val::Bool(*b),
                    Literal::Int(i) => Val::Int(*i),
                    Literal::Str(s) => Val::Str(self.intern(s)),
                    Literal::Time(t) => Val::Time(t.0),
                    Literal::Duration(d) => Val::Dur(d.0),
                    Literal::Decimal(d) => Val::Dec(d.0),
                    Literal::Ip(ip) => Val::Ip(*ip),
                    Literal::Net(n) => Val::Net(*n),
                    Literal::Enum(_, v) => Val::Enum(*v),
                };
                let k = self.constant(v);
                self.emit(Instr::Const { k: ConstIdx(k) }, span);
            }
            ExprKind::Set(_) => match self.p.closed_sets.get(&span) {
                Some(v) => {
                    let v = self.value_to_val(v);
                    let k = self.constant(v);
                    self.emit(Instr::Const { k: ConstIdx(k) }, span);
                }
                None => self.diags.push(ice(
                    span,
                    "a set literal reached lowering without its value",
                )),
            },
            ExprKind::Var(v) => {
                let sp = &self.schema.special;
                let instr = match v {
                    Var::Now => Instr::Slot {
                        slot: SlotIdx(sp.now),
                    },
                    Var::Action => Instr::Slot {
                        slot: SlotIdx(sp.action),
                    },
                    Var::Context => Instr::Rec {
                        slot: SlotIdx(self.schema.context.1),
                    },
                    Var::Evidence => Instr::Rec {
                        slot: SlotIdx(self.schema.evidence.1),
                    },
                    Var::TaskParams(t) => match self.task_params.get(&t.0) {
                        Some(&(_, base)) => Instr::Rec {
                            slot: SlotIdx(base),
                        },
                        None => {
                            self.diags
                                .push(ice(span, "task parameters without a layout"));
                            return;
                        }
                    },
                    Var::Param(i) => Instr::Local {
                        i: LocalIdx(params.get(*i as usize).copied().unwrap_or(0)),
                    },
                    Var::Principal | Var::Resource | Var::Task => {
                        self.diags
                            .push(ice(span, "an entity or task is used as a value"));
                        return;
                    }
                };
                self.emit(instr, span);
            }
            ExprKind::Const(c) => {
                if let Some(k) = self.const_index(*c, span) {
                    self.emit(Instr::Const { k: ConstIdx(k) }, span);
                }
            }
            ExprKind::Field { base, name, .. } => {
                let is_rec = matches!(e.ty.unwrap_optional(), Type::Record(_));
                if let Some(slot) = self.static_slot(e) {
                    let i = if is_rec {
                        Instr::Rec {
                            slot: SlotIdx(slot),
                        }
                    } else {
                        Instr::Slot {
                            slot: SlotIdx(slot),
                        }
                    };
                    self.emit(i, span);
                    return;
                }
                let Type::Record(r) = base.ty.unwrap_optional() else {
                    self.diags
                        .push(ice(span, "a field access has no slot and no record"));
                    return;
                };
                let off = self.offsets[r.index()].get(name).copied().unwrap_or(1);
                self.expr(base, params);
                let i = if is_rec {
                    Instr::FieldRec { off: FieldOff(off) }
                } else {
                    Instr::Field { off: FieldOff(off) }
                };
                self.emit(i, span);
            }
            ExprKind::TaskField(_) => {
                if let Some(slot) = self.direct_slot(e) {
                    self.emit(
                        Instr::Slot {
                            slot: SlotIdx(slot),
                        },
                        span,
                    );
                }
            }
            ExprKind::Call(f, args) => {
                let mut locals = Vec::with_capacity(args.len());
                for a in args {
                    self.expr(a, params);
                    let l = self.new_local();
                    self.emit(Instr::SetLocal { i: LocalIdx(l) }, a.span);
                    locals.push(l);
                }
                let body = &self.p.fns[f.index()].body;
                if self.code.len() > MAX_CODE {
                    return;
                }
                self.expr(body, &locals);
            }
            ExprKind::Method {
                method: m,
                recv,
                args,
            } => {
                self.expr(recv, params);
                for a in args {
                    self.expr(a, params);
                }
                let code = match m {
                    Method::StartsWith => method::STARTS_WITH,
                    Method::EndsWith => method::ENDS_WITH,
                    Method::StrContains => method::STR_CONTAINS,
                    Method::Contains => method::CONTAINS,
                    Method::ContainsAny => method::CONTAINS_ANY,
                    Method::ContainsAll => method::CONTAINS_ALL,
                    Method::IsEmpty => method::IS_EMPTY,
                    Method::Len => method::LEN,
                };
                self.emit(Instr::Method { m: code }, span);
            }
            ExprKind::Not(x) => {
                self.expr(x, params);
                self.emit(Instr::Not {}, span);
            }
            ExprKind::Neg(x) => {
                self.expr(x, params);
                self.emit(Instr::Neg {}, span);
            }
            ExprKind::And(a, b) | ExprKind::Or(a, b) => {
                self.expr(a, params);
                let j = if matches!(e.kind, ExprKind::And(..)) {
                    Instr::JumpIfFalseOrPop { off: JumpOff(0) }
                } else {
                    Instr::JumpIfTrueOrPop { off: JumpOff(0) }
                };
                let at = self.emit(j, span);
                self.expr(b, params);
                self.patch(at);
            }
            ExprKind::Cmp(op, a, b) => {
                let code = match op {
                    CmpOp::Eq => cmp::EQ,
                    CmpOp::Ne => cmp::NE,
                    CmpOp::Lt => cmp::LT,
                    CmpOp::Le => cmp::LE,
                    CmpOp::Gt => cmp::GT,
                    CmpOp::Ge => cmp::GE,
                };
                // Fused slot-versus-literal compare, either way round.
                let mirrored = match code {
                    cmp::LT => cmp::GT,
                    cmp::LE => cmp::GE,
                    cmp::GT => cmp::LT,
                    cmp::GE => cmp::LE,
                    c => c,
                };
                for (slot_side, lit_side, op) in [(a, b, code), (b, a, mirrored)] {
                    if let (Some(slot), ExprKind::Lit(_)) =
                        (self.direct_slot(slot_side), &lit_side.kind)
                    {
                        let before = self.code.len();
                        self.expr(lit_side, params);
                        if let Some(Instr::Const { k }) = self.code.get(before).copied() {
                            self.code.truncate(before);
                            self.spans.truncate(before);
                            self.height -= 1;
                            self.emit(
                                Instr::CmpSlotConst {
                                    op,
                                    slot: SlotIdx(slot),
                                    k,
                                },
                                span,
                            );
                            return;
                        }
                    }
                }
                self.expr(a, params);
                self.expr(b, params);
                self.emit(Instr::Cmp { op: code }, span);
            }
            ExprKind::Arith(op, a, b) => {
                self.expr(a, params);
                self.expr(b, params);
                let i = match op {
                    ArithOp::Add => Instr::Add {},
                    ArithOp::Sub => Instr::Sub {},
                    ArithOp::Mul => Instr::Mul {},
                };
                self.emit(i, span);
            }
            ExprKind::In(a, b) => {
                if let ExprKind::Set(items) = &b.kind {
                    if !b.is_closed() {
                        // `x in [a, b]` with request values is `x == a or
                        // x == b` (`x in a or x in b` for networks): items
                        // are tried left to right up to the first match, and
                        // none is evaluated when `x` is absent.
                        self.expr(a, params);
                        let t = self.new_local();
                        self.emit(Instr::SetLocal { i: LocalIdx(t) }, a.span);
                        let mut jumps = Vec::new();
                        // (`[]` is closed, so there is at least one item)
                        if a.ty.is_optional() {
                            self.emit(Instr::Local { i: LocalIdx(t) }, a.span);
                            self.emit(Instr::Has {}, a.span);
                            jumps
                                .push(self.emit(Instr::JumpIfFalseOrPop { off: JumpOff(0) }, span));
                        }
                        for (n, item) in items.iter().enumerate() {
                            self.emit(Instr::Local { i: LocalIdx(t) }, a.span);
                            self.expr(item, params);
                            let test = if *item.ty.unwrap_optional() == Type::Net {
                                Instr::In {}
                            } else {
                                Instr::Cmp { op: cmp::EQ }
                            };
                            self.emit(test, item.span);
                            if n + 1 < items.len() {
                                jumps.push(
                                    self.emit(Instr::JumpIfTrueOrPop { off: JumpOff(0) }, span),
                                );
                            }
                        }
                        for j in jumps {
                            self.patch(j);
                        }
                        return;
                    }
                }
                self.expr(a, params);
                self.expr(b, params);
                self.emit(Instr::In {}, span);
            }
            ExprKind::Like(a, pat) => {
                self.expr(a, params);
                let pieces: Vec<u32> = pat.pieces.iter().map(|p| self.intern(p)).collect();
                let p = match self.patterns.iter().position(|q| *q == pieces) {
                    Some(i) => i as u32,
                    None => {
                        self.patterns.push(pieces);
                        self.patterns.len() as u32 - 1
                    }
                };
                self.emit(Instr::Like { p: PatternIdx(p) }, span);
            }
            ExprKind::Default(a, b) => {
                self.expr(a, params);
                let at = self.emit(Instr::JumpIfPresentOrPop { off: JumpOff(0) }, span);
                self.expr(b, params);
                self.patch(at);
            }
            ExprKind::Has(x) => {
                self.expr(x, params);
                self.emit(Instr::Has {}, span);
            }
            ExprKind::Error => {
                self.diags
                    .push(ice(span, "an expression with errors reached lowering"));
            }
        }
    }
}

/// How many approvals task `task` needs before the decision service
/// starts it: over the task's permits, the smallest of each permit's
/// largest literal bound on `task.approvals` (`task.approvals >= N` needs
/// N, `> N` needs N + 1, either way round) among its `require` clauses and
/// the top-level `and` conjuncts of its `when`; 0 when a permit has none
/// or the task has no permit. The bound is a lower bound for the store:
/// evaluation still checks every condition on each request.
pub fn approvals_needed(p: &Program, task: u32) -> u32 {
    p.rules
        .iter()
        .filter(|r| r.effect == Effect::Permit && r.task.is_some_and(|t| t.0 == task))
        .map(|r| {
            let mut need = 0u32;
            let mut conjuncts: Vec<&Expr> = r.requires.iter().map(|q| &q.cond).collect();
            if let Some(w) = &r.when {
                conjuncts.push(w);
            }
            while let Some(e) = conjuncts.pop() {
                match &e.kind {
                    ExprKind::And(a, b) => {
                        conjuncts.push(a);
                        conjuncts.push(b);
                    }
                    ExprKind::Cmp(op, a, b) => need = need.max(approval_bound(*op, a, b)),
                    _ => {}
                }
            }
            need
        })
        .min()
        .unwrap_or(0)
}

/// The approvals `a op b` needs, when it compares `task.approvals` with an
/// integer literal; 0 otherwise.
fn approval_bound(op: CmpOp, a: &Expr, b: &Expr) -> u32 {
    let approvals = |e: &Expr| matches!(e.kind, ExprKind::TaskField(TaskField::Approvals));
    let literal = |e: &Expr| match e.kind {
        ExprKind::Lit(Literal::Int(n)) => Some(n),
        _ => None,
    };
    // Normalise to `task.approvals op n`.
    let (op, n) = match (approvals(a), literal(b), approvals(b), literal(a)) {
        (true, Some(n), _, _) => (op, n),
        (_, _, true, Some(n)) => match op {
            CmpOp::Lt => (CmpOp::Gt, n),
            CmpOp::Le => (CmpOp::Ge, n),
            CmpOp::Gt => (CmpOp::Lt, n),
            CmpOp::Ge => (CmpOp::Le, n),
            other => (other, n),
        },
        _ => return 0,
    };
    let need = match op {
        CmpOp::Ge | CmpOp::Eq => n,
        CmpOp::Gt => n.saturating_add(1),
        _ => 0,
    };
    u32::try_from(need.clamp(0, i64::from(u32::MAX))).unwrap_or(0)
}
