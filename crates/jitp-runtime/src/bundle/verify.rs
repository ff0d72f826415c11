//! Verification: a decoded or assembled bundle is checked completely before
//! anything evaluates it. A checksum only detects corruption; whoever can
//! rewrite a bundle can repair it, so verification must not trust anything
//! the checksum covers. What it establishes:
//!
//! - **References**: every string, slot, constant, pattern, local, entity,
//!   action, task and rule index in range; the rule index sorted and
//!   consistent with every rule; one source text per file.
//! - **The schema layout**: records are a presence marker followed by their
//!   fields back to back (sizes match their fields exactly, records only
//!   contain lower-numbered records); the built-in slots (`now`, `action`,
//!   `task.name`, `task.id`, `task.started_at`, `task.approvals`,
//!   `task.approvers`), the context and evidence records and the entity
//!   fields occupy **disjoint** slots, and **every slot belongs to exactly
//!   one of them**, so every slot has one type: the type its layout entry
//!   declares (the built-ins have the types the binder writes: `Time`,
//!   `String`, `Int`, `Set<String>`). Two entity types may share a slot
//!   only for a field with the same name and type in the same role (a
//!   request binds one principal and one resource); principal and resource
//!   fields never share. An entity's first field (its `id`) is a `String`.
//! - **Constants**: each has the type of its value; no constant is absent
//!   or a record; a constant set's elements all have one type.
//! - **Blocks**, by abstract interpretation over each block's instructions,
//!   with a type per stack entry and per local (bool, int, string, time,
//!   duration, decimal, ip, net, an enum, a set of one of those, a record; each
//!   possibly absent):
//!   - jumps go forward and stay inside the block; every instruction is
//!     reachable; where paths meet (a jump target) they have the same stack
//!     height and the same type in every entry (absent if absent on either
//!     path); a local set on only one path, or differently, is unset there;
//!   - the block starts with an empty stack and no local set: a local is
//!     read only after it is set on every path, never a value an earlier
//!     block left behind;
//!   - every instruction gets operands of the types it needs: `Slot` reads a
//!     value slot (not a record's marker) with its layout type; `Rec` a
//!     marker; `Field`/`FieldRec` a field the record's layout has at that
//!     offset, scalar or record respectively; `Not`, `Neg`, `Add`, `Sub`,
//!     `Mul` and the conditional jumps present values (`Bool`; `Int`,
//!     `Duration` or `Decimal`; `Int + Int`, `Time ± Duration`, `Duration +
//!     Time`, `Time - Time`, `Duration ± Duration`, `Decimal ± Decimal`;
//!     `Decimal * Int`, `Int * Decimal`); `==`/`!=` two values of one
//!     type, `<`, `<=`, `>`, `>=` two `Int`s, `Time`s, `Duration`s or
//!     `Decimal`s (either
//!     side may be absent: the comparison is then false); `in` an element
//!     of the set's type, an `Ip` in a `Net` or a set of them, or a `Time`
//!     in a window record (`Time` fields at offsets 1 and 2); `like` and the
//!     string methods strings, the set methods sets with elements of one
//!     type; records are never compared;
//!   - `Ret` is the last instruction and finds exactly one present `Bool`.
//!
//!   The analysis is bounded (the types held for jump targets not yet
//!   reached, and the types copied in all), far above what the compiler
//!   produces; a block beyond the bounds is rejected, so verification
//!   takes time and memory linear in the bundle.
//!
//!   An enum constant carries its variant but not its enum: it takes the
//!   enum its use requires, if that enum has the variant. The empty
//!   constant set has the element type its use requires.
//!
//! So a bundle that passes is well-typed: every value an instruction sees
//! has the type verification assigned it, or is absent (an optional, a
//! field of an absent record or of another entity type, a task slot outside
//! a task), and the VM treats absence safely everywhere. The VM still
//! checks every type and turns a mismatch (which verification rules out)
//! into an evaluation error, which denies in a guard and makes a permit not
//! apply; it never answers a comparison of mismatched types.

// On the decision path: no indexing or slicing that could panic, no
// explicit panics (checked access, errors or documented defaults instead).
#![deny(clippy::indexing_slicing, clippy::panic)]

use super::types::{Base, Layout, Scalar, SlotUse, Ty};
use super::*;
use crate::bytecode::{cmp, method, CmpOp, Instr};
use crate::val::{Arena, SetRef, Val};
use crate::value::Cidr;

impl Image {
    /// Checks every internal reference. Every way to make a
    /// [`Bundle`] (loading, or the compiler's `Bundle::from_image`) calls it.
    pub(crate) fn verify(&self) -> Result<(), BundleError> {
        let plain = |b: u8| b.is_ascii_alphanumeric() || b".+-".contains(&b);
        if self.builder.len() > BUILDER_LEN || !self.builder.bytes().all(plain) {
            return err(format!(
                "the builder `{}` is not a jitp version of at most {BUILDER_LEN} bytes",
                self.builder.escape_debug()
            ));
        }
        if self.sources.len() != self.files.len() {
            return err(format!(
                "{} source texts for {} files",
                self.sources.len(),
                self.files.len()
            ));
        }
        let nstr = self.strings.len() as u32;
        let s = &self.schema;
        let str_ok = |id: u32, what: &str| -> Result<(), BundleError> {
            if id < nstr {
                Ok(())
            } else {
                err(format!("{what}: string {id} out of range"))
            }
        };
        let slot_ok = |slot: u32, what: &str| -> Result<(), BundleError> {
            if slot < s.slot_count {
                Ok(())
            } else {
                err(format!("{what}: slot {slot} out of range"))
            }
        };
        for (name, variants) in &s.enums {
            str_ok(*name, "enum name")?;
            for v in variants {
                str_ok(*v, "enum variant")?;
            }
        }
        let type_ok = |t: &TypeDesc, below_record: u32| -> Result<u32, BundleError> {
            type_size(t, &s.records, &s.enums, below_record, 0)
        };
        if s.slot_count > MAX_SLOTS {
            return err(format!(
                "{} request slots, more than the {MAX_SLOTS} a bundle may have",
                s.slot_count
            ));
        }
        // Records are laid out as a presence marker followed by their
        // fields, back to back; each fits in the request's slots.
        for (i, r) in s.records.iter().enumerate() {
            str_ok(r.name, "record name")?;
            let mut next = 1u32;
            for f in &r.fields {
                str_ok(f.name, "field name")?;
                let size = type_ok(&f.ty, i as u32)?;
                if f.slot != next {
                    return err(format!("record {i}: field offset {} out of range", f.slot));
                }
                next = next.saturating_add(size);
            }
            if r.size != next || r.size > s.slot_count {
                return err(format!(
                    "record {i}: size {} does not match its fields",
                    r.size
                ));
            }
        }
        // Every slot belongs to something: the built-ins, the context, the
        // evidence or an entity field.
        let mut used = 0u32;
        let nrec = s.records.len() as u32;
        for (i, e) in s.entities.iter().enumerate() {
            str_ok(e.name, "entity name")?;
            for f in e.as_principal.iter().chain(&e.as_resource) {
                str_ok(f.name, "field name")?;
                let size = type_ok(&f.ty, nrec)?;
                let end = f.slot.checked_add(size);
                if end.is_none_or(|end| end > s.slot_count) {
                    return err(format!("entity {i}: field slot {} out of range", f.slot));
                }
                used = used.max(end.unwrap_or(0));
            }
        }
        for (rec, base) in [s.context, s.evidence] {
            let Some(r) = s.records.get(rec as usize) else {
                return err("context or evidence record out of range");
            };
            let end = base.checked_add(r.size);
            if end.is_none_or(|end| end > s.slot_count) {
                return err("context or evidence slots out of range");
            }
            used = used.max(end.unwrap_or(0));
        }
        let mut prev_task: Option<u32> = None;
        for &(t, rec, base) in &s.task_params {
            if t as usize >= self.tasks.len() || prev_task.is_some_and(|p| p >= t) {
                return err("task parameters: task out of range or out of order");
            }
            prev_task = Some(t);
            let Some(r) = s.records.get(rec as usize) else {
                return err("task parameter record out of range");
            };
            let end = base.checked_add(r.size);
            if end.is_none_or(|end| end > s.slot_count) {
                return err("task parameter slots out of range");
            }
            used = used.max(end.unwrap_or(0));
        }
        let sp = &s.special;
        for slot in [
            sp.now,
            sp.action,
            sp.task_name,
            sp.task_id,
            sp.task_started_at,
            sp.task_approvals,
            sp.task_approvers,
        ] {
            slot_ok(slot, "built-in slot")?;
            used = used.max(slot + 1);
        }
        if used != s.slot_count {
            return err(format!(
                "{} request slots declared but {used} laid out",
                s.slot_count
            ));
        }
        for v in self.consts.iter() {
            self.verify_val(v, true)?;
        }
        for v in self.const_sets.iter() {
            self.verify_val(v, false)?;
        }
        // The type of every slot and every constant, for the blocks.
        let layout = self.layout()?;
        let consts = self.const_types()?;
        for p in &self.patterns {
            if p.is_empty() {
                return err("empty pattern");
            }
            for id in p {
                str_ok(*id, "pattern")?;
            }
        }
        let nent = s.entities.len() as u32;
        for a in &self.actions {
            str_ok(a.name, "action name")?;
            if a.sensitivity > 3 {
                return err("action sensitivity out of range");
            }
            if a.on.iter().any(|e| *e >= nent) {
                return err("action resource type out of range");
            }
            if a.grants.is_some_and(|t| t as usize >= self.tasks.len()) {
                return err("action grants a task out of range");
            }
        }
        for t in &self.tasks {
            str_ok(t.name, "task name")?;
            for n in &t.notify {
                str_ok(*n, "notify channel")?;
            }
        }
        if self.spans.len() != self.code.len() {
            return err("source map does not match the code");
        }
        for sp in &self.spans {
            if sp.file as usize >= self.files.len().max(1) {
                return err("source span file out of range");
            }
        }
        if self.max_stack > MAX_STACK || self.max_locals > MAX_LOCALS {
            return err("stack or locals limit exceeded");
        }
        let nact = self.actions.len() as u32;
        let ntask = self.tasks.len() as u32;
        let mut pairs = 0usize;
        for (ri, r) in self.rules.iter().enumerate() {
            str_ok(r.id, "rule id")?;
            if r.task.is_some_and(|t| t >= ntask) {
                return err(format!("rule {ri}: task out of range"));
            }
            for list in [&r.principal, &r.resource].into_iter().flatten() {
                if list.iter().any(|e| *e >= nent) {
                    return err(format!("rule {ri}: entity type out of range"));
                }
            }
            if r.actions.iter().any(|a| *a >= nact) {
                return err(format!("rule {ri}: action out of range"));
            }
            if r.actions.windows(2).any(|w| matches!(w, [a, b] if a >= b)) {
                return err(format!("rule {ri}: actions not ascending"));
            }
            if r.requires.len() > MAX_REQUIRES {
                return err(format!("rule {ri}: too many requires"));
            }
            if r.forbid && !r.requires.is_empty() {
                return err(format!("rule {ri}: a guard with requires"));
            }
            for b in r
                .when
                .iter()
                .chain(r.unless.iter())
                .chain(r.requires.iter().map(|(b, _)| b))
            {
                self.verify_block(b, &layout, &consts).map_err(|e| {
                    BundleError::new(e.kind, e.offset, format!("rule {ri}: {}", e.message()))
                })?;
            }
            for (_, label) in &r.requires {
                str_ok(*label, "require label")?;
            }
            pairs += r.actions.len();
        }
        // Every listing in the index is checked below to be a distinct
        // (rule, action) pair of a rule with that scope and kind; as many
        // listings as pairs then means every pair is listed.
        let mut listings = 0usize;
        let nrules = self.rules.len() as u32;
        let mut prev: Option<(u32, u32)> = None;
        for e in &self.index {
            if e.scope > ntask || e.action >= nact {
                return err("index entry out of range");
            }
            if prev.is_some_and(|p| p >= (e.scope, e.action)) {
                return err("index is not sorted");
            }
            prev = Some((e.scope, e.action));
            for (range, forbid) in [(e.guards, true), (e.permits, false)] {
                let end = range.0.checked_add(range.1);
                if end.is_none_or(|end| end as usize > self.index_rules.len()) {
                    return err("index range out of bounds");
                }
                let slice = self.index_slice(range);
                if slice.windows(2).any(|w| matches!(w, [a, b] if a >= b)) {
                    return err("index range not ascending");
                }
                listings += slice.len();
                for &ri in slice {
                    let Some(r) = self.rules.get(ri as usize).filter(|_| ri < nrules) else {
                        return err("index refers to a missing rule");
                    };
                    if r.forbid != forbid
                        || r.task.map_or(0, |t| t + 1) != e.scope
                        || r.actions.binary_search(&e.action).is_err()
                    {
                        return err("index entry disagrees with its rule");
                    }
                }
            }
        }
        if listings != pairs {
            return err("a rule is missing from the rule index");
        }
        Ok(())
    }

    fn verify_val(&self, v: &Val, allow_sets: bool) -> Result<(), BundleError> {
        match *v {
            Val::Str(id) if id as usize >= self.strings.len() => {
                err("constant string out of range")
            }
            Val::Set(SetRef { arena, start, len }) => {
                if !allow_sets || arena != Arena::Const {
                    return err("nested or non-constant set in the constant pool");
                }
                match start.checked_add(len) {
                    Some(end) if end as usize <= self.const_sets.len() => Ok(()),
                    _ => err("constant set out of range"),
                }
            }
            Val::Rec(_) | Val::Present => err("record in the constant pool"),
            // The decoder parses networks; an assembled image is checked
            // the same way.
            Val::Net(n) => match Cidr::parse(&format!("{}/{}", n.addr, n.prefix)) {
                Ok(_) => Ok(()),
                Err(e) => err(format!("invalid network constant: {e}")),
            },
            _ => Ok(()),
        }
    }

    /// Checks one block by abstract interpretation: operands in range,
    /// jumps forward and inside, the stack height and the type of every
    /// stack entry and local consistent wherever paths meet, every operand
    /// of the type its instruction needs, and exactly one present `Bool` at
    /// `Ret`. See the module documentation for the rules.
    fn verify_block(&self, b: &Block, layout: &Layout, consts: &[Ty]) -> Result<(), BundleError> {
        let start = b.start as usize;
        let end = start
            .checked_add(b.len as usize)
            .filter(|e| *e <= self.code.len());
        let Some(end) = end else {
            return err("block out of range");
        };
        if b.len == 0 || !matches!(self.code.get(end - 1), Some(Instr::Ret {})) {
            return err("block does not end in `Ret`");
        }
        let Some(code) = self.code.get(start..end) else {
            return err("block out of range");
        };
        // The state on entry to each instruction, once known; the block
        // starts with an empty stack and no local set (locals left by an
        // earlier block are never read).
        let mut states: Vec<Option<State>> = std::iter::once(Some(State {
            stack: Vec::new(),
            locals: Vec::new(),
        }))
        .chain(std::iter::repeat_n(None, code.len()))
        .collect();
        let nconst = self.consts.len() as u32;
        let nslot = self.schema.slot_count;
        // Bounds on the analysis, far above what the compiler produces: the
        // types held for jump targets not reached yet, and the types
        // copied and merged in all.
        let (mut pending, mut work) = (0usize, 0usize);
        let work_limit = (1usize << 24).saturating_add(code.len().saturating_mul(32));
        for (pc, instr) in code.iter().enumerate() {
            let at = start + pc;
            let Some(mut st) = states.get_mut(pc).and_then(Option::take) else {
                return err(format!("unreachable instruction at {at}"));
            };
            pending = pending.saturating_sub(st.size());
            let in_range = match *instr {
                Instr::Const { k } => k.0 < nconst,
                Instr::Slot { slot } | Instr::Rec { slot } => slot.0 < nslot,
                Instr::Field { off } | Instr::FieldRec { off } => off.0 >= 1 && off.0 < nslot,
                Instr::Local { i } | Instr::SetLocal { i } => i.0 < self.max_locals,
                Instr::Cmp { op } => op.index() < cmp::SYMBOLS.len(),
                Instr::CmpSlotConst { op, slot, k } => {
                    op.index() < cmp::SYMBOLS.len() && slot.0 < nslot && k.0 < nconst
                }
                Instr::Like { p } => p.index() < self.patterns.len(),
                Instr::Method { m } => m.index() < method::ARGS.len(),
                _ => true,
            };
            if !in_range {
                return err(format!("operand out of range at {at}"));
            }
            let h = st.stack.len() as u32;
            let (pop, push) = instr.stack_effect();
            if h < pop {
                return err(format!("stack underflow at {at}"));
            }
            if let Instr::Ret {} = instr {
                if h != 1 {
                    return err(format!("`Ret` with {h} values on the stack at {at}"));
                }
                if pc + 1 != code.len() {
                    // an early return would leave later code unreachable
                    return err(format!("`Ret` before the end of a block at {at}"));
                }
                let t = st.pop();
                if t != Some(Ty::BOOL) {
                    return err(format!(
                        "the condition is {}, not a `Bool`, at {at}",
                        self.maybe_name(t)
                    ));
                }
                continue;
            }
            if (h - pop).saturating_add(push) > self.max_stack {
                return err(format!("stack deeper than declared at {at}"));
            }
            // The state where a taken jump lands.
            let taken = self.step(*instr, &mut st, layout, consts).map_err(|m| {
                BundleError::new(BundleErrorKind::Invalid, None, format!("{m} at {at}"))
            })?;
            let mut flow = |target: usize, st: State| -> Result<(), BundleError> {
                // The last instruction is `Ret`: jumps may land on it but not past it.
                if target >= code.len() {
                    return err(format!("jump out of its block at {at}"));
                }
                work = work.saturating_add(st.size());
                match states.get_mut(target) {
                    None => return err(format!("jump out of its block at {at}")),
                    Some(slot @ None) => {
                        pending = pending.saturating_add(st.size());
                        *slot = Some(st);
                    }
                    Some(Some(existing)) => {
                        pending = pending.saturating_sub(existing.size());
                        self.merge(existing, &st, start + target)?;
                        pending = pending.saturating_add(existing.size());
                    }
                }
                if pending > MAX_PENDING || work > work_limit {
                    return err(format!("block too complex to verify at {at}"));
                }
                Ok(())
            };
            if let (Some(off), Some(t)) = (instr.jump(), taken) {
                flow(pc + 1 + off.index(), t)?;
            }
            flow(pc + 1, st)?;
        }
        Ok(())
    }

    fn maybe_name(&self, t: Option<Ty>) -> String {
        t.map_or_else(|| "missing".into(), |t| self.ty_name(t))
    }

    /// Merges `new` into the state `into` where two paths meet: the same
    /// height, the same type in each stack entry (absent if absent on
    /// either path); a local differently typed or unset on either path is
    /// unset.
    fn merge(&self, into: &mut State, new: &State, at: usize) -> Result<(), BundleError> {
        if into.stack.len() != new.stack.len() {
            return err(format!("inconsistent stack height at {at}"));
        }
        for (a, b) in into.stack.iter_mut().zip(&new.stack) {
            match self.unify_ty(*a, *b) {
                Some(t) => *a = t,
                None => {
                    return err(format!(
                        "paths meeting at {at} disagree on a stack entry: {} and {}",
                        self.ty_name(*a),
                        self.ty_name(*b)
                    ))
                }
            }
        }
        for (a, b) in into.locals.iter_mut().zip(&new.locals) {
            *a = match (*a, *b) {
                (Some(x), Some(y)) => self.unify_ty(x, y),
                _ => None,
            };
        }
        // the locals past the end of `new` are unset on its path
        into.locals.truncate(new.locals.len());
        Ok(())
    }

    /// The effect of `instr` (not `Ret`) on the types in `st`; for a jump,
    /// also the state where it lands. The message of an error names the
    /// instruction; the caller adds its position.
    fn step(
        &self,
        instr: Instr,
        st: &mut State,
        layout: &Layout,
        consts: &[Ty],
    ) -> Result<Option<State>, String> {
        let mnemonic = instr.mnemonic();
        let name = |t: Ty| self.ty_name(t);
        // Pops a value (the height was checked).
        let pop = |st: &mut State| st.pop().ok_or_else(|| "stack underflow".to_string());
        let slot_value = |slot: u32| match layout.slot(slot) {
            Some(SlotUse::Value(t)) => Ok(t),
            Some(SlotUse::Marker { .. }) => Err(format!(
                "`{mnemonic}` reads slot {slot}, a record's presence marker, as a value"
            )),
            None => Err(format!("slot {slot} out of range")),
        };
        let konst = |k: u32| {
            consts
                .get(k as usize)
                .copied()
                .ok_or_else(|| format!("constant {k} out of range"))
        };
        // A present value of one of the scalar types accepted.
        let present = |t: Ty, what: &str, ok: &[Scalar]| match t.as_scalar() {
            Some(s) if !t.opt && ok.contains(&s) => Ok(s),
            _ => Err(format!("`{mnemonic}` needs {what}, not {}", name(t))),
        };
        let pushed = match instr {
            Instr::Const { k } => konst(k.0)?,
            Instr::Slot { slot } => slot_value(slot.0)?,
            Instr::Rec { slot } => match layout.slot(slot.0) {
                Some(SlotUse::Marker { rec, opt }) => Ty {
                    base: Base::Rec(rec),
                    opt,
                },
                _ => return Err(format!("`Rec` on slot {}, not a record's marker", slot.0)),
            },
            Instr::Field { off } | Instr::FieldRec { off } => {
                let r = pop(st)?;
                let Base::Rec(rec) = r.base else {
                    return Err(format!("`{mnemonic}` needs a record, not {}", name(r)));
                };
                let field = self.field_at(rec, off.0);
                let Some(field) = field else {
                    return Err(format!(
                        "`{mnemonic}`: {} has no field at offset {}",
                        name(r),
                        off.0
                    ));
                };
                let t = self
                    .desc_ty(&field.ty)
                    .map_err(|e| e.message().to_string())?;
                let is_rec = matches!(t.base, Base::Rec(_));
                if is_rec != matches!(instr, Instr::FieldRec { .. }) {
                    return Err(format!(
                        "`{mnemonic}` reads a field of type {} at offset {}",
                        name(t),
                        off.0
                    ));
                }
                t.or_absent(r.opt)
            }
            Instr::Local { i } => st
                .locals
                .get(i.index())
                .copied()
                .flatten()
                .ok_or_else(|| format!("local {} read before it is set on every path", i.0))?,
            Instr::SetLocal { i } => {
                let t = pop(st)?;
                if i.0 >= self.max_locals {
                    return Err(format!("local {} out of range", i.0));
                }
                if st.locals.len() <= i.index() {
                    st.locals.resize(i.index() + 1, None);
                }
                match st.locals.get_mut(i.index()) {
                    Some(l) => *l = Some(t),
                    None => return Err(format!("local {} out of range", i.0)),
                }
                return Ok(None);
            }
            Instr::Not {} => {
                present(pop(st)?, "a present `Bool`", &[Scalar::Bool])?;
                Ty::BOOL
            }
            Instr::Neg {} => Ty::scalar(present(
                pop(st)?,
                "a present `Int`, `Duration` or `Decimal`",
                &[Scalar::Int, Scalar::Dur, Scalar::Dec],
            )?),
            Instr::Add {} | Instr::Sub {} => {
                let b = pop(st)?;
                let a = pop(st)?;
                let ok = [Scalar::Int, Scalar::Time, Scalar::Dur, Scalar::Dec];
                let what = "present `Int`, `Time`, `Duration` or `Decimal` operands";
                let (x, y) = (present(a, what, &ok)?, present(b, what, &ok)?);
                let add = matches!(instr, Instr::Add {});
                Ty::scalar(match (x, y) {
                    (Scalar::Int, Scalar::Int) => Scalar::Int,
                    (Scalar::Time, Scalar::Dur) => Scalar::Time,
                    (Scalar::Dur, Scalar::Time) if add => Scalar::Time,
                    (Scalar::Time, Scalar::Time) if !add => Scalar::Dur,
                    (Scalar::Dur, Scalar::Dur) => Scalar::Dur,
                    (Scalar::Dec, Scalar::Dec) => Scalar::Dec,
                    _ => return Err(format!("`{mnemonic}` of {} and {}", name(a), name(b))),
                })
            }
            Instr::Mul {} => {
                let b = pop(st)?;
                let a = pop(st)?;
                let ok = [Scalar::Int, Scalar::Dec];
                let what = "present `Int` or `Decimal` operands";
                match (present(a, what, &ok)?, present(b, what, &ok)?) {
                    (Scalar::Dec, Scalar::Int) | (Scalar::Int, Scalar::Dec) => {
                        Ty::scalar(Scalar::Dec)
                    }
                    _ => return Err(format!("`{mnemonic}` of {} and {}", name(a), name(b))),
                }
            }
            Instr::Cmp { op } => {
                let b = pop(st)?;
                let a = pop(st)?;
                self.comparable(op, a, b)
                    .map_err(|m| format!("`Cmp`: {m}"))?;
                Ty::BOOL
            }
            Instr::CmpSlotConst { op, slot, k } => {
                let (a, b) = (slot_value(slot.0)?, konst(k.0)?);
                self.comparable(op, a, b).map_err(|m| {
                    format!("`CmpSlotConst` (slot {}, constant {}): {m}", slot.0, k.0)
                })?;
                Ty::BOOL
            }
            Instr::In {} => {
                let b = pop(st)?;
                let a = pop(st)?;
                let ok = match (a.base, b.base) {
                    (Base::Scalar(Scalar::Ip), Base::Scalar(Scalar::Net)) => true,
                    (Base::Scalar(Scalar::Time), Base::Rec(r)) => self.is_window(r),
                    (Base::Scalar(Scalar::Ip), Base::Set(Some(Scalar::Net))) => true,
                    (Base::Scalar(_), Base::Set(None)) => true,
                    (Base::Scalar(x), Base::Set(Some(e))) => self.unify(x, e).is_some(),
                    _ => false,
                };
                if !ok {
                    return Err(format!("`In`: {} in {}", name(a), name(b)));
                }
                Ty::BOOL
            }
            Instr::Like { .. } => {
                let a = pop(st)?;
                if a.as_scalar() != Some(Scalar::Str) {
                    return Err(format!("`Like` needs a `String`, not {}", name(a)));
                }
                Ty::BOOL
            }
            Instr::Method { m } => {
                let arg = if m.args() == 1 { Some(pop(st)?) } else { None };
                let recv = pop(st)?;
                let mname = method::NAMES.get(m.index()).copied().unwrap_or("?");
                let bad = || {
                    Err(match arg {
                        Some(a) => format!("`{mname}` on {} with {}", name(recv), name(a)),
                        None => format!("`{mname}` on {}", name(recv)),
                    })
                };
                let str_ty = Some(Scalar::Str);
                match (m, recv.base, arg.map(|a| a.base)) {
                    (method::STARTS_WITH | method::ENDS_WITH | method::STR_CONTAINS, _, _)
                        if recv.as_scalar() == str_ty && arg.and_then(Ty::as_scalar) == str_ty =>
                    {
                        Ty::BOOL
                    }
                    (method::CONTAINS, Base::Set(e), Some(Base::Scalar(x)))
                        if e.is_none_or(|e| self.unify(e, x).is_some()) =>
                    {
                        Ty::BOOL
                    }
                    (
                        method::CONTAINS_ANY | method::CONTAINS_ALL,
                        Base::Set(e),
                        Some(Base::Set(f)),
                    ) if match (e, f) {
                        (Some(e), Some(f)) => self.unify(e, f).is_some(),
                        _ => true,
                    } =>
                    {
                        Ty::BOOL
                    }
                    (method::IS_EMPTY, Base::Set(_), None) => Ty::BOOL,
                    (method::LEN, Base::Set(_), None) => Ty::INT.or_absent(recv.opt),
                    _ => return bad(),
                }
            }
            Instr::Has {} => {
                pop(st)?;
                Ty::BOOL
            }
            Instr::JumpIfFalseOrPop { .. } | Instr::JumpIfTrueOrPop { .. } => {
                let taken = st.clone();
                let t = pop(st)?;
                if t != Ty::BOOL {
                    return Err(format!(
                        "`{mnemonic}` needs a present `Bool`, not {}",
                        name(t)
                    ));
                }
                return Ok(Some(taken));
            }
            Instr::JumpIfPresentOrPop { .. } => {
                let mut taken = st.clone();
                if let Some(top) = taken.stack.last_mut() {
                    top.opt = false;
                }
                pop(st)?;
                return Ok(Some(taken));
            }
            Instr::Ret {} => return Err("`Ret` in the middle of a block".into()),
        };
        st.stack.push(pushed);
        Ok(None)
    }

    /// Whether `a <op> b` compares values of one type: equality on any
    /// scalar or set type, order on `Int`, `Time`, `Duration` or
    /// `Decimal`. Either
    /// side may be absent (the comparison is then false).
    fn comparable(&self, op: CmpOp, a: Ty, b: Ty) -> Result<(), String> {
        let mismatch = || format!("compares {} with {}", self.ty_name(a), self.ty_name(b));
        let common = match (a.base, b.base) {
            (Base::Rec(_), _) | (_, Base::Rec(_)) => return Err(mismatch()),
            _ => self.unify_ty(a, b).ok_or_else(mismatch)?,
        };
        if op == cmp::EQ || op == cmp::NE {
            return Ok(());
        }
        match common.base {
            Base::Scalar(Scalar::Int | Scalar::Time | Scalar::Dur | Scalar::Dec) => Ok(()),
            _ => Err(format!(
                "orders {}, which only `Int`, `Time`, `Duration` and `Decimal` allow",
                self.ty_name(common)
            )),
        }
    }

    /// Whether record `r` is a time window: `Time` fields at offsets 1 and
    /// 2, which `In` reads as its start and end.
    fn is_window(&self, r: u32) -> bool {
        [1, 2].iter().all(|off| {
            self.field_at(r, *off)
                .is_some_and(|f| f.ty == TypeDesc::Time)
        })
    }

    /// The field of record `r` at offset `off` (a record's fields are
    /// verified to be in ascending offsets).
    fn field_at(&self, r: u32, off: u32) -> Option<&FieldLayout> {
        let fields = &self.schema.records.get(r as usize)?.fields;
        let i = fields.binary_search_by_key(&off, |f| f.slot).ok()?;
        fields.get(i)
    }
}

/// Most stack entries and locals held for jump targets not yet reached
/// while a block is verified.
const MAX_PENDING: usize = 1 << 22;

/// The abstract state before an instruction: the type of each stack entry
/// (bottom first) and of each local (`None` when unset; locals past the
/// end are unset).
#[derive(Clone, Debug)]
struct State {
    stack: Vec<Ty>,
    locals: Vec<Option<Ty>>,
}

impl State {
    fn pop(&mut self) -> Option<Ty> {
        self.stack.pop()
    }

    /// Entries held, for the analysis' bounds.
    fn size(&self) -> usize {
        1 + self.stack.len() + self.locals.len()
    }
}

/// Slots a type occupies, checking its references.
fn type_size(
    t: &TypeDesc,
    records: &[RecordLayout],
    enums: &[(u32, Vec<u32>)],
    below: u32,
    depth: u32,
) -> Result<u32, BundleError> {
    if depth > MAX_TYPE_DEPTH {
        return err("type nested too deeply");
    }
    match t {
        TypeDesc::Enum(e) if *e as usize >= enums.len() => err("enum out of range"),
        TypeDesc::Record(r) => {
            if *r >= below {
                return err("record layout refers to itself or a later record");
            }
            match records.get(*r as usize) {
                Some(r) => Ok(r.size),
                None => err("record out of range"),
            }
        }
        TypeDesc::Optional(inner) => type_size(inner, records, enums, below, depth + 1),
        TypeDesc::Set(inner) => match **inner {
            TypeDesc::Set(_) | TypeDesc::Optional(_) | TypeDesc::Record(_) => {
                err("unsupported set element type")
            }
            _ => type_size(inner, records, enums, below, depth + 1).map(|_| 1),
        },
        _ => Ok(1),
    }
}
