//! Structural verification: every internal reference of a decoded or
//! assembled bundle is checked before anything evaluates it.

// On the decision path: no indexing or slicing that could panic, no
// explicit panics (checked access, errors or documented defaults instead).
#![deny(clippy::indexing_slicing, clippy::panic)]

use super::*;
use crate::bytecode::{cmp, method, Instr};
use crate::val::{Arena, SetRef, Val};
use crate::value::Cidr;

impl Image {
    /// Checks every internal reference. Every way to make a
    /// [`Bundle`] (loading, or the compiler's `Bundle::from_image`) calls it.
    pub(crate) fn verify(&self) -> Result<(), BundleError> {
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
                self.verify_block(b).map_err(|e| {
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

    /// Checks one block: operands in range, jumps forward and inside, stack
    /// heights consistent, within limits, and exactly one value at `Ret`.
    fn verify_block(&self, b: &Block) -> Result<(), BundleError> {
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
        // The stack height on entry to each instruction, once known; the
        // entry of the block has an empty stack.
        let mut height: Vec<Option<u32>> = std::iter::once(Some(0))
            .chain(std::iter::repeat_n(None, code.len()))
            .collect();
        let nconst = self.consts.len() as u32;
        let nslot = self.schema.slot_count;
        for (pc, instr) in code.iter().enumerate() {
            let Some(h) = height.get(pc).copied().flatten() else {
                return err(format!("unreachable instruction at {}", start + pc));
            };
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
                return err(format!("operand out of range at {}", start + pc));
            }
            let (pop, push) = instr.stack_effect();
            let Some(after) = h.checked_sub(pop) else {
                return err(format!("stack underflow at {}", start + pc));
            };
            if let Instr::Ret {} = instr {
                if h != 1 {
                    return err(format!(
                        "`Ret` with {h} values on the stack at {}",
                        start + pc
                    ));
                }
                if pc + 1 != code.len() {
                    // an early return would leave later code unreachable
                    return err(format!("`Ret` before the end of a block at {}", start + pc));
                }
                continue;
            }
            let next = after.saturating_add(push);
            if next > self.max_stack {
                return err(format!("stack deeper than declared at {}", start + pc));
            }
            let mut flow = |target: usize, h: u32| -> Result<(), BundleError> {
                // The last instruction is `Ret`: jumps may land on it but not past it.
                if target >= code.len() {
                    return err(format!("jump out of its block at {}", start + pc));
                }
                match height.get_mut(target) {
                    None => err(format!("jump out of its block at {}", start + pc)),
                    Some(slot @ None) => {
                        *slot = Some(h);
                        Ok(())
                    }
                    Some(Some(existing)) if *existing == h => Ok(()),
                    Some(Some(_)) => {
                        err(format!("inconsistent stack height at {}", start + target))
                    }
                }
            };
            flow(pc + 1, next)?;
            if let Some(off) = instr.jump() {
                let target = pc + 1 + off.index();
                flow(target, h)?;
            }
        }
        Ok(())
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
